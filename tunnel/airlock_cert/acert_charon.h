/*
 * What airlock-cert asks of charon, as a table of operations so that the
 * rotation logic (acert_rotate.c) runs against the real charon over VICI
 * (acert_charon_vici()) and against a fake in unit tests.
 *
 * Every operation returns 0 on success or -1 with a one-line reason in err.
 */
#ifndef AIRLOCK_ACERT_CHARON_H
#define AIRLOCK_ACERT_CHARON_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/airlock_cert/acert_frag.h"

#define ACERT_KEYID_MAX	 128
#define ACERT_SA_IDS_MAX 64

/* The state of one connection's SAs, as list-sas shows it. */
struct acert_sa {
	uint64_t ike_id;     /* uniqueid of the newest ESTABLISHED IKE_SA, 0 if none */
	int child_installed; /* that IKE_SA has the child INSTALLED */
	int nike;	     /* IKE_SAs of the connection in any state */
	/* The uniqueids of those IKE_SAs (the first ACERT_SA_IDS_MAX). A hub has one IKE_SA
	 * per edge on the same connection; rotation re-authenticates the newest one and
	 * waits for that one to go, not for the others. */
	uint64_t ids[ACERT_SA_IDS_MAX];
	size_t nids;
};

struct acert_charon_ops {
	/* load-key (type any, PEM); the key's id (hex SHA-1) into id. */
	int (*load_key)(void *ctx, const char *pem, char id[ACERT_KEYID_MAX], char *err,
			size_t errlen);
	int (*unload_key)(void *ctx, const char *id, char *err, size_t errlen);
	/* load-cert type X509, flag CA or NONE, PEM. */
	int (*load_cert)(void *ctx, const char *pem, int ca, char *err, size_t errlen);
	/* load-conn of c with the CA for remote.cacerts. */
	int (*load_conn)(void *ctx, const struct acert_conn *c, const char *ca_pem, char *err,
			 size_t errlen);
	/* initiate child of conn, waiting up to timeout_ms. */
	int (*initiate)(void *ctx, const char *conn, const char *child, int timeout_ms, char *err,
			size_t errlen);
	/* Current SAs of conn with child. */
	int (*sa_state)(void *ctx, const char *conn, const char *child, struct acert_sa *out,
			char *err, size_t errlen);
	/* rekey ike-id=ike_id reauth=yes. */
	int (*reauth)(void *ctx, uint64_t ike_id, char *err, size_t errlen);
	/* Whether charon lists the certificate with serial (hex) and has its private key. */
	int (*cert_has_key)(void *ctx, const char *serial, int *has_key, char *err, size_t errlen);
	/* Waits up to ms, handing VICI events to the log meanwhile. */
	void (*sleep_ms)(void *ctx, int ms);
};

struct acert_vici;

/* The operations over a VICI session; ctx is the struct acert_vici *. */
const struct acert_charon_ops *acert_charon_vici(void);

/*
 * Waits up to timeout_ms for an ESTABLISHED IKE_SA of conn other than
 * old_ike_id whose child is INSTALLED (make-before-break: the old one may
 * still be there). *new_id gets its uniqueid. Returns 0, or -1 with err.
 */
int acert_charon_wait_new_sa(const struct acert_charon_ops *ops, void *ctx, const char *conn,
			     const char *child, uint64_t old_ike_id, int timeout_ms,
			     uint64_t *new_id, char *err, size_t errlen);

/* Waits up to timeout_ms for the child of conn to be INSTALLED. Returns 0 or -1. */
int acert_charon_wait_installed(const struct acert_charon_ops *ops, void *ctx, const char *conn,
				const char *child, int timeout_ms, char *err, size_t errlen);

/*
 * Loads a host's credentials and connection: key, own certificate, CA
 * certificate (flag CA) and c. Returns 0 or -1 with err.
 */
int acert_charon_load_all(const struct acert_charon_ops *ops, void *ctx, const char *key_pem,
			  const char *cert_pem, const char *ca_pem, const struct acert_conn *c,
			  char *err, size_t errlen);
#endif
