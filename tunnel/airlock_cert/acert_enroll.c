/*
 * Opening, checking and installing an enrollment bundle (see acert_enroll.h).
 */
#include "tunnel/airlock_cert/acert_enroll.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_attest.h"
#include "tunnel/airlock_cert/acert_params.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int entry_text(const struct cert_bundle *b, const char *name, const char **text, size_t *len,
		      char *err, size_t errlen)
{
	const struct cert_bundle_entry *e = cert_bundle_find(b, name);
	if (!e)
		return errmsg_set(err, errlen, "bundle has no %s", name);
	if (memchr(e->data, '\0', e->len))
		return errmsg_set(err, errlen, "bundle entry %s is not text", name);
	*text = (const char *)e->data;
	*len = e->len;
	return 0;
}

static int check_contents(const struct cert_bundle *b, struct acert_conn *conn, int64_t now,
			  char *err, size_t errlen)
{
	const char *missing = cert_bundle_missing(b);
	if (missing)
		return errmsg_set(err, errlen, "bundle has no %s", missing);
	const char *t;
	size_t n;
	char why[256];
	int rc = -1;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	struct acert_params *p = malloc(sizeof(*p));
	if (!p)
		return errmsg_set(err, errlen, "out of memory");

	if (entry_text(b, CERT_BUNDLE_EDGE_KEY, &t, &n, err, errlen) != 0)
		goto out;
	if (!(key = acert_key_from_pem(t, n, why, sizeof(why)))) {
		errmsg_set(err, errlen, "bundle's edge key: %s", why);
		goto out;
	}
	if (entry_text(b, CERT_BUNDLE_EDGE_CERT, &t, &n, err, errlen) != 0)
		goto out;
	if (!(cert = acert_cert_from_pem(t, n, why, sizeof(why)))) {
		errmsg_set(err, errlen, "bundle's edge certificate: %s", why);
		goto out;
	}
	if (entry_text(b, CERT_BUNDLE_CA_CERT, &t, &n, err, errlen) != 0)
		goto out;
	if (!(ca = acert_cert_from_pem(t, n, why, sizeof(why)))) {
		errmsg_set(err, errlen, "bundle's CA certificate: %s", why);
		goto out;
	}
	if (!acert_cert_matches_key(cert, key)) {
		errmsg_set(err, errlen, "bundle's edge key does not match its certificate");
		goto out;
	}
	if (acert_verify(ca, cert, (time_t)now, why, sizeof(why)) != 0) {
		errmsg_set(err, errlen, "bundle's edge %s", why);
		goto out;
	}
	char id[ACERT_ID_MAX + 1];
	const char *edge = cert_bundle_meta(b)->edge_name;
	if (acert_cert_identity(cert, id, sizeof(id)) != 0 || strcmp(id, edge) != 0) {
		errmsg_set(err, errlen, "bundle's edge certificate is not for %s", edge);
		goto out;
	}
	if (entry_text(b, ACERT_ENTRY_CONN, &t, &n, err, errlen) != 0)
		goto out;
	if (acert_params_parse(t, n, p, why, sizeof(why)) != 0 ||
	    acert_conn_from_params(p, conn, why, sizeof(why)) != 0) {
		errmsg_set(err, errlen, "bundle's %s: %s", ACERT_ENTRY_CONN, why);
		goto out;
	}
	if (strcmp(conn->local_id, edge) != 0 ||
	    strcmp(conn->remote_id, cert_bundle_meta(b)->hub_id) != 0) {
		errmsg_set(err, errlen, "bundle's connection does not join %s to %s", edge,
			   cert_bundle_meta(b)->hub_id);
		goto out;
	}
	char kid[ACERT_ATTEST_KEYID_LEN + 1];
	if (entry_text(b, CERT_BUNDLE_ATTEST_PUB, &t, &n, err, errlen) != 0)
		goto out;
	if (acert_attest_pub_id(t, n, kid) != 0) {
		errmsg_set(err, errlen, "bundle's attest.pub is not an attestation public key");
		goto out;
	}
	rc = 0;
out:
	free(p);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return rc;
}

int acert_enroll_open(const char *path, const char *passphrase, int64_t now,
		      const struct cert_bundle_open_opts *opts, struct cert_bundle **out,
		      struct acert_conn *conn, char *err, size_t errlen)
{
	unsigned char *sealed;
	size_t len;
	*out = NULL;
	if (acert_read_file(path, CERT_BUNDLE_SEALED_MAX, &sealed, &len, err, errlen) != 0)
		return -1;
	struct cert_bundle_open_opts o;
	if (opts)
		o = *opts;
	else
		cert_bundle_open_opts_init(&o, now);
	char canon[CERT_BUNDLE_PASSPHRASE_LEN + 1];
	const char *pass = passphrase;
	if (cert_bundle_passphrase_canon(passphrase, canon) == 0)
		pass = canon;
	struct cert_bundle *b = NULL;
	enum cert_bundle_status st = cert_bundle_open(sealed, len, pass, &o, &b, err, errlen);
	sodium_memzero(canon, sizeof(canon));
	free(sealed);
	if (st != CERT_BUNDLE_OK)
		return -1;
	if (check_contents(b, conn, now, err, errlen) != 0) {
		cert_bundle_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

static int stage_entry(struct acert_stage *st, const struct cert_bundle *b, const char *name,
		       const char *path, mode_t mode, char *err, size_t errlen)
{
	const struct cert_bundle_entry *e = cert_bundle_find(b, name);
	if (!e)
		return errmsg_set(err, errlen, "bundle has no %s", name);
	return acert_stage_add(st, path, e->data, e->len, mode, err, errlen);
}

int acert_enroll_install(const struct cert_bundle *b, const struct acert_opts *o, char *err,
			 size_t errlen)
{
	char key[ACERT_PATH_MAX], cert[ACERT_PATH_MAX], ca[ACERT_PATH_MAX], params[ACERT_PATH_MAX],
		akey[ACERT_PATH_MAX], apub[ACERT_PATH_MAX], addrs[ACERT_PATH_MAX];
	acert_path(o, ACERT_F_KEY, key);
	acert_path(o, ACERT_F_CERT, cert);
	acert_path(o, ACERT_F_CA, ca);
	acert_path(o, ACERT_F_PARAMS, params);
	acert_path(o, ACERT_F_ATTEST_KEY, akey);
	acert_path(o, ACERT_F_ATTEST_PUB, apub);
	if (acert_pathf(addrs, "%s/hub.addrs", o->state_dir) != 0)
		return errmsg_set(err, errlen, "state directory path too long");

	const struct cert_bundle_entry *ce = cert_bundle_find(b, ACERT_ENTRY_CONN);
	if (!ce)
		return errmsg_set(err, errlen, "bundle has no %s", ACERT_ENTRY_CONN);
	/* The role file: the bundle's connection parameters plus role=edge. */
	size_t plen = ce->len + 16;
	char *ptext = malloc(plen);
	if (!ptext)
		return errmsg_set(err, errlen, "out of memory");
	int n = snprintf(ptext, plen, "role=edge\n%.*s", (int)ce->len, (const char *)ce->data);

	/* The airlock.conf fragment names the state directory the attestation key goes to
	 * here: the hub that made the bundle cannot know it (--state-dir). */
	char *frag = NULL;
	struct acert_params *p = malloc(sizeof(*p));
	struct acert_conn c;
	char why[256];
	if (p && acert_params_parse((const char *)ce->data, ce->len, p, why, sizeof(why)) == 0 &&
	    acert_conn_from_params(p, &c, why, sizeof(why)) == 0)
		frag = acert_frag_airlock_edge(&c, o->state_dir);
	free(p);
	if (!frag) {
		free(ptext);
		return errmsg_set(err, errlen, "bundle's %s: cannot make the airlock.conf fragment",
				  ACERT_ENTRY_CONN);
	}

	struct acert_stage *st = acert_stage_new();
	int rc = -1;
	if (!st) {
		errmsg_set(err, errlen, "out of memory");
	} else if (stage_entry(st, b, CERT_BUNDLE_EDGE_KEY, key, 0600, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_EDGE_CERT, cert, 0644, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_CA_CERT, ca, 0644, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_ATTEST_KEY, akey, 0600, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_ATTEST_PUB, apub, 0644, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_HUB_ADDRS, addrs, 0644, err, errlen) == 0 &&
		   stage_entry(st, b, CERT_BUNDLE_SWANCTL, o->conn_file, 0644, err, errlen) == 0 &&
		   stage_entry(st, b, ACERT_ENTRY_STRONGSWAN, o->strongswan_conf, 0644, err,
			       errlen) == 0 &&
		   acert_stage_add(st, o->airlock_conf, frag, strlen(frag), 0644, err, errlen) ==
			   0 &&
		   acert_stage_add(st, params, ptext, (size_t)n, 0644, err, errlen) == 0) {
		rc = acert_stage_commit(st, err, errlen);
	}
	acert_stage_free(st);
	free(ptext);
	free(frag);
	return rc;
}
