/*
 * airlock-cert's commands and the options and paths they share.
 *
 * Files on a host (defaults; every directory and file is an option):
 *
 *	SWANCTL/private/airlock.key	own key (0600)
 *	SWANCTL/x509/airlock.crt	own certificate
 *	SWANCTL/x509ca/airlock-ca.crt	the airlock CA
 *	SWANCTL/conf.d/airlock.conf	the swanctl connection (--conn-file)
 *	/etc/strongswan.d/airlock.conf	charon.make_before_break = yes
 *	/etc/airlock/airlock-cert.conf	airlock.conf fragment
 *	STATE/airlock-cert.params	role and connection parameters
 *	STATE/attest.key, attest.pub	edge: scan-attestation key pair
 *	STATE/cert-pending/		edge: key and CSR waiting for a signature
 *	STATE/cert-rollback/TIME/	files replaced by a rotation
 *	STATE/ca/ca.key, ca.crt		hub: the private CA (--ca-dir)
 *	/var/lib/airlock/trusted-edges	hub: EDGE.pub attestation keys (--trusted-dir)
 *
 * Each command returns the process exit status: 0 success, 1 failure (one
 * line on stderr), 2 usage, 3 (rotate) a CSR waits for the hub's signature.
 */
#ifndef AIRLOCK_ACERT_CMD_H
#define AIRLOCK_ACERT_CMD_H

#include <stddef.h>

#include "tunnel/airlock_cert/acert_file.h"
#include "tunnel/airlock_cert/acert_frag.h"
#include "tunnel/airlock_cert/acert_x509.h"
#include "tunnel/cert_bundle.h"

#define ACERT_MAX_ADDRS	   8
#define ACERT_EXIT_PENDING 3
#define ACERT_SERVE_PORT   4750 /* the hub's signing service, on its inner address */

struct acert_opts {
	/* paths */
	char swanctl_dir[ACERT_PATH_MAX];
	char conn_file[ACERT_PATH_MAX];
	char strongswan_conf[ACERT_PATH_MAX];
	char airlock_conf[ACERT_PATH_MAX];
	char state_dir[ACERT_PATH_MAX];
	char ca_dir[ACERT_PATH_MAX];
	char trusted_dir[ACERT_PATH_MAX];
	char vici[256];
	int no_vici;
	int timeout_s;
	/* command options */
	char id[ACERT_ID_MAX + 1];
	char local_addr[256];
	char local_ts[256], remote_ts[256];
	char hub_id[ACERT_ID_MAX + 1];
	char hub_addrs[256]; /* comma separated */
	char edge_addr[256];
	char edge_ts[256];
	char dpd_delay[16];
	int no_encap;
	int days;
	int lifetime_h;
	int backdate_h; /* bundle: created this many hours ago (tests of expiry) */
	const struct cert_bundle_kdf
		*kdf; /* bundle: Argon2id cost; NULL = moderate (unit tests lower it) */
	const char *out_file;
	const char *passphrase_file;
	const char *csr_out;
	const char *key_out; /* issue: where the new key goes */
	int serve_port;	     /* serve / rotate: the hub's signing service port */
	char device[32];     /* serve: the tunnel device the listener is bound to ("" = none) */
	int xfrm;	     /* serve: require ESP with an IP_XFRM_POLICY instead */
	int max_requests;    /* serve: stop after this many (0 = never; tests) */
	int no_hub;	     /* rotate on an edge: do not ask the hub's service */
	const char *install_cert;
	int if_expiring_days; /* -1: rotate unconditionally */
	int dry_run;
	int force;
	/* positional argument of the command, or NULL */
	const char *arg;
};

/* Defaults for every path and option. */
void acert_opts_defaults(struct acert_opts *o);

/* Fills the paths that derive from others (conn file, CA dir) if not set. */
void acert_opts_finish(struct acert_opts *o);

enum acert_file {
	ACERT_F_KEY,	/* own private key */
	ACERT_F_CERT,	/* own certificate */
	ACERT_F_CA,	/* the CA certificate in swanctl's x509ca */
	ACERT_F_PARAMS, /* STATE/airlock-cert.params */
	ACERT_F_ATTEST_KEY,
	ACERT_F_ATTEST_PUB,
	ACERT_F_CA_KEY,	 /* hub: CA_DIR/ca.key */
	ACERT_F_CA_CERT, /* hub: CA_DIR/ca.crt */
	ACERT_F_PENDING_KEY,
	ACERT_F_PENDING_CSR,
	ACERT_F_PENDING_CERT,
	ACERT_F_PENDING_ATTEST_KEY,
	ACERT_F_PENDING_ATTEST_PUB,
};

/* The path of f into out (ACERT_PATH_MAX). */
void acert_path(const struct acert_opts *o, enum acert_file f, char *out);

/* Reads a small text file (certificate, key, parameters). */
int acert_read_text(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* Frees text that may hold a secret (wiped first). NULL is accepted. */
void acert_free_secret(char *text, size_t len);

/*
 * Loads the CA of o (STATE/ca.key, the CA certificate): *key and *cert get
 * owned by the caller. Returns 0, or -1 with err and both NULL.
 */
int acert_ca_load(const struct acert_opts *o, EVP_PKEY **key, X509 **cert, char *err,
		  size_t errlen);

/*
 * With the CA of o: a new key and a certificate for id valid o->days, as
 * objects (*key, *cert) and PEM text (*key_pem, a secret: acert_free_secret;
 * *cert_pem: free). Everything gets owned by the caller, also on failure
 * (whatever was made so far; the rest NULL). Returns 0, or -1 with err.
 */
int acert_ca_issue(const struct acert_opts *o, const char *id, EVP_PKEY **key, X509 **cert,
		   char **key_pem, size_t *key_len, char **cert_pem, size_t *cert_len, char *err,
		   size_t errlen);

/* The role ("hub"/"edge") and connection saved in STATE/airlock-cert.params. */
int acert_load_role(const struct acert_opts *o, char *role, size_t rolelen, struct acert_conn *conn,
		    char *err, size_t errlen);

/* 1 if every character of a path is safe to quote in a configuration file. */
int acert_path_valid(const char *path);

/*
 * Issues a certificate for a request text (acert_csr_request.h) with the CA
 * of o: the identity must be a paired edge (TRUSTED/ID.pub, unless o->force)
 * and, when required_id is not NULL, equal it. A next attestation key in the
 * request is trusted (TRUSTED/ID.KEYID.pub). *cert_out (PEM, gets owned) and
 * id_out (ACERT_ID_MAX + 1) are set. Returns 0, or -1 with err.
 */
int acert_sign_request(const struct acert_opts *o, const char *text, size_t len,
		       const char *required_id, char **cert_out, size_t *cert_len, char *id_out,
		       char *err, size_t errlen);

/*
 * Edge: sends the request text to the hub's `airlock-cert serve` through the
 * tunnel (from the inner address of conn to the hub's, port o->serve_port)
 * and returns the certificate PEM in *cert_out (gets owned). Returns 0, or -1
 * with err (unreachable, refused: the hub's reason).
 */
int acert_request_via_hub(const struct acert_opts *o, const struct acert_conn *conn,
			  const char *text, size_t len, char **cert_out, char *err, size_t errlen);

int acert_cmd_init(struct acert_opts *o);
int acert_cmd_bundle(struct acert_opts *o);
int acert_cmd_enroll(struct acert_opts *o);
int acert_cmd_sign(struct acert_opts *o);
int acert_cmd_issue(struct acert_opts *o);
int acert_cmd_rotate(struct acert_opts *o);
int acert_cmd_status(struct acert_opts *o);
int acert_cmd_serve(struct acert_opts *o);

#endif
