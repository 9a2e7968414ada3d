/*
 * Unit tests for pairing without charon (temporary directories, --no-vici):
 * init and bundle on a "hub", then acert_enroll_open / acert_enroll_install
 * on an "edge". A wrong passphrase, a tampered bundle, an expired bundle and
 * an authentic bundle whose contents do not fit together are all refused
 * with one line and leave the edge's directories empty; a good bundle
 * installs every file with its mode, its airlock.conf fragment names the state
 * directory the attestation key went to, and that key is read by relay's own
 * loader (the file format is shared, the code is not).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay/attest_keys.h"
#include "tunnel/airlock_cert/acert_cmd.h"
#include "tunnel/airlock_cert/acert_enroll.h"

#define PASS "test-passphrase-1"

static const struct cert_bundle_kdf fast = {1, 8192};

struct fixture {
	char root[64];
	struct acert_opts hub, edge;
	char bundle[ACERT_PATH_MAX], passfile[ACERT_PATH_MAX];
};

static void opts_for(struct acert_opts *o, const char *root, const char *host)
{
	acert_opts_defaults(o);
	snprintf(o->swanctl_dir, sizeof(o->swanctl_dir), "%s/%s/swanctl", root, host);
	snprintf(o->strongswan_conf, sizeof(o->strongswan_conf), "%s/%s/strongswan.conf", root,
		 host);
	snprintf(o->airlock_conf, sizeof(o->airlock_conf), "%s/%s/airlock.conf", root, host);
	snprintf(o->state_dir, sizeof(o->state_dir), "%s/%s/state", root, host);
	snprintf(o->trusted_dir, sizeof(o->trusted_dir), "%s/%s/trusted", root, host);
	o->no_vici = 1;
	o->kdf = &fast;
	acert_opts_finish(o);
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/acert-test-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	opts_for(&f->hub, f->root, "hub");
	opts_for(&f->edge, f->root, "edge");
	snprintf(f->passfile, sizeof(f->passfile), "%s/pass", f->root);
	assert_int_equal(write_text(f->passfile, PASS "\n"), 0);
	snprintf(f->bundle, sizeof(f->bundle), "%s/edge.bundle", f->root);

	struct acert_opts *h = &f->hub;
	snprintf(h->id, sizeof(h->id), "hub.example.com");
	snprintf(h->local_addr, sizeof(h->local_addr), "203.0.113.2");
	snprintf(h->local_ts, sizeof(h->local_ts), "192.0.2.2/32");
	snprintf(h->remote_ts, sizeof(h->remote_ts), "192.0.2.1/32");
	assert_int_equal(acert_cmd_init(h), 0);
	/* A second init must not replace the CA. */
	assert_int_equal(acert_cmd_init(h), 1);
	snprintf(h->edge_ts, sizeof(h->edge_ts), "192.0.2.1/32");
	h->arg = "edge.example.com";
	h->out_file = f->bundle;
	h->passphrase_file = f->passfile;
	assert_int_equal(acert_cmd_bundle(h), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int count_files(const char *dir)
{
	char cmd[ACERT_PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -type f 2>/dev/null)\"", dir);
	return system(cmd) == 0 ? 0 : 1;
}

static struct cert_bundle_open_opts open_opts(int64_t now)
{
	struct cert_bundle_open_opts o;
	cert_bundle_open_opts_init(&o, now);
	o.min = fast;
	return o;
}

/* Refused with a single line containing want; the edge has no files. */
static void refused(struct fixture *f, const char *bundle, const char *pass, int64_t now,
		    const char *want)
{
	struct cert_bundle *b = (struct cert_bundle *)1;
	struct acert_conn c;
	char err[512] = "";
	struct cert_bundle_open_opts o = open_opts(now);
	assert_int_equal(acert_enroll_open(bundle, pass, now, &o, &b, &c, err, sizeof(err)), -1);
	assert_null(b);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
	char edge_dir[ACERT_PATH_MAX];
	snprintf(edge_dir, sizeof(edge_dir), "%s/edge", f->root);
	assert_int_equal(count_files(edge_dir), 0);
}

static void test_wrong_passphrase(void **state)
{
	struct fixture *f = *state;
	refused(f, f->bundle, "not-the-passphrase", time(NULL), "wrong passphrase or damaged file");
}

static void test_tampered(void **state)
{
	struct fixture *f = *state;
	unsigned char *data;
	size_t len;
	char err[256], path[ACERT_PATH_MAX];
	assert_int_equal(
		acert_read_file(f->bundle, CERT_BUNDLE_SEALED_MAX, &data, &len, err, sizeof(err)),
		0);
	snprintf(path, sizeof(path), "%s/tampered.bundle", f->root);
	/* One flipped bit in the header (associated data), the ciphertext and the tag. */
	size_t where[] = {20, len / 2, len - 1};
	for (size_t i = 0; i < 3; i++) {
		data[where[i]] ^= 0x01;
		assert_int_equal(acert_write_file(path, data, len, 0600, err, sizeof(err)), 0);
		data[where[i]] ^= 0x01;
		refused(f, path, PASS, time(NULL), "cannot open bundle");
	}
	/* Truncated. */
	assert_int_equal(acert_write_file(path, data, len - 10, 0600, err, sizeof(err)), 0);
	refused(f, path, PASS, time(NULL), "cannot open bundle");
	free(data);
}

static void test_expired(void **state)
{
	struct fixture *f = *state;
	refused(f, f->bundle, PASS, time(NULL) + 25 * 3600, "bundle expired at");
}

/* An authentic bundle whose key is not the certificate's: refused before anything is written. */
static void test_mismatched_contents(void **state)
{
	struct fixture *f = *state;
	struct cert_bundle *b;
	struct acert_conn c;
	char err[512], path[ACERT_PATH_MAX];
	struct cert_bundle_open_opts o = open_opts(time(NULL));
	assert_int_equal(
		acert_enroll_open(f->bundle, PASS, time(NULL), &o, &b, &c, err, sizeof(err)), 0);
	struct cert_bundle *bad = cert_bundle_new(cert_bundle_meta(b), err, sizeof(err));
	EVP_PKEY *other = acert_key_new(err, sizeof(err));
	size_t klen;
	char *kpem = acert_key_pem(other, &klen, err, sizeof(err));
	for (size_t i = 0; i < cert_bundle_count(b); i++) {
		const struct cert_bundle_entry *e = cert_bundle_entry_at(b, i);
		if (strcmp(e->name, CERT_BUNDLE_EDGE_KEY) == 0)
			assert_int_equal(cert_bundle_add(bad, e->name, e->flags, kpem, klen, err,
							 sizeof(err)),
					 0);
		else
			assert_int_equal(cert_bundle_add(bad, e->name, e->flags, e->data, e->len,
							 err, sizeof(err)),
					 0);
	}
	unsigned char *sealed;
	size_t slen;
	assert_int_equal(cert_bundle_seal(bad, PASS, &fast, &sealed, &slen, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/mismatch.bundle", f->root);
	assert_int_equal(acert_write_file(path, sealed, slen, 0600, err, sizeof(err)), 0);
	refused(f, path, PASS, time(NULL), "edge key does not match its certificate");
	free(sealed);
	free(kpem);
	EVP_PKEY_free(other);
	cert_bundle_free(bad);
	cert_bundle_free(b);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static void test_install(void **state)
{
	struct fixture *f = *state;
	struct cert_bundle *b;
	struct acert_conn c;
	char err[512], path[ACERT_PATH_MAX];
	struct cert_bundle_open_opts o = open_opts(time(NULL));
	assert_int_equal(
		acert_enroll_open(f->bundle, PASS, time(NULL), &o, &b, &c, err, sizeof(err)), 0);
	assert_string_equal(c.local_id, "edge.example.com");
	assert_string_equal(c.remote_id, "hub.example.com");
	assert_string_equal(c.remote_addrs, "203.0.113.2");
	assert_string_equal(c.remote_ts, "192.0.2.2/32");
	assert_int_equal(acert_enroll_install(b, &f->edge, err, sizeof(err)), 0);
	cert_bundle_free(b);

	acert_path(&f->edge, ACERT_F_KEY, path);
	assert_int_equal(mode_of(path), 0600);
	acert_path(&f->edge, ACERT_F_CERT, path);
	assert_int_equal(mode_of(path), 0644);
	acert_path(&f->edge, ACERT_F_CA, path);
	assert_int_equal(mode_of(path), 0644);
	acert_path(&f->edge, ACERT_F_ATTEST_KEY, path);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(f->edge.conn_file), 0644);
	assert_int_equal(mode_of(f->edge.airlock_conf), 0644);
	assert_int_equal(mode_of(f->edge.strongswan_conf), 0644);

	/* The airlock.conf fragment names the state directory enroll installed the
	 * attestation key into (not the bundle's default /var/lib/airlock), and the hub. */
	char *frag, want[ACERT_PATH_MAX + 32];
	size_t fraglen;
	assert_int_equal(acert_read_text(f->edge.airlock_conf, &frag, &fraglen, err, sizeof(err)),
			 0);
	snprintf(want, sizeof(want), "\tstate_dir = \"%s\";\n", f->edge.state_dir);
	assert_non_null(strstr(frag, want));
	assert_null(strstr(frag, "/var/lib/airlock"));
	assert_non_null(strstr(frag, "address = \"192.0.2.2:25\""));
	free(frag);

	char role[16];
	struct acert_conn saved;
	assert_int_equal(acert_load_role(&f->edge, role, sizeof(role), &saved, err, sizeof(err)),
			 0);
	assert_string_equal(role, "edge");
	assert_memory_equal(&saved, &c, sizeof(c));

	/* relay's loader accepts the key file, and the hub trusts its public key. */
	struct attest_signer *signer;
	bool created = true;
	assert_int_equal(attest_signer_load_or_create(f->edge.state_dir, &signer, &created, err,
						      sizeof(err)),
			 0);
	assert_false(created);
	struct attest_trust *trust = attest_trust_new();
	assert_int_equal(attest_trust_load(trust, f->hub.trusted_dir, err, sizeof(err)), 0);
	assert_int_equal(attest_trust_count(trust), 1);
	assert_non_null(attest_trust_find(trust, signer->pub.id, 0));
	attest_trust_free(trust);
	attest_signer_free(signer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrong_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatched_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
