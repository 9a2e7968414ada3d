/*
 * airlock-cert enroll BUNDLE (edge): every check first (acert_enroll_open),
 * then the files, then charon over VICI: load-key, load-cert (own and CA),
 * load-conn, initiate, and wait until the CHILD_SA is INSTALLED.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_charon.h"
#include "tunnel/airlock_cert/acert_enroll.h"
#include "tunnel/airlock_cert/acert_vici.h"

#include <sodium.h>
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

/* The passphrase: first line of --passphrase-file, or of stdin. */
static int read_passphrase(const struct acert_opts *o, char *out, size_t outlen, char *err,
			   size_t errlen)
{
	if (o->passphrase_file) {
		char *text;
		size_t len;
		if (acert_read_text(o->passphrase_file, &text, &len, err, errlen) != 0)
			return -1;
		text[strcspn(text, "\r\n")] = '\0';
		snprintf(out, outlen, "%s", text);
		acert_free_secret(text, len);
	} else {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "passphrase: ");
		if (!fgets(out, (int)outlen, stdin)) {
			snprintf(err, errlen, "no passphrase given (stdin or --passphrase-file)");
			return -1;
		}
		out[strcspn(out, "\r\n")] = '\0';
	}
	if (!out[0]) {
		snprintf(err, errlen, "empty passphrase");
		return -1;
	}
	return 0;
}

/* An entry as a C string (bundle data is not NUL-terminated); gets owned. */
static char *entry_str(const struct cert_bundle *b, const char *name)
{
	const struct cert_bundle_entry *e = cert_bundle_find(b, name);
	char *s = e ? malloc(e->len + 1) : NULL;
	if (s) {
		memcpy(s, e->data, e->len);
		s[e->len] = '\0';
	}
	return s;
}

static int bring_up(const struct acert_opts *o, const struct cert_bundle *b,
		    const struct acert_conn *c, char *err, size_t errlen)
{
	char *key = entry_str(b, CERT_BUNDLE_EDGE_KEY), *cert = entry_str(b, CERT_BUNDLE_EDGE_CERT),
	     *ca = entry_str(b, CERT_BUNDLE_CA_CERT);
	struct acert_vici *v = NULL;
	int rc = -1;
	if (!key || !cert || !ca) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!(v = acert_vici_open(o->vici, o->timeout_s * 1000, 0, err, errlen)))
		goto out;
	const struct acert_charon_ops *ops = acert_charon_vici();
	int initiate_ms = (o->timeout_s > 5 ? o->timeout_s - 5 : 1) * 1000;
	rc = acert_charon_load_all(ops, v, key, cert, ca, c, err, errlen);
	if (rc == 0)
		rc = ops->initiate(v, c->name, c->child, initiate_ms, err, errlen);
	if (rc == 0)
		rc = acert_charon_wait_installed(ops, v, c->name, c->child, o->timeout_s * 1000,
						 err, errlen);
out:
	acert_vici_free(v);
	if (key)
		acert_free_secret(key, strlen(key));
	free(cert);
	free(ca);
	return rc;
}

int acert_cmd_enroll(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], pass[CERT_BUNDLE_PASS_MAX + 2], key[ACERT_PATH_MAX];
	if (!o->arg)
		return fail("enroll needs BUNDLE");
	if (read_passphrase(o, pass, sizeof(pass), err, sizeof(err)) != 0)
		return fail(err);
	struct cert_bundle *b;
	struct acert_conn c;
	int rc = acert_enroll_open(o->arg, pass, (int64_t)time(NULL), NULL, &b, &c, err,
				   sizeof(err));
	sodium_memzero(pass, sizeof(pass));
	if (rc != 0)
		return fail(err);
	const struct cert_bundle_meta *m = cert_bundle_meta(b);
	if (o->dry_run) {
		printf("bundle for %s, hub %s, expires %lld: valid; would install:\n", m->edge_name,
		       m->hub_id, (long long)m->expires);
		for (size_t i = 0; i < cert_bundle_count(b); i++)
			printf("  %s%s\n", cert_bundle_entry_at(b, i)->name,
			       cert_bundle_entry_at(b, i)->flags & CERT_BUNDLE_SECRET ? " (secret)"
										      : "");
		cert_bundle_free(b);
		return 0;
	}
	acert_path(o, ACERT_F_KEY, key);
	if (acert_exists(key) && !o->force) {
		cert_bundle_free(b);
		snprintf(err, sizeof(err), "%s exists: this host is enrolled (--force replaces it)",
			 key);
		return fail(err);
	}
	if (acert_enroll_install(b, o, err, sizeof(err)) != 0) {
		cert_bundle_free(b);
		return fail(err);
	}
	printf("enrolled %s with hub %s: files installed\n", m->edge_name, m->hub_id);
	rc = 0;
	if (!o->no_vici) {
		if (bring_up(o, b, &c, err, sizeof(err)) != 0) {
			fprintf(stderr,
				"airlock-cert: files installed, but the tunnel is not up: %s\n",
				err);
			rc = 1;
		} else {
			printf("CHILD_SA %s of %s INSTALLED\n", c.child, c.name);
		}
	}
	cert_bundle_free(b);
	return rc;
}
