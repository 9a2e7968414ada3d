/*
 * Issuing certificates from the hub's CA.
 *
 * airlock-cert issue ID --key-out FILE -o FILE: a new key and certificate for
 * an identity (a second hub, or the reference testbed's hosts), without a
 * bundle.
 *
 * airlock-cert sign CSR (hub, the admin path of an edge's rotation): checks
 * the CSR, issues its certificate with the CA, and trusts the edge's next
 * attestation public key when the CSR file carries one (the line
 * "airlock-attest-ed25519 ..." that rotate --csr-out appends). The new key
 * goes next to the old one (TRUSTED/ID.KEYID.pub), so the hub accepts both
 * during the switch.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_attest.h"
#include "tunnel/airlock_cert/acert_csr_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

int acert_sign_request(const struct acert_opts *o, const char *text, size_t len,
		       const char *required_id, char **cert_out, size_t *cert_len, char *id_out,
		       char *err, size_t errlen)
{
	char path[ACERT_PATH_MAX], why[ACERT_ERR_MAX];
	int rc = -1;
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL, *cert = NULL;
	struct acert_csr_request r;
	*cert_out = NULL;
	if (acert_csr_request_parse(text, len, &r, err, errlen) != 0)
		return -1;
	if (acert_ca_load(o, &cakey, &ca, err, errlen) != 0 ||
	    !(cert = acert_csr_sign(ca, cakey, r.req, o->days, id_out, err, errlen)))
		goto out;
	if (required_id && strcmp(required_id, id_out) != 0) {
		errmsg_set(err, errlen, "the CSR is for %s, but the requester authenticated as %s",
			   id_out, required_id);
		goto out;
	}
	if (acert_pathf(path, "%s/%s.pub", o->trusted_dir, id_out) != 0) {
		errmsg_set(err, errlen, "trusted directory path too long");
		goto out;
	}
	if (!acert_exists(path) && !o->force) {
		errmsg_set(err, errlen, "%s is not a paired edge (no %s; --force signs anyway)",
			   id_out, path);
		goto out;
	}
	if (r.attest_line[0]) {
		if (acert_pathf(path, "%s/%s.%s.pub", o->trusted_dir, id_out, r.attest_id) != 0) {
			errmsg_set(err, errlen, "trusted directory path too long");
			goto out;
		}
		if (acert_write_file(path, r.attest_line, strlen(r.attest_line), 0644, why,
				     sizeof(why)) != 0) {
			errmsg_set(err, errlen, "%s", why);
			goto out;
		}
		fprintf(stderr, "airlock-cert: trusting %s's next attestation key %s (%s)\n",
			id_out, r.attest_id, path);
	}
	if (!(*cert_out = acert_cert_pem(cert, cert_len, err, errlen)))
		goto out;
	char serial[128];
	acert_cert_serial(cert, serial, sizeof(serial));
	fprintf(stderr, "airlock-cert: signed %s, serial %s, %d days\n", id_out, serial, o->days);
	rc = 0;
out:
	acert_csr_request_clear(&r);
	EVP_PKEY_free(cakey);
	X509_free(ca);
	X509_free(cert);
	return rc;
}

int acert_cmd_sign(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], id[ACERT_ID_MAX + 1];
	if (!o->arg)
		return fail("sign needs CSR (a file written by airlock-cert rotate --csr-out)");
	char *text, *cert;
	size_t len, cert_len;
	if (acert_read_text(o->arg, &text, &len, err, sizeof(err)) != 0)
		return fail(err);
	int rc = acert_sign_request(o, text, len, NULL, &cert, &cert_len, id, err, sizeof(err));
	free(text);
	if (rc != 0)
		return fail(err);
	if (o->out_file)
		rc = acert_write_file(o->out_file, cert, cert_len, 0644, err, sizeof(err));
	else
		fputs(cert, stdout);
	free(cert);
	return rc == 0 ? 0 : fail(err);
}

int acert_cmd_issue(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX];
	if (!o->arg || !acert_id_valid(o->arg) || !o->key_out || !o->out_file)
		return fail("issue needs ID, --key-out FILE and -o FILE");
	int rc = 1;
	char *key_pem = NULL, *cert_pem = NULL;
	size_t key_len = 0, cert_len = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct acert_stage *st = NULL;
	if (acert_ca_issue(o, o->arg, &key, &cert, &key_pem, &key_len, &cert_pem, &cert_len, err,
			   sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	if (!o->force && (acert_exists(o->key_out) || acert_exists(o->out_file))) {
		fail("the key or certificate file exists (--force replaces them)");
		goto out;
	}
	snprintf(err, sizeof(err), "out of memory");
	if (!(st = acert_stage_new()) ||
	    acert_stage_add(st, o->key_out, key_pem, key_len, 0600, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, o->out_file, cert_pem, cert_len, 0644, err, sizeof(err)) != 0 ||
	    acert_stage_commit(st, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	char serial[128];
	acert_cert_serial(cert, serial, sizeof(serial));
	printf("issued %s: %s (serial %s, %d days), key %s\n", o->arg, o->out_file, serial, o->days,
	       o->key_out);
	rc = 0;
out:
	acert_stage_free(st);
	acert_free_secret(key_pem, key_len);
	free(cert_pem);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}
