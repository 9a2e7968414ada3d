/*
 * Scan attestation keys: the signing key file in the state directory and the
 * trusted public keys. Formats are documented in attest_keys.h.
 */
#include "relay/attest_keys.h"
#include "common/errmsg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

#define B64_KEY_LEN  43 /* base64url, no padding, of 32 octets */
#define LINE_MAX_LEN 1024
#define SECRET_MAX   256

struct attest_trust {
	struct attest_key *keys;
	size_t n, cap;
};

static void sodium_ready(void)
{
	if (sodium_init() < 0)
		fatal("sodium_init failed");
}

void attest_key_id(const unsigned char pk[ATTEST_PK_LEN], char out[ATTEST_KEYID_LEN + 1])
{
	unsigned char h[crypto_generichash_BYTES];

	crypto_generichash(h, sizeof(h), pk, ATTEST_PK_LEN, NULL, 0);
	sodium_bin2hex(out, ATTEST_KEYID_LEN + 1, h, ATTEST_KEYID_LEN / 2);
}

/* Decodes exactly B64_KEY_LEN base64url characters into 32 octets. */
static int decode_key(const char *b64, unsigned char out[32])
{
	size_t binlen = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, 32, b64, B64_KEY_LEN, NULL, &binlen, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	return binlen == 32 && end == b64 + B64_KEY_LEN ? 0 : -1;
}

struct attest_signer *attest_signer_new_from_seed(const unsigned char seed[ATTEST_SEED_LEN])
{
	struct attest_signer *s = calloc(1, sizeof(*s));

	sodium_ready();
	if (s == NULL)
		return NULL;
	crypto_sign_seed_keypair(s->pub.pk, s->sk, seed);
	attest_key_id(s->pub.pk, s->pub.id);
	return s;
}

void attest_signer_free(struct attest_signer *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, sizeof(*s));
	free(s);
}

int attest_pubkey_format(const struct attest_key *key, char *out, size_t outlen)
{
	char b64[B64_KEY_LEN + 1];

	sodium_bin2base64(b64, sizeof(b64), key->pk, ATTEST_PK_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	int n = snprintf(out, outlen, "%s %s %s\n", ATTEST_PUBLIC_TAG, b64, key->id);
	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* Reads at most max octets of fd; more is an error (errno EFBIG). */
static int read_capped(int fd, char *buf, size_t max, size_t *len)
{
	size_t got = 0;

	for (;;) {
		ssize_t r = read(fd, buf + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max) {
			errno = EFBIG;
			return -1;
		}
	}
	*len = got;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads and checks the secret key file open on fd. */
static int read_secret(int fd, const char *path, unsigned char seed[ATTEST_SEED_LEN], char *err,
		       size_t errlen)
{
	char buf[SECRET_MAX + 1];
	size_t len = 0, taglen = strlen(ATTEST_SECRET_TAG);
	struct stat st;
	int rc = -1;

	if (fstat(fd, &st) < 0)
		return errmsg_set(err, errlen, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errmsg_set(err, errlen, "%s: not a regular file", path);
	if (st.st_uid != geteuid())
		return errmsg_set(err, errlen, "%s: not owned by uid %u", path,
				  (unsigned)geteuid());
	if (st.st_nlink != 1)
		return errmsg_set(err, errlen, "%s: has %lu links, expected 1", path,
				  (unsigned long)st.st_nlink);
	if ((st.st_mode & 077) != 0)
		return errmsg_set(err, errlen,
				  "%s: mode %04o gives group or others access, must be 0600", path,
				  (unsigned)(st.st_mode & 07777));
	if (read_capped(fd, buf, SECRET_MAX, &len) < 0)
		return errmsg_set(err, errlen, "%s: %s", path, strerror(errno));
	if (len == taglen + 1 + B64_KEY_LEN + 1 && memcmp(buf, ATTEST_SECRET_TAG, taglen) == 0 &&
	    buf[taglen] == ' ' && buf[len - 1] == '\n' && decode_key(buf + taglen + 1, seed) == 0)
		rc = 0;
	else
		errmsg_set(err, errlen, "%s: not an airlock attestation secret key", path);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/* Writes text into dir/name through a temporary file; replace: rename, else link (no clobber). */
static int write_file(int dfd, const char *dir, const char *name, const char *text, mode_t mode,
		      bool replace, char *err, size_t errlen)
{
	char tmp[64];
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	unlinkat(dfd, tmp, 0); /* left by an earlier process with our pid that crashed */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return errmsg_set(err, errlen, "%s/%s: %s", dir, tmp, strerror(errno));
	if (fchmod(fd, mode) < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		errmsg_set(err, errlen, "%s/%s: %s", dir, tmp, strerror(errno));
	} else if (replace ? renameat(dfd, tmp, dfd, name) : linkat(dfd, tmp, dfd, name, 0)) {
		if (errno == EEXIST)
			rc = 1;
		else
			errmsg_set(err, errlen, "%s/%s: %s", dir, name, strerror(errno));
	} else {
		rc = 0;
	}
	close(fd);
	unlinkat(dfd, tmp, 0); /* fails harmlessly after a rename */
	if (rc == 0 && fsync(dfd) < 0)
		return errmsg_set(err, errlen, "%s: %s", dir, strerror(errno));
	return rc;
}

/* Makes dir/attest.pub hold the public key line of key. */
static int ensure_public(int dfd, const char *dir, const struct attest_key *key, char *err,
			 size_t errlen)
{
	char want[128], have[130];
	size_t len = 0;
	int fd = openat(dfd, ATTEST_PUBLIC_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (attest_pubkey_format(key, want, sizeof(want)) < 0)
		fatal("public key line does not fit");
	if (fd >= 0) {
		int r = read_capped(fd, have, sizeof(have) - 1, &len);
		close(fd);
		if (r == 0 && len == strlen(want) && memcmp(have, want, len) == 0)
			return 0;
	}
	return write_file(dfd, dir, ATTEST_PUBLIC_NAME, want, 0644, true, err, errlen) == 0 ? 0
											    : -1;
}

int attest_signer_load_or_create(const char *state_dir, struct attest_signer **out, bool *created,
				 char *err, size_t errlen)
{
	unsigned char seed[ATTEST_SEED_LEN];
	char path[4096], line[128], b64[B64_KEY_LEN + 1];
	int dfd, fd, rc = -1;
	bool made = false;

	sodium_ready();
	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", state_dir, ATTEST_SECRET_NAME);
	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errmsg_set(err, errlen, "%s: %s", state_dir, strerror(errno));
	fd = openat(dfd, ATTEST_SECRET_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		randombytes_buf(seed, sizeof(seed));
		sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		snprintf(line, sizeof(line), "%s %s\n", ATTEST_SECRET_TAG, b64);
		sodium_memzero(b64, sizeof(b64));
		int w = write_file(dfd, state_dir, ATTEST_SECRET_NAME, line, 0600, false, err,
				   errlen);
		sodium_memzero(line, sizeof(line));
		if (w < 0)
			goto out;
		made = w == 0; /* 1: another process created it first; load that one */
		fd = openat(dfd, ATTEST_SECRET_NAME,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0) {
		errmsg_set(err, errlen, "%s: %s", path,
			   errno == ELOOP ? "is a symbolic link" : strerror(errno));
		goto out;
	}
	rc = read_secret(fd, path, seed, err, errlen);
	close(fd);
	if (rc < 0)
		goto out;
	rc = -1;
	*out = attest_signer_new_from_seed(seed);
	if (*out == NULL) {
		errmsg_set(err, errlen, "out of memory");
		goto out;
	}
	if (ensure_public(dfd, state_dir, &(*out)->pub, err, errlen) < 0) {
		attest_signer_free(*out);
		*out = NULL;
		goto out;
	}
	if (created != NULL)
		*created = made;
	rc = 0;
out:
	sodium_memzero(seed, sizeof(seed));
	close(dfd);
	return rc;
}

struct attest_trust *attest_trust_new(void)
{
	sodium_ready();
	return calloc(1, sizeof(struct attest_trust));
}

void attest_trust_free(struct attest_trust *t)
{
	if (t == NULL)
		return;
	free(t->keys);
	free(t);
}

size_t attest_trust_count(const struct attest_trust *t)
{
	return t->n;
}

const struct attest_key *attest_trust_get(const struct attest_trust *t, size_t idx)
{
	return idx < t->n ? &t->keys[idx] : NULL;
}

int attest_trust_add(struct attest_trust *t, const unsigned char pk[ATTEST_PK_LEN])
{
	for (size_t i = 0; i < t->n; i++) {
		if (memcmp(t->keys[i].pk, pk, ATTEST_PK_LEN) == 0)
			return 0;
	}
	if (t->n >= ATTEST_TRUST_MAX)
		return -1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct attest_key *k = realloc(t->keys, cap * sizeof(*k));
		if (k == NULL)
			return -1;
		t->keys = k;
		t->cap = cap;
	}
	memcpy(t->keys[t->n].pk, pk, ATTEST_PK_LEN);
	attest_key_id(pk, t->keys[t->n].id);
	t->n++;
	return 0;
}

/* Parses one non-comment line; 0 or -1 with the reason in *why. */
static int parse_key_line(const char *line, size_t len, unsigned char pk[ATTEST_PK_LEN],
			  const char **why)
{
	size_t taglen = strlen(ATTEST_PUBLIC_TAG);

	if (len < taglen + 1 + B64_KEY_LEN || memcmp(line, ATTEST_PUBLIC_TAG, taglen) != 0 ||
	    line[taglen] != ' ') {
		*why = "expected \"" ATTEST_PUBLIC_TAG " KEY\"";
		return -1;
	}
	line += taglen + 1;
	len -= taglen + 1;
	if ((len > B64_KEY_LEN && line[B64_KEY_LEN] != ' ') || decode_key(line, pk) < 0) {
		*why = "bad key";
		return -1;
	}
	return 0;
}

int attest_trust_parse(struct attest_trust *t, const char *text, size_t len, char *err,
		       size_t errlen)
{
	size_t n0 = t->n, lineno = 0, pos = 0;
	unsigned char pk[ATTEST_PK_LEN];
	const char *why = NULL;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;

		pos += ll + (nl != NULL);
		lineno++;
		if (ll >= LINE_MAX_LEN)
			why = "line too long";
		else if (memchr(line, '\0', ll) != NULL || memchr(line, '\r', ll) != NULL)
			why = "NUL or CR in line";
		else if (ll == 0 || line[0] == '#')
			continue;
		else if (parse_key_line(line, ll, pk, &why) == 0 && attest_trust_add(t, pk) < 0)
			why = "too many keys";
		if (why != NULL) {
			t->n = n0;
			return errmsg_set(err, errlen, "line %zu: %s", lineno, why);
		}
	}
	return 0;
}

static int load_file(struct attest_trust *t, int fd, const char *path, char *err, size_t errlen)
{
	char *buf = malloc(ATTEST_KEYFILE_MAX + 1);
	char why[160];
	size_t len = 0;
	int rc = -1;

	if (buf == NULL)
		return errmsg_set(err, errlen, "out of memory");
	if (read_capped(fd, buf, ATTEST_KEYFILE_MAX, &len) < 0)
		errmsg_set(err, errlen, "%s: %s", path,
			   errno == EFBIG ? "larger than the trusted-keys file limit"
					  : strerror(errno));
	else if (attest_trust_parse(t, buf, len, why, sizeof(why)) < 0)
		errmsg_set(err, errlen, "%s: %s", path, why);
	else
		rc = 0;
	free(buf);
	return rc;
}

static int load_dir(struct attest_trust *t, int fd, const char *path, char *err, size_t errlen)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		close(fd);
		return errmsg_set(err, errlen, "%s: %s", path, strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		char sub[4096];
		struct stat st;

		if (de->d_name[0] == '.' || nl < 5 || strcmp(de->d_name + nl - 4, ".pub") != 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		int f = openat(dirfd(d), de->d_name,
			       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (f < 0 || fstat(f, &st) < 0)
			rc = errmsg_set(err, errlen, "%s: %s", sub, strerror(errno));
		else if (S_ISREG(st.st_mode))
			rc = load_file(t, f, sub, err, errlen);
		if (f >= 0)
			close(f);
	}
	closedir(d);
	return rc;
}

int attest_trust_load(struct attest_trust *t, const char *path, char *err, size_t errlen)
{
	size_t n0 = t->n;
	struct stat st;
	int rc, fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = errmsg_set(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else if (S_ISDIR(st.st_mode)) {
		rc = load_dir(t, fd, path, err, errlen);
	} else if (S_ISREG(st.st_mode)) {
		rc = load_file(t, fd, path, err, errlen);
		close(fd);
	} else {
		rc = errmsg_set(err, errlen, "%s: neither a file nor a directory", path);
		close(fd);
	}
	if (rc < 0)
		t->n = n0;
	return rc;
}

const struct attest_key *attest_trust_find(const struct attest_trust *t, const char *key_id,
					   size_t idx)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->keys[i].id, key_id) == 0 && idx-- == 0)
			return &t->keys[i];
	}
	return NULL;
}
