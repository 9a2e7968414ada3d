/*
 * airlock-cert sign CSR (hub, the admin path of an edge's rotation): checks
 * the CSR, issues its certificate with the CA, and trusts the edge's next
 * attestation public key when the CSR file carries one (the line
 * "airlock-attest-ed25519 ..." that rotate --csr-out appends). The new key
 * goes next to the old one (TRUSTED/ID.KEYID.pub), so the hub accepts both
 * during the switch.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

/* The attestation line of a CSR file, or NULL. Points into text. */
static const char *attest_line(const char *text, size_t *len)
{
	const char *tag = "\nairlock-attest-ed25519 ";
	const char *s = strstr(text, tag);
	if (!s)
		return NULL;
	s++;
	*len = strcspn(s, "\n") + 1;
	return s;
}

int acert_cmd_sign(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], path[ACERT_PATH_MAX], id[ACERT_ID_MAX + 1];
	if (!o->arg)
		return fail("sign needs CSR (a file written by airlock-cert rotate --csr-out)");
	int rc = 1;
	char *csr_text = NULL, *cakey_pem = NULL, *ca_pem = NULL, *cert_pem = NULL;
	size_t csr_len = 0, cakey_len = 0, ca_len = 0, cert_len = 0;
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL, *cert = NULL;
	X509_REQ *req = NULL;
	if (acert_read_text(o->arg, &csr_text, &csr_len, err, sizeof(err)) != 0 ||
	    !(req = acert_csr_from_pem(csr_text, csr_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	acert_path(o, ACERT_F_CA_KEY, path);
	if (acert_read_text(path, &cakey_pem, &cakey_len, err, sizeof(err)) != 0 ||
	    !(cakey = acert_key_from_pem(cakey_pem, cakey_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	acert_path(o, ACERT_F_CA_CERT, path);
	if (acert_read_text(path, &ca_pem, &ca_len, err, sizeof(err)) != 0 ||
	    !(ca = acert_cert_from_pem(ca_pem, ca_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (!(cert = acert_csr_sign(ca, cakey, req, o->days, id, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (acert_pathf(path, "%s/%s.pub", o->trusted_dir, id) != 0) {
		fail("trusted directory path too long");
		goto out;
	}
	if (!acert_exists(path) && !o->force) {
		snprintf(err, sizeof(err), "%s is not a paired edge (no %s; --force signs anyway)",
			 id, path);
		fail(err);
		goto out;
	}
	size_t alen = 0;
	const char *aline = attest_line(csr_text, &alen);
	char kid[ACERT_ATTEST_KEYID_LEN + 1];
	if (aline) {
		if (aline[alen - 1] != '\n' || acert_attest_pub_id(aline, alen, kid) != 0) {
			fail("the CSR file's attestation key line is malformed");
			goto out;
		}
		snprintf(err, sizeof(err), "trusted directory path too long");
		snprintf(err, sizeof(err), "trusted directory path too long");
		if (acert_pathf(path, "%s/%s.%s.pub", o->trusted_dir, id, kid) != 0 ||
		    acert_write_file(path, aline, alen, 0644, err, sizeof(err)) != 0) {
			fail(err);
			goto out;
		}
		fprintf(stderr, "airlock-cert: trusting %s's next attestation key %s (%s)\n", id,
			kid, path);
	}
	if (!(cert_pem = acert_cert_pem(cert, &cert_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (o->out_file) {
		if (acert_write_file(o->out_file, cert_pem, cert_len, 0644, err, sizeof(err)) !=
		    0) {
			fail(err);
			goto out;
		}
	} else {
		fputs(cert_pem, stdout);
	}
	char serial[128];
	acert_cert_serial(cert, serial, sizeof(serial));
	fprintf(stderr, "airlock-cert: signed %s, serial %s, %d days\n", id, serial, o->days);
	rc = 0;
out:
	free(csr_text);
	acert_free_secret(cakey_pem, cakey_len);
	free(ca_pem);
	free(cert_pem);
	EVP_PKEY_free(cakey);
	X509_free(ca);
	X509_free(cert);
	X509_REQ_free(req);
	return rc;
}
