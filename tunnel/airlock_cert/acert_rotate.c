/*
 * The rotation sequence and its rollback (see acert_rotate.h).
 */
#include "tunnel/airlock_cert/acert_rotate.h"

#include <stdio.h>
#include <string.h>

static int has_id(const struct acert_sa *sa, uint64_t id)
{
	for (size_t i = 0; i < sa->nids; i++)
		if (sa->ids[i] == id)
			return 1;
	return 0;
}

static enum acert_rotate_result rollback(const struct acert_charon_ops *ops, void *ctx,
					 const struct acert_rotate_plan *plan, const char *new_kid,
					 struct acert_rotate_outcome *out)
{
	char err[256], kid[ACERT_KEYID_MAX];
	fprintf(stderr, "airlock-cert: rolling back: %s\n", out->error);
	if (ops->load_key(ctx, plan->old_key_pem, kid, err, sizeof(err)) != 0) {
		snprintf(out->error + strlen(out->error), sizeof(out->error) - strlen(out->error),
			 "; rollback failed: %s", err);
		return ACERT_ROTATE_ROLLBACK_FAILED;
	}
	if (new_kid[0] && strcmp(new_kid, kid) != 0 &&
	    ops->unload_key(ctx, new_kid, err, sizeof(err)) != 0) {
		snprintf(out->error + strlen(out->error), sizeof(out->error) - strlen(out->error),
			 "; rollback failed: %s", err);
		return ACERT_ROTATE_ROLLBACK_FAILED;
	}
	struct acert_sa sa;
	if (ops->sa_state(ctx, plan->conn, plan->child, &sa, err, sizeof(err)) == 0 &&
	    sa.child_installed)
		return ACERT_ROTATE_ROLLED_BACK;
	if (plan->initiator &&
	    ops->initiate(ctx, plan->conn, plan->child, plan->timeout_ms, err, sizeof(err)) == 0 &&
	    acert_charon_wait_installed(ops, ctx, plan->conn, plan->child, plan->timeout_ms, err,
					sizeof(err)) == 0)
		return ACERT_ROTATE_ROLLED_BACK;
	snprintf(out->error + strlen(out->error), sizeof(out->error) - strlen(out->error),
		 "; after rollback the CHILD_SA %s is not INSTALLED", plan->child);
	return ACERT_ROTATE_ROLLBACK_FAILED;
}

enum acert_rotate_result acert_rotate_run(const struct acert_charon_ops *ops, void *ctx,
					  const struct acert_rotate_plan *plan,
					  struct acert_rotate_outcome *out)
{
	char old_kid[ACERT_KEYID_MAX] = "", new_kid[ACERT_KEYID_MAX] = "";
	char err[256];
	struct acert_sa sa;

	memset(out, 0, sizeof(*out));
	if (ops->sa_state(ctx, plan->conn, plan->child, &sa, err, sizeof(err)) != 0) {
		snprintf(out->error, sizeof(out->error), "%s", err);
		return ACERT_ROTATE_NO_SA;
	}
	if (!sa.ike_id || !sa.child_installed) {
		snprintf(out->error, sizeof(out->error),
			 "connection %s has no ESTABLISHED IKE_SA with %s INSTALLED to "
			 "re-authenticate",
			 plan->conn, plan->child);
		return ACERT_ROTATE_NO_SA;
	}
	out->old_ike_id = sa.ike_id;
	if (ops->load_key(ctx, plan->old_key_pem, old_kid, err, sizeof(err)) != 0) {
		snprintf(out->error, sizeof(out->error), "old key: %s", err);
		return ACERT_ROTATE_NO_SA;
	}
	if (ops->load_key(ctx, plan->new_key_pem, new_kid, err, sizeof(err)) != 0 ||
	    ops->load_cert(ctx, plan->new_cert_pem, 0, err, sizeof(err)) != 0) {
		snprintf(out->error, sizeof(out->error), "%s", err);
		return rollback(ops, ctx, plan, new_kid, out);
	}
	int has_key = 0;
	err[0] = '\0';
	if (ops->cert_has_key(ctx, plan->new_serial, &has_key, err, sizeof(err)) != 0 || !has_key) {
		snprintf(out->error, sizeof(out->error), "%s",
			 err[0] ? err : "charon has no private key for the new certificate");
		return rollback(ops, ctx, plan, new_kid, out);
	}
	if (strcmp(old_kid, new_kid) != 0 && ops->unload_key(ctx, old_kid, err, sizeof(err)) != 0) {
		snprintf(out->error, sizeof(out->error), "%s", err);
		return rollback(ops, ctx, plan, new_kid, out);
	}
	if (ops->reauth(ctx, sa.ike_id, err, sizeof(err)) != 0) {
		snprintf(out->error, sizeof(out->error), "%s", err);
		return rollback(ops, ctx, plan, new_kid, out);
	}
	if (acert_charon_wait_new_sa(ops, ctx, plan->conn, plan->child, sa.ike_id, plan->timeout_ms,
				     &out->new_ike_id, out->error, sizeof(out->error)) != 0)
		return rollback(ops, ctx, plan, new_kid, out);
	/* Make-before-break: the old IKE_SA goes once the new one carries the child. Waiting
	 * for that (bounded; its absence is not a failure) lets the caller report the order. */
	for (int waited = 0; waited < plan->timeout_ms; waited += 250) {
		if (ops->sa_state(ctx, plan->conn, plan->child, &sa, err, sizeof(err)) == 0 &&
		    !has_id(&sa, out->old_ike_id)) {
			out->old_gone = 1;
			break;
		}
		ops->sleep_ms(ctx, 250);
	}
	ops->sleep_ms(ctx, 200);
	return ACERT_ROTATE_OK;
}

const char *acert_rotate_result_name(enum acert_rotate_result r)
{
	switch (r) {
	case ACERT_ROTATE_OK:
		return "ok";
	case ACERT_ROTATE_NO_SA:
		return "no-sa";
	case ACERT_ROTATE_ROLLED_BACK:
		return "rolled-back";
	case ACERT_ROTATE_ROLLBACK_FAILED:
		return "rollback-failed";
	}
	return "?";
}
