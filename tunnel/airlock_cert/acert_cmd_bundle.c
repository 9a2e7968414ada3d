/*
 * airlock-cert bundle EDGE-NAME (hub): the edge's key and certificate, the
 * CA certificate, the hub's addresses, a new attestation key pair and the
 * edge's fragments, sealed with a one-time passphrase that is printed once.
 * The edge's attestation public key becomes trusted (TRUSTED/EDGE-NAME.pub).
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_attest.h"
#include "tunnel/airlock_cert/acert_enroll.h"
#include "tunnel/airlock_cert/acert_params.h"
#include "tunnel/cert_bundle.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

/* The passphrase from a file (first line) or a new one; gets owned (cert_bundle_passphrase_free).
 */
static char *get_passphrase(const struct acert_opts *o, char *err, size_t errlen)
{
	if (!o->passphrase_file)
		return cert_bundle_passphrase_new();
	char *text;
	size_t len;
	if (acert_read_text(o->passphrase_file, &text, &len, err, errlen) != 0)
		return NULL;
	text[strcspn(text, "\r\n")] = '\0';
	if (!text[0] || strlen(text) > CERT_BUNDLE_PASS_MAX) {
		snprintf(err, errlen, "%s: empty or over-long passphrase", o->passphrase_file);
		acert_free_secret(text, len);
		return NULL;
	}
	/* enroll reads a passphrase of the generated shape in canonical form: seal with the same.
	 */
	char canon[CERT_BUNDLE_PASSPHRASE_LEN + 1];
	char *pass = strdup(cert_bundle_passphrase_canon(text, canon) == 0 ? canon : text);
	sodium_memzero(canon, sizeof(canon));
	acert_free_secret(text, len);
	return pass;
}

int acert_cmd_bundle(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], path[ACERT_PATH_MAX], role[16];
	const char *edge = o->arg;
	if (!edge || !acert_id_valid(edge) || strlen(edge) > CERT_BUNDLE_EDGE_MAX)
		return fail("bundle needs EDGE-NAME, the edge's IKE identity (e.g. "
			    "edge.example.com)");
	if (!o->edge_ts[0])
		return fail("bundle needs --edge-ts, the edge's inner address (e.g. 192.0.2.1/32)");
	if (o->lifetime_h < 1 || o->lifetime_h > CERT_BUNDLE_LIFETIME_MAX / 3600)
		return fail("--lifetime must be 1..720 hours");
	struct acert_conn hub;
	if (acert_load_role(o, role, sizeof(role), &hub, err, sizeof(err)) != 0)
		return fail(err);
	if (strcmp(role, "hub") != 0)
		return fail("bundle runs on the hub (this host was enrolled as an edge)");

	struct acert_conn c;
	acert_conn_defaults(&c);
	snprintf(c.name, sizeof(c.name), "%s", hub.name);
	snprintf(c.child, sizeof(c.child), "%s", hub.child);
	snprintf(c.local_addrs, sizeof(c.local_addrs), "%s", o->edge_addr);
	snprintf(c.remote_addrs, sizeof(c.remote_addrs), "%s",
		 o->hub_addrs[0] ? o->hub_addrs : hub.local_addrs);
	snprintf(c.local_id, sizeof(c.local_id), "%s", edge);
	snprintf(c.remote_id, sizeof(c.remote_id), "%s", o->hub_id[0] ? o->hub_id : hub.local_id);
	snprintf(c.local_ts, sizeof(c.local_ts), "%s", o->edge_ts);
	snprintf(c.remote_ts, sizeof(c.remote_ts), "%s", hub.local_ts);
	snprintf(c.dpd_delay, sizeof(c.dpd_delay), "%s", o->dpd_delay);
	c.encap = hub.encap && !o->no_encap;
	if (strcmp(c.remote_addrs, "%any") == 0)
		return fail("bundle needs --hub-address (the hub listens on %any)");
	struct acert_params params = {0};
	if (acert_conn_to_params(&c, &params, err, sizeof(err)) != 0)
		return fail(err);

	int rc = 1;
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char *cakey_pem = NULL, *ca_pem = NULL, *key_pem = NULL, *cert_pem = NULL, *conn = NULL,
	     *frag = NULL, *ptext = NULL, *pass = NULL;
	size_t cakey_len = 0, ca_len = 0, key_len = 0, cert_len = 0, plen = 0, sealed_len = 0;
	unsigned char *sealed = NULL;
	struct cert_bundle *b = NULL;
	struct acert_attest at;
	memset(&at, 0, sizeof(at));

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
	if (!(key = acert_key_new(err, sizeof(err))) ||
	    !(cert = acert_cert_issue(ca, cakey, key, edge, o->days, err, sizeof(err))) ||
	    !(key_pem = acert_key_pem(key, &key_len, err, sizeof(err))) ||
	    !(cert_pem = acert_cert_pem(cert, &cert_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (acert_attest_new(&at) != 0 || !(conn = acert_frag_swanctl(&c)) ||
	    !(frag = acert_frag_airlock_edge(&c, "/var/lib/airlock")) ||
	    !(ptext = acert_params_format(&params, &plen))) {
		fail("out of memory");
		goto out;
	}
	char addrs[300];
	snprintf(addrs, sizeof(addrs), "%s\n", c.remote_addrs);
	for (char *s = addrs; *s; s++)
		if (*s == ',')
			*s = '\n';
	int64_t now = (int64_t)time(NULL) - (int64_t)o->backdate_h * 3600;
	struct cert_bundle_meta meta = {.created = now,
					.expires = now + (int64_t)o->lifetime_h * 3600};
	snprintf(meta.edge_name, sizeof(meta.edge_name), "%s", edge);
	snprintf(meta.hub_id, sizeof(meta.hub_id), "%s", c.remote_id);
	const char *ss = acert_frag_strongswan();
	if (!(b = cert_bundle_new(&meta, err, sizeof(err))) ||
	    cert_bundle_add(b, CERT_BUNDLE_EDGE_KEY, CERT_BUNDLE_SECRET, key_pem, key_len, err,
			    sizeof(err)) != 0 ||
	    cert_bundle_add(b, CERT_BUNDLE_EDGE_CERT, 0, cert_pem, cert_len, err, sizeof(err)) !=
		    0 ||
	    cert_bundle_add(b, CERT_BUNDLE_CA_CERT, 0, ca_pem, ca_len, err, sizeof(err)) != 0 ||
	    cert_bundle_add(b, CERT_BUNDLE_HUB_ADDRS, 0, addrs, strlen(addrs), err, sizeof(err)) !=
		    0 ||
	    cert_bundle_add(b, CERT_BUNDLE_ATTEST_KEY, CERT_BUNDLE_SECRET, at.secret_line,
			    strlen(at.secret_line), err, sizeof(err)) != 0 ||
	    cert_bundle_add(b, CERT_BUNDLE_ATTEST_PUB, 0, at.public_line, strlen(at.public_line),
			    err, sizeof(err)) != 0 ||
	    cert_bundle_add(b, CERT_BUNDLE_SWANCTL, 0, conn, strlen(conn), err, sizeof(err)) != 0 ||
	    cert_bundle_add(b, CERT_BUNDLE_AIRLOCK_CNF, 0, frag, strlen(frag), err, sizeof(err)) !=
		    0 ||
	    cert_bundle_add(b, ACERT_ENTRY_STRONGSWAN, 0, ss, strlen(ss), err, sizeof(err)) != 0 ||
	    cert_bundle_add(b, ACERT_ENTRY_CONN, 0, ptext, plen, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	if (!(pass = get_passphrase(o, err, sizeof(err)))) {
		fail(err[0] ? err : "out of memory");
		goto out;
	}
	if (cert_bundle_seal(b, pass, o->kdf, &sealed, &sealed_len, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	char out_path[ACERT_PATH_MAX], trusted[ACERT_PATH_MAX];
	int n1 = snprintf(out_path, sizeof(out_path), "%s", o->out_file ? o->out_file : "");
	if (!out_path[0])
		n1 = snprintf(out_path, sizeof(out_path), "%s.bundle", edge);
	int n2 = snprintf(trusted, sizeof(trusted), "%s/%s.pub", o->trusted_dir, edge);
	if (n1 < 0 || n1 >= (int)sizeof(out_path) || n2 < 0 || n2 >= (int)sizeof(trusted)) {
		fail("path too long");
		goto out;
	}
	if (acert_exists(out_path) && !o->force) {
		snprintf(err, sizeof(err), "%s exists (--force replaces it)", out_path);
		fail(err);
		goto out;
	}
	struct acert_stage *st = acert_stage_new();
	if (!st || acert_stage_add(st, out_path, sealed, sealed_len, 0600, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, trusted, at.public_line, strlen(at.public_line), 0644, err,
			    sizeof(err)) != 0 ||
	    acert_stage_commit(st, err, sizeof(err)) != 0) {
		acert_stage_free(st);
		fail(st ? err : "out of memory");
		goto out;
	}
	acert_stage_free(st);
	char serial[128];
	acert_cert_serial(cert, serial, sizeof(serial));
	printf("bundle for %s: %s (expires in %d h; certificate serial %s; attestation key %s "
	       "trusted in %s)\n",
	       edge, out_path, o->lifetime_h, serial, at.key_id, trusted);
	if (!o->passphrase_file)
		printf("one-time passphrase (shown once): %s\n", pass);
	rc = 0;
out:
	acert_attest_wipe(&at);
	cert_bundle_free(b);
	cert_bundle_passphrase_free(pass);
	free(sealed);
	acert_free_secret(cakey_pem, cakey_len);
	acert_free_secret(key_pem, key_len);
	free(ca_pem);
	free(cert_pem);
	free(conn);
	free(frag);
	free(ptext);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(cert);
	return rc;
}
