/*
 * airlock-cert init (hub): the private CA, the hub's key and certificate,
 * its swanctl connection, the strongswan.conf and airlock.conf fragments,
 * and the role file; then, unless --no-vici, loads them into charon.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_charon.h"
#include "tunnel/airlock_cert/acert_params.h"
#include "tunnel/airlock_cert/acert_vici.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

int acert_cmd_init(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], path[ACERT_PATH_MAX];
	if (!o->id[0] || !acert_id_valid(o->id))
		return fail(
			"init needs --id IDENTITY (the hub's IKE identity, e.g. hub.example.com)");
	if (!o->local_ts[0] || !o->remote_ts[0])
		return fail(
			"init needs --local-ts (the hub's inner address, e.g. 192.0.2.2/32) and "
			"--remote-ts (the edges' inner addresses)");
	acert_path(o, ACERT_F_CA_KEY, path);
	if (acert_exists(path) && !o->force) {
		snprintf(err, sizeof(err),
			 "%s exists: this hub is initialised (--force replaces it)", path);
		return fail(err);
	}

	struct acert_conn c;
	acert_conn_defaults(&c);
	snprintf(c.local_addrs, sizeof(c.local_addrs), "%s", o->local_addr);
	snprintf(c.remote_addrs, sizeof(c.remote_addrs), "%%any");
	snprintf(c.local_id, sizeof(c.local_id), "%s", o->id);
	snprintf(c.remote_id, sizeof(c.remote_id), "%%any");
	snprintf(c.local_ts, sizeof(c.local_ts), "%s", o->local_ts);
	snprintf(c.remote_ts, sizeof(c.remote_ts), "%s", o->remote_ts);
	snprintf(c.dpd_delay, sizeof(c.dpd_delay), "%s", o->dpd_delay);
	c.encap = !o->no_encap;
	struct acert_params params = {0};
	if (acert_params_set(&params, "role", "hub", err, sizeof(err)) != 0 ||
	    acert_conn_to_params(&c, &params, err, sizeof(err)) != 0)
		return fail(err);

	int rc = 1;
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char *cakey_pem = NULL, *ca_pem = NULL, *key_pem = NULL, *cert_pem = NULL, *conn = NULL,
	     *frag = NULL, *ptext = NULL;
	size_t cakey_len = 0, key_len = 0, ca_len = 0, cert_len = 0, plen = 0;
	struct acert_stage *st = NULL;
	char ca_cn[ACERT_ID_MAX + 16];
	snprintf(ca_cn, sizeof(ca_cn), "airlock CA %s", o->id);

	if (!(cakey = acert_key_new(err, sizeof(err))) ||
	    !(ca = acert_ca_new(cakey, ca_cn, ACERT_CA_DAYS, err, sizeof(err))) ||
	    !(key = acert_key_new(err, sizeof(err))) ||
	    !(cert = acert_cert_issue(ca, cakey, key, o->id, o->days, err, sizeof(err))) ||
	    !(cakey_pem = acert_key_pem(cakey, &cakey_len, err, sizeof(err))) ||
	    !(key_pem = acert_key_pem(key, &key_len, err, sizeof(err))) ||
	    !(ca_pem = acert_cert_pem(ca, &ca_len, err, sizeof(err))) ||
	    !(cert_pem = acert_cert_pem(cert, &cert_len, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	if (!(conn = acert_frag_swanctl(&c)) ||
	    !(frag = acert_frag_airlock_hub(&c, o->trusted_dir)) ||
	    !(ptext = acert_params_format(&params, &plen)) || !(st = acert_stage_new())) {
		fail("out of memory");
		goto out;
	}
	const char *ss = acert_frag_strongswan();
	char p_cakey[ACERT_PATH_MAX], p_cacert[ACERT_PATH_MAX], p_key[ACERT_PATH_MAX],
		p_cert[ACERT_PATH_MAX], p_ca[ACERT_PATH_MAX], p_params[ACERT_PATH_MAX];
	acert_path(o, ACERT_F_CA_KEY, p_cakey);
	acert_path(o, ACERT_F_CA_CERT, p_cacert);
	acert_path(o, ACERT_F_KEY, p_key);
	acert_path(o, ACERT_F_CERT, p_cert);
	acert_path(o, ACERT_F_CA, p_ca);
	acert_path(o, ACERT_F_PARAMS, p_params);
	if (acert_mkdirs(o->trusted_dir, 0755, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_cakey, cakey_pem, cakey_len, 0600, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_cacert, ca_pem, ca_len, 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_key, key_pem, key_len, 0600, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_cert, cert_pem, cert_len, 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_ca, ca_pem, ca_len, 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, o->conn_file, conn, strlen(conn), 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, o->strongswan_conf, ss, strlen(ss), 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, o->airlock_conf, frag, strlen(frag), 0644, err, sizeof(err)) != 0 ||
	    acert_stage_add(st, p_params, ptext, plen, 0644, err, sizeof(err)) != 0 ||
	    acert_stage_commit(st, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	char serial[128];
	acert_cert_serial(cert, serial, sizeof(serial));
	printf("hub %s: CA %s, certificate %s (serial %s), connection %s\n", o->id, p_cacert,
	       p_cert, serial, o->conn_file);
	if (!o->no_vici) {
		struct acert_vici *v =
			acert_vici_open(o->vici, o->timeout_s * 1000, 0, err, sizeof(err));
		if (!v || acert_charon_load_all(acert_charon_vici(), v, key_pem, cert_pem, ca_pem,
						&c, err, sizeof(err)) != 0) {
			acert_vici_free(v);
			fprintf(stderr,
				"airlock-cert: files written, but loading them into charon "
				"failed: %s\n",
				err);
			goto out;
		}
		acert_vici_free(v);
		printf("loaded into charon at %s\n", o->vici);
	}
	rc = 0;
out:
	acert_stage_free(st);
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
