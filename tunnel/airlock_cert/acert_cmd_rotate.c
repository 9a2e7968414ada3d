/*
 * airlock-cert rotate: a new key and certificate for this host, put in use
 * by acert_rotate_run() (make-before-break reauthentication, verification,
 * rollback). The hub signs its own certificate. An edge needs the hub's
 * signature, by the admin path in two steps:
 *
 *	edge$ airlock-cert rotate --csr-out edge.csr     (new key and attestation
 *	                                                  key wait in STATE/cert-pending)
 *	hub$  airlock-cert sign edge.csr -o edge.crt
 *	edge$ airlock-cert rotate --install-cert edge.crt
 *
 * A plain "rotate" on an edge installs STATE/cert-pending/airlock.crt if an
 * admin put the signed certificate there; otherwise it writes the CSR there
 * and asks the hub's signing service through the tunnel (the automatic path,
 * acert_serve.c; --no-hub skips it), and if that fails exits
 * ACERT_EXIT_PENDING for the admin path. The files are replaced only after charon
 * verified the new IKE_SA; the old ones stay in STATE/cert-rollback/TIME/.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_attest.h"
#include "tunnel/airlock_cert/acert_rotate.h"
#include "tunnel/airlock_cert/acert_vici.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

/* Copies what a rotation replaces into STATE/cert-rollback/TIME/. */
static int backup(const struct acert_opts *o, int edge, char *dir, char *err, size_t errlen)
{
	if (acert_pathf(dir, "%s/cert-rollback/%lld", o->state_dir, (long long)time(NULL)) != 0)
		return errmsg_set(err, errlen, "state directory path too long");
	const enum acert_file files[] = {ACERT_F_KEY, ACERT_F_CERT, ACERT_F_ATTEST_KEY,
					 ACERT_F_ATTEST_PUB};
	const char *names[] = {"airlock.key", "airlock.crt", "attest.key", "attest.pub"};
	for (size_t i = 0; i < (edge ? 4u : 2u); i++) {
		char src[ACERT_PATH_MAX], dst[ACERT_PATH_MAX];
		acert_path(o, files[i], src);
		if (!acert_exists(src))
			continue;
		if (acert_pathf(dst, "%s/%s", dir, names[i]) != 0)
			return errmsg_set(err, errlen, "state directory path too long");
		if (acert_copy_file(src, dst, 0600, err, errlen) != 0)
			return -1;
	}
	return 0;
}

struct rotation {
	const struct acert_conn *conn;
	const char *new_key_pem, *new_cert_pem;
	size_t new_key_len, new_cert_len;
	const char *attest_key, *attest_pub; /* edge: the next attestation pair, or NULL */
	int initiator;
};

static int run(const struct acert_opts *o, const struct rotation *r, X509 *new_cert)
{
	char err[ACERT_ERR_MAX], dir[ACERT_PATH_MAX], p_key[ACERT_PATH_MAX], p_cert[ACERT_PATH_MAX];
	char *old_key = NULL;
	size_t old_len = 0;
	acert_path(o, ACERT_F_KEY, p_key);
	acert_path(o, ACERT_F_CERT, p_cert);
	if (acert_read_text(p_key, &old_key, &old_len, err, sizeof(err)) != 0)
		return fail(err);
	struct acert_stage *st = acert_stage_new();
	int rc = 1;
	if (!st) {
		fail("out of memory");
		goto out;
	}
	if (acert_stage_add(st, p_key, r->new_key_pem, r->new_key_len, 0600, err, sizeof(err)) ||
	    acert_stage_add(st, p_cert, r->new_cert_pem, r->new_cert_len, 0644, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (r->attest_key) {
		char ak[ACERT_PATH_MAX], ap[ACERT_PATH_MAX];
		acert_path(o, ACERT_F_ATTEST_KEY, ak);
		acert_path(o, ACERT_F_ATTEST_PUB, ap);
		if (acert_stage_add(st, ak, r->attest_key, strlen(r->attest_key), 0600, err,
				    sizeof(err)) ||
		    acert_stage_add(st, ap, r->attest_pub, strlen(r->attest_pub), 0644, err,
				    sizeof(err))) {
			fail(err);
			goto out;
		}
	}
	if (backup(o, r->attest_key != NULL, dir, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	char serial[128];
	acert_cert_serial(new_cert, serial, sizeof(serial));
	struct acert_vici *v = acert_vici_open(o->vici, o->timeout_s * 1000, 1, err, sizeof(err));
	if (!v) {
		fail(err);
		goto out;
	}
	struct acert_rotate_plan plan = {
		.conn = r->conn->name,
		.child = r->conn->child,
		.old_key_pem = old_key,
		.new_key_pem = r->new_key_pem,
		.new_cert_pem = r->new_cert_pem,
		.new_serial = serial,
		.timeout_ms = o->timeout_s * 1000,
		.initiator = r->initiator,
	};
	struct acert_rotate_outcome res;
	enum acert_rotate_result rr = acert_rotate_run(acert_charon_vici(), v, &plan, &res);
	acert_vici_free(v);
	switch (rr) {
	case ACERT_ROTATE_OK:
		if (acert_stage_commit(st, err, sizeof(err)) != 0) {
			fprintf(stderr,
				"airlock-cert: charon uses the new certificate, but writing "
				"it failed: %s (old files in %s)\n",
				err, dir);
			goto out;
		}
		printf("rotated: certificate serial %s in use, IKE_SA #%llu replaced by #%llu%s; "
		       "old files in %s\n",
		       serial, (unsigned long long)res.old_ike_id,
		       (unsigned long long)res.new_ike_id,
		       res.old_gone ? " (the old one deleted after the new one was up)" : "", dir);
		rc = 0;
		break;
	case ACERT_ROTATE_NO_SA:
		fprintf(stderr, "airlock-cert: not rotated: %s\n", res.error);
		break;
	case ACERT_ROTATE_ROLLED_BACK:
		fprintf(stderr,
			"airlock-cert: rotation failed and was rolled back (the old certificate "
			"stays in use): %s\n",
			res.error);
		break;
	case ACERT_ROTATE_ROLLBACK_FAILED:
		fprintf(stderr, "airlock-cert: rotation failed and so did the rollback: %s\n",
			res.error);
		break;
	}
out:
	acert_stage_free(st);
	acert_free_secret(old_key, old_len);
	return rc;
}

static int rotate_hub(const struct acert_opts *o, const struct acert_conn *c)
{
	char err[ACERT_ERR_MAX];
	int rc = 1;
	char *key_pem = NULL, *cert_pem = NULL;
	size_t key_len = 0, cert_len = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	if (acert_ca_issue(o, c->local_id, &key, &cert, &key_pem, &key_len, &cert_pem, &cert_len,
			   err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	struct rotation r = {.conn = c,
			     .new_key_pem = key_pem,
			     .new_key_len = key_len,
			     .new_cert_pem = cert_pem,
			     .new_cert_len = cert_len};
	rc = run(o, &r, cert);
out:
	acert_free_secret(key_pem, key_len);
	free(cert_pem);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* Pending key and attestation pair: reused if present, else made. */
static int make_csr(const struct acert_opts *o, const struct acert_conn *c, const char *out_path)
{
	char err[ACERT_ERR_MAX], pk[ACERT_PATH_MAX], ak[ACERT_PATH_MAX], ap[ACERT_PATH_MAX];
	acert_path(o, ACERT_F_PENDING_KEY, pk);
	acert_path(o, ACERT_F_PENDING_ATTEST_KEY, ak);
	acert_path(o, ACERT_F_PENDING_ATTEST_PUB, ap);
	int rc = 1;
	char *key_pem = NULL, *pub = NULL, *csr_pem = NULL;
	size_t key_len = 0, pub_len = 0, csr_len = 0;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	struct acert_attest at;
	memset(&at, 0, sizeof(at));
	if (!acert_exists(pk) || !acert_exists(ap)) {
		if (!(key = acert_key_new(err, sizeof(err))) ||
		    !(key_pem = acert_key_pem(key, &key_len, err, sizeof(err))) ||
		    acert_attest_new(&at) != 0) {
			fail(err);
			goto out;
		}
		struct acert_stage *st = acert_stage_new();
		if (!st || acert_stage_add(st, pk, key_pem, key_len, 0600, err, sizeof(err)) ||
		    acert_stage_add(st, ak, at.secret_line, strlen(at.secret_line), 0600, err,
				    sizeof(err)) ||
		    acert_stage_add(st, ap, at.public_line, strlen(at.public_line), 0644, err,
				    sizeof(err)) ||
		    acert_stage_commit(st, err, sizeof(err))) {
			acert_stage_free(st);
			fail(err);
			goto out;
		}
		acert_stage_free(st);
	} else if (acert_read_text(pk, &key_pem, &key_len, err, sizeof(err)) ||
		   !(key = acert_key_from_pem(key_pem, key_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (acert_read_text(ap, &pub, &pub_len, err, sizeof(err)) ||
	    !(req = acert_csr_new(key, c->local_id, err, sizeof(err))) ||
	    !(csr_pem = acert_csr_pem(req, &csr_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	size_t tlen = csr_len + pub_len;
	char *text = malloc(tlen + 1);
	if (!text) {
		fail("out of memory");
		goto out;
	}
	memcpy(text, csr_pem, csr_len);
	memcpy(text + csr_len, pub, pub_len);
	int w = acert_write_file(out_path, text, tlen, 0644, err, sizeof(err));
	free(text);
	if (w != 0) {
		fail(err);
		goto out;
	}
	rc = 0;
out:
	acert_attest_wipe(&at);
	acert_free_secret(key_pem, key_len);
	free(pub);
	free(csr_pem);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return rc;
}

static int install_cert(const struct acert_opts *o, const struct acert_conn *c,
			const char *cert_path)
{
	char err[ACERT_ERR_MAX], pk[ACERT_PATH_MAX], ak[ACERT_PATH_MAX], ap[ACERT_PATH_MAX],
		ca_path[ACERT_PATH_MAX], id[ACERT_ID_MAX + 1];
	acert_path(o, ACERT_F_PENDING_KEY, pk);
	acert_path(o, ACERT_F_PENDING_ATTEST_KEY, ak);
	acert_path(o, ACERT_F_PENDING_ATTEST_PUB, ap);
	acert_path(o, ACERT_F_CA, ca_path);
	int rc = 1;
	char *key_pem = NULL, *cert_pem = NULL, *ca_pem = NULL, *akey = NULL, *apub = NULL;
	size_t key_len = 0, cert_len = 0, ca_len = 0, akey_len = 0, apub_len = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	if (acert_read_text(pk, &key_pem, &key_len, err, sizeof(err)) ||
	    !(key = acert_key_from_pem(key_pem, key_len, err, sizeof(err))) ||
	    acert_read_text(cert_path, &cert_pem, &cert_len, err, sizeof(err)) ||
	    !(cert = acert_cert_from_pem(cert_pem, cert_len, err, sizeof(err))) ||
	    acert_read_text(ca_path, &ca_pem, &ca_len, err, sizeof(err)) ||
	    !(ca = acert_cert_from_pem(ca_pem, ca_len, err, sizeof(err))) ||
	    acert_read_text(ak, &akey, &akey_len, err, sizeof(err)) ||
	    acert_read_text(ap, &apub, &apub_len, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (!acert_cert_matches_key(cert, key)) {
		fail("the certificate is not for the pending key (was it signed from this host's "
		     "latest CSR?)");
		goto out;
	}
	if (acert_cert_identity(cert, id, sizeof(id)) != 0 || strcmp(id, c->local_id) != 0) {
		fail("the certificate is not for this host's identity");
		goto out;
	}
	if (acert_verify(ca, cert, time(NULL), err, sizeof(err)) != 0) {
		if (!o->force) {
			fail(err);
			goto out;
		}
		fprintf(stderr, "airlock-cert: warning: %s (--force: trying anyway)\n", err);
	}
	struct rotation r = {.conn = c,
			     .new_key_pem = key_pem,
			     .new_key_len = key_len,
			     .new_cert_pem = cert_pem,
			     .new_cert_len = cert_len,
			     .attest_key = akey,
			     .attest_pub = apub,
			     .initiator = 1};
	rc = run(o, &r, cert);
	if (rc == 0) {
		char p[ACERT_PATH_MAX];
		unlink(pk);
		unlink(ak);
		unlink(ap);
		acert_path(o, ACERT_F_PENDING_CSR, p);
		unlink(p);
		acert_path(o, ACERT_F_PENDING_CERT, p);
		unlink(p);
	}
out:
	acert_free_secret(key_pem, key_len);
	acert_free_secret(akey, akey_len);
	free(cert_pem);
	free(ca_pem);
	free(apub);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return rc;
}

int acert_cmd_rotate(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], role[16], path[ACERT_PATH_MAX];
	struct acert_conn c;
	if (acert_load_role(o, role, sizeof(role), &c, err, sizeof(err)) != 0)
		return fail(err);
	int hub = strcmp(role, "hub") == 0;
	if (hub && (o->csr_out || o->install_cert))
		return fail("--csr-out and --install-cert are for an edge; the hub signs its own");
	if (!o->csr_out && !o->install_cert && o->if_expiring_days >= 0) {
		char *pem;
		size_t len;
		X509 *cert;
		acert_path(o, ACERT_F_CERT, path);
		if (acert_read_text(path, &pem, &len, err, sizeof(err)) != 0)
			return fail(err);
		cert = acert_cert_from_pem(pem, len, err, sizeof(err));
		free(pem);
		if (!cert)
			return fail(err);
		long days = acert_cert_days_left(cert, time(NULL));
		X509_free(cert);
		if (days > o->if_expiring_days) {
			printf("certificate valid for %ld more days: not rotating (threshold %d)\n",
			       days, o->if_expiring_days);
			return 0;
		}
		fprintf(stderr, "airlock-cert: certificate expires in %ld days: rotating\n", days);
	}
	if (hub)
		return rotate_hub(o, &c);
	if (o->csr_out) {
		if (make_csr(o, &c, o->csr_out) != 0)
			return 1;
		printf("CSR for %s written to %s: have the hub sign it (airlock-cert sign), then "
		       "run "
		       "airlock-cert rotate --install-cert CERT\n",
		       c.local_id, o->csr_out);
		return 0;
	}
	if (o->install_cert)
		return install_cert(o, &c, o->install_cert);
	acert_path(o, ACERT_F_PENDING_CERT, path);
	if (acert_exists(path))
		return install_cert(o, &c, path);
	char csr[ACERT_PATH_MAX];
	acert_path(o, ACERT_F_PENDING_CSR, csr);
	if (make_csr(o, &c, csr) != 0)
		return 1;
	if (!o->no_hub) {
		/* The automatic path: the hub's signing service, through the tunnel. */
		char *text = NULL, *cert = NULL;
		size_t len;
		if (acert_read_text(csr, &text, &len, err, sizeof(err)) == 0 &&
		    acert_request_via_hub(o, &c, text, len, &cert, err, sizeof(err)) == 0 &&
		    acert_write_file(path, cert, strlen(cert), 0644, err, sizeof(err)) == 0) {
			free(text);
			free(cert);
			fprintf(stderr, "airlock-cert: the hub signed the new certificate\n");
			return install_cert(o, &c, path);
		}
		free(text);
		free(cert);
		fprintf(stderr, "airlock-cert: automatic signing failed: %s\n", err);
	}
	fprintf(stderr,
		"airlock-cert: an edge's new certificate needs the hub's signature: CSR in %s; "
		"run airlock-cert sign on the hub and put the certificate at %s (or run rotate "
		"--install-cert CERT)\n",
		csr, path);
	return ACERT_EXIT_PENDING;
}
