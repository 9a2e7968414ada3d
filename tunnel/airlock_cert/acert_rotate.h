/*
 * Certificate rotation in charon, the sequence of notes/strongswan.md:
 *
 *  1. the connection must have an ESTABLISHED IKE_SA with its child INSTALLED;
 *  2. load-key old (to learn its id), load-key new, load-cert new;
 *  3. charon must list the new certificate with has_privkey = yes;
 *  4. unload-key old: from here on any IKE_AUTH proves the new key;
 *  5. rekey ike-id=<old> reauth=yes (make-before-break);
 *  6. wait for a new ESTABLISHED IKE_SA (new uniqueid) with the child
 *     INSTALLED, then (bounded, informational) for the old IKE_SA to go.
 *
 * If 3 or 6 fails (e.g. the peer does not trust the new certificate's
 * issuer), roll back: load-key old, unload-key new. charon then selects the
 * old certificate again (the new one stays in its store without a key), and
 * the old IKE_SA, which make-before-break never tore down, keeps carrying
 * traffic. If the connection has no SA left, an initiator brings it back.
 *
 * Files are not this module's business: the caller stages them before and
 * commits them only on ACERT_ROTATE_OK.
 */
#ifndef AIRLOCK_ACERT_ROTATE_H
#define AIRLOCK_ACERT_ROTATE_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/airlock_cert/acert_charon.h"

enum acert_rotate_result {
	ACERT_ROTATE_OK = 0,
	ACERT_ROTATE_NO_SA,	  /* nothing to re-authenticate; nothing changed */
	ACERT_ROTATE_ROLLED_BACK, /* verification failed, the old key is back in use */
	ACERT_ROTATE_ROLLBACK_FAILED,
};

struct acert_rotate_plan {
	const char *conn, *child;
	const char *old_key_pem, *new_key_pem, *new_cert_pem;
	const char *new_serial; /* hex, as cert_info shows it */
	int timeout_ms;		/* for the new IKE_SA */
	int initiator;		/* may initiate the child if rollback finds no SA */
};

struct acert_rotate_outcome {
	uint64_t old_ike_id, new_ike_id;
	int old_gone;	 /* the old IKE_SA was deleted after the new one was up */
	char error[512]; /* why it failed (or why rollback failed) */
};

enum acert_rotate_result acert_rotate_run(const struct acert_charon_ops *ops, void *ctx,
					  const struct acert_rotate_plan *plan,
					  struct acert_rotate_outcome *out);

const char *acert_rotate_result_name(enum acert_rotate_result r);

#endif
