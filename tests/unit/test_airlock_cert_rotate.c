/*
 * Unit tests for the rotation sequence (acert_rotate.c) against a fake
 * charon: the order of the VICI operations (the old key unloaded before the
 * re-authentication, so that any new IKE_AUTH proves the new key), success
 * only once a new IKE_SA carries the child, and rollback (old key back, new
 * key unloaded) when charon lacks the new key, when the new IKE_SA never
 * comes up, or when the re-authentication is refused; an initiator brings a
 * lost SA back during rollback; nothing is touched without an SA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/airlock_cert/acert_rotate.h"

struct fake {
	char log[2048];
	uint64_t ike_id; /* current SA, 0 = none */
	int child_installed;
	int has_key;	       /* list-certs answer for the new certificate */
	int peer_accepts;      /* reauth brings up a new IKE_SA */
	int reauth_fails;      /* the rekey command itself fails */
	int lose_sa_on_reauth; /* the old SA disappears during a failed reauth */
	int polls_until_new;   /* sa_state calls after reauth before the new SA shows */
	int reauthed;
	int other_edge; /* a second edge's IKE_SA on the connection */
};

__attribute__((format(printf, 2, 3))) static void note(struct fake *f, const char *fmt, ...)
{
	va_list ap;
	size_t used = strlen(f->log);
	va_start(ap, fmt);
	vsnprintf(f->log + used, sizeof(f->log) - used, fmt, ap);
	va_end(ap);
}

static int f_load_key(void *ctx, const char *pem, char id[ACERT_KEYID_MAX], char *err,
		      size_t errlen)
{
	(void)err;
	(void)errlen;
	snprintf(id, ACERT_KEYID_MAX, "%s", strcmp(pem, "OLDKEY") == 0 ? "kid-old" : "kid-new");
	note(ctx, "load-key %s;", id);
	return 0;
}

static int f_unload_key(void *ctx, const char *id, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	note(ctx, "unload-key %s;", id);
	return 0;
}

static int f_load_cert(void *ctx, const char *pem, int ca, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	note(ctx, "load-cert %s%s;", pem, ca ? " CA" : "");
	return 0;
}

static int f_load_conn(void *ctx, const struct acert_conn *c, const char *ca, char *err,
		       size_t errlen)
{
	(void)c;
	(void)ca;
	(void)err;
	(void)errlen;
	note(ctx, "load-conn;");
	return 0;
}

static int f_initiate(void *ctx, const char *conn, const char *child, int ms, char *err,
		      size_t errlen)
{
	struct fake *f = ctx;
	(void)conn;
	(void)child;
	(void)ms;
	(void)err;
	(void)errlen;
	note(f, "initiate;");
	f->ike_id = 9;
	f->child_installed = 1;
	return 0;
}

static int f_sa_state(void *ctx, const char *conn, const char *child, struct acert_sa *out,
		      char *err, size_t errlen)
{
	struct fake *f = ctx;
	(void)conn;
	(void)child;
	(void)err;
	(void)errlen;
	if (f->reauthed && f->peer_accepts && f->polls_until_new-- <= 0)
		f->ike_id = 2;
	out->ike_id = f->ike_id;
	out->child_installed = f->ike_id ? f->child_installed : 0;
	out->nike = f->ike_id ? 1 : 0;
	out->nids = 0;
	if (f->ike_id)
		out->ids[out->nids++] = f->ike_id;
	/* Another edge's IKE_SA on the same connection (a hub) stays throughout. */
	if (f->other_edge)
		out->ids[out->nids++] = 77, out->nike++;
	return 0;
}

static int f_reauth(void *ctx, uint64_t id, char *err, size_t errlen)
{
	struct fake *f = ctx;
	note(f, "rekey %llu reauth;", (unsigned long long)id);
	if (f->reauth_fails) {
		snprintf(err, errlen, "rekey: no such IKE_SA");
		return -1;
	}
	f->reauthed = 1;
	if (f->lose_sa_on_reauth)
		f->ike_id = 0;
	return 0;
}

static int f_cert_has_key(void *ctx, const char *serial, int *has, char *err, size_t errlen)
{
	struct fake *f = ctx;
	(void)err;
	(void)errlen;
	note(f, "list-certs %s;", serial);
	*has = f->has_key;
	return 0;
}

static void f_sleep(void *ctx, int ms)
{
	(void)ctx;
	(void)ms;
}

static const struct acert_charon_ops fake_ops = {
	.load_key = f_load_key,
	.unload_key = f_unload_key,
	.load_cert = f_load_cert,
	.load_conn = f_load_conn,
	.initiate = f_initiate,
	.sa_state = f_sa_state,
	.reauth = f_reauth,
	.cert_has_key = f_cert_has_key,
	.sleep_ms = f_sleep,
};

static const struct acert_rotate_plan plan = {
	.conn = "airlock",
	.child = "airlock",
	.old_key_pem = "OLDKEY",
	.new_key_pem = "NEWKEY",
	.new_cert_pem = "NEWCERT",
	.new_serial = "AB12",
	.timeout_ms = 2000,
	.initiator = 0,
};

static struct fake healthy(void)
{
	return (struct fake){.ike_id = 1,
			     .child_installed = 1,
			     .has_key = 1,
			     .peer_accepts = 1,
			     .polls_until_new = 3};
}

static void test_success(void **state)
{
	(void)state;
	struct fake f = healthy();
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_OK);
	assert_string_equal(f.log, "load-key kid-old;load-key kid-new;load-cert NEWCERT;"
				   "list-certs AB12;unload-key kid-old;rekey 1 reauth;");
	assert_int_equal(out.old_ike_id, 1);
	assert_int_equal(out.new_ike_id, 2);
	assert_true(out.old_gone);
}

/* On a hub, another edge's IKE_SA on the same connection does not hold the rotation up. */
static void test_hub_with_two_edges(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.other_edge = 1;
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_OK);
	assert_true(out.old_gone);
	assert_int_equal(out.new_ike_id, 2);
}

static void test_no_sa_touches_nothing(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.ike_id = 0;
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_NO_SA);
	assert_string_equal(f.log, "");
	assert_non_null(strstr(out.error, "no ESTABLISHED IKE_SA"));
	f = healthy();
	f.child_installed = 0;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_NO_SA);
	assert_string_equal(f.log, "");
}

static void test_peer_refuses(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.peer_accepts = 0;
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_ROLLED_BACK);
	assert_string_equal(f.log, "load-key kid-old;load-key kid-new;load-cert NEWCERT;"
				   "list-certs AB12;unload-key kid-old;rekey 1 reauth;"
				   "load-key kid-old;unload-key kid-new;");
	assert_non_null(strstr(out.error, "no new IKE_SA"));
}

static void test_no_private_key(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.has_key = 0;
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_ROLLED_BACK);
	/* Never re-authenticated, the old key never left. */
	assert_null(strstr(f.log, "rekey"));
	assert_null(strstr(f.log, "unload-key kid-old"));
	assert_non_null(strstr(f.log, "unload-key kid-new;"));
	assert_non_null(strstr(out.error, "no private key"));
}

static void test_reauth_refused(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.reauth_fails = 1;
	struct acert_rotate_outcome out;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out), ACERT_ROTATE_ROLLED_BACK);
	assert_non_null(strstr(f.log, "rekey 1 reauth;load-key kid-old;unload-key kid-new;"));
}

static void test_lost_sa(void **state)
{
	(void)state;
	struct fake f = healthy();
	f.peer_accepts = 0;
	f.lose_sa_on_reauth = 1;
	struct acert_rotate_outcome out;
	/* A responder cannot bring the SA back: the rollback is reported as failed. */
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &plan, &out),
			 ACERT_ROTATE_ROLLBACK_FAILED);
	assert_non_null(strstr(out.error, "not INSTALLED"));
	/* An initiator does, with the old key. */
	f = healthy();
	f.peer_accepts = 0;
	f.lose_sa_on_reauth = 1;
	struct acert_rotate_plan p = plan;
	p.initiator = 1;
	assert_int_equal(acert_rotate_run(&fake_ops, &f, &p, &out), ACERT_ROTATE_ROLLED_BACK);
	assert_non_null(strstr(f.log, "load-key kid-old;unload-key kid-new;initiate;"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_hub_with_two_edges),
		cmocka_unit_test(test_no_sa_touches_nothing),
		cmocka_unit_test(test_peer_refuses),
		cmocka_unit_test(test_no_private_key),
		cmocka_unit_test(test_reauth_refused),
		cmocka_unit_test(test_lost_sa),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
