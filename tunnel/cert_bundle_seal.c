/*
 * Enrollment bundle sealing and opening (Argon2id, XChaCha20-Poly1305) and the
 * one-time passphrase. Formats are documented in cert_bundle.h.
 *
 * XChaCha20-Poly1305 with the header as associated data rather than
 * secretbox: the key is the same Argon2id output and the random nonce is as
 * long, but secretbox cannot authenticate anything outside the ciphertext,
 * so magic, version and kdf fields would be covered only indirectly (through
 * the derived key) or not at all. With the header as AD every header octet is
 * bound to the ciphertext by construction, including fields added later.
 */
#include "tunnel/cert_bundle.h"
#include "common/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"

#define SEALED_MAGIC   "ALBUNDLE"
#define KDF_ARGON2ID   1
#define SALT_LEN       crypto_pwhash_argon2id_SALTBYTES
#define NONCE_LEN      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEY_LEN	       crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define OPS_CAP	       16u
#define MEM_CAP	       (UINT64_C(1) << 30)
#define GROUPS	       6
#define GROUP_LEN      5
#define MSG_UNREADABLE "wrong passphrase or damaged file"

_Static_assert(8 + 1 + 1 + 4 + 8 + SALT_LEN + NONCE_LEN == CERT_BUNDLE_HEADER_LEN, "header");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == CERT_BUNDLE_TAG_LEN, "tag");
_Static_assert(GROUPS *(GROUP_LEN + 1) - 1 == CERT_BUNDLE_PASSPHRASE_LEN, "passphrase");

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

static void sodium_ready(void)
{
	if (sodium_init() < 0)
		fatal("sodium_init failed");
}

static unsigned char *put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	return p + n;
}

static uint64_t get_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

struct cert_bundle_kdf cert_bundle_kdf_moderate(void)
{
	return (struct cert_bundle_kdf){crypto_pwhash_argon2id_OPSLIMIT_MODERATE,
					crypto_pwhash_argon2id_MEMLIMIT_MODERATE};
}

struct cert_bundle_kdf cert_bundle_kdf_interactive(void)
{
	return (struct cert_bundle_kdf){crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
					crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}

void cert_bundle_open_opts_init(struct cert_bundle_open_opts *o, int64_t now)
{
	o->now = now;
	o->max_skew = CERT_BUNDLE_SKEW;
	o->min = cert_bundle_kdf_interactive();
	o->max = (struct cert_bundle_kdf){OPS_CAP, MEM_CAP};
}

static int derive(unsigned char key[KEY_LEN], const char *pass, const unsigned char *salt,
		  uint64_t ops, uint64_t mem)
{
	return crypto_pwhash(key, KEY_LEN, pass, strlen(pass), salt, ops, (size_t)mem,
			     crypto_pwhash_ALG_ARGON2ID13);
}

static int pass_ok(const char *pass)
{
	size_t len = strnlen(pass, CERT_BUNDLE_PASS_MAX + 1);
	return len > 0 && len <= CERT_BUNDLE_PASS_MAX;
}

int cert_bundle_seal(const struct cert_bundle *b, const char *passphrase,
		     const struct cert_bundle_kdf *kdf, unsigned char **out, size_t *outlen,
		     char *err, size_t errlen)
{
	struct cert_bundle_kdf k = kdf != NULL ? *kdf : cert_bundle_kdf_moderate();
	unsigned char key[KEY_LEN], *plain = NULL, *buf, *p;
	size_t plain_len = 0;
	unsigned long long clen = 0;

	sodium_ready();
	if (!pass_ok(passphrase))
		return errmsg_set(err, errlen, "passphrase must be 1..%d octets",
				  CERT_BUNDLE_PASS_MAX);
	if (k.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || k.opslimit > OPS_CAP ||
	    k.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN || k.memlimit > MEM_CAP)
		return errmsg_set(err, errlen, "key derivation parameters out of range");
	if (cert_bundle_serialize(b, &plain, &plain_len) < 0)
		return errmsg_set(err, errlen, "out of memory");
	buf = malloc(CERT_BUNDLE_HEADER_LEN + plain_len + CERT_BUNDLE_TAG_LEN);
	if (buf == NULL) {
		sodium_memzero(plain, plain_len);
		free(plain);
		return errmsg_set(err, errlen, "out of memory");
	}
	memcpy(buf, SEALED_MAGIC, 8);
	p = put_be(buf + 8, CERT_BUNDLE_VERSION, 1);
	p = put_be(p, KDF_ARGON2ID, 1);
	p = put_be(p, k.opslimit, 4);
	p = put_be(p, k.memlimit, 8);
	randombytes_buf(p, SALT_LEN + NONCE_LEN);
	if (derive(key, passphrase, p, k.opslimit, k.memlimit) != 0) {
		sodium_memzero(plain, plain_len);
		free(plain);
		free(buf);
		return errmsg_set(err, errlen, "out of memory deriving the key");
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + CERT_BUNDLE_HEADER_LEN, &clen, plain,
						   plain_len, buf, CERT_BUNDLE_HEADER_LEN, NULL,
						   p + SALT_LEN, key);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, plain_len);
	free(plain);
	*out = buf;
	*outlen = CERT_BUNDLE_HEADER_LEN + (size_t)clen;
	return 0;
}

static enum cert_bundle_status refuse(enum cert_bundle_status st, char *err, size_t errlen,
				      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum cert_bundle_status refuse(enum cert_bundle_status st, char *err, size_t errlen,
				      const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "cannot open bundle: ");

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* Checks the header of a sealed bundle at least HEADER + TAG octets long. */
static enum cert_bundle_status check_header(const unsigned char *h, size_t len,
					    const struct cert_bundle_open_opts *o,
					    struct cert_bundle_kdf *k, char *err, size_t errlen)
{
	uint64_t version = h[8], kdf = h[9], ops = get_be(h + 10, 4), mem = get_be(h + 14, 8);

	if (memcmp(h, SEALED_MAGIC, 8) != 0)
		return refuse(CERT_BUNDLE_NOT_BUNDLE, err, errlen,
			      "not an airlock enrollment bundle");
	if (len > CERT_BUNDLE_SEALED_MAX)
		return refuse(CERT_BUNDLE_NOT_BUNDLE, err, errlen, "larger than %d octets",
			      CERT_BUNDLE_SEALED_MAX);
	if (version != CERT_BUNDLE_VERSION)
		return refuse(CERT_BUNDLE_UNSUPPORTED, err, errlen,
			      "format version %u is not supported (expected %d)", (unsigned)version,
			      CERT_BUNDLE_VERSION);
	if (kdf != KDF_ARGON2ID)
		return refuse(CERT_BUNDLE_UNSUPPORTED, err, errlen,
			      "key derivation %u is not supported", (unsigned)kdf);
	if (ops < o->min.opslimit || ops > o->max.opslimit || mem < o->min.memlimit ||
	    mem > o->max.memlimit || ops < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
	    mem < crypto_pwhash_argon2id_MEMLIMIT_MIN || ops > OPS_CAP || mem > MEM_CAP)
		return refuse(CERT_BUNDLE_BAD_PARAMS, err, errlen,
			      "key derivation parameters out of range (opslimit %llu, memlimit "
			      "%llu)",
			      (unsigned long long)ops, (unsigned long long)mem);
	k->opslimit = (uint32_t)ops;
	k->memlimit = mem;
	return CERT_BUNDLE_OK;
}

enum cert_bundle_status cert_bundle_open(const unsigned char *sealed, size_t len,
					 const char *passphrase,
					 const struct cert_bundle_open_opts *o,
					 struct cert_bundle **out, char *err, size_t errlen)
{
	const unsigned char *salt;
	unsigned char key[KEY_LEN], *plain;
	struct cert_bundle_kdf k = {0};
	size_t plain_len;
	char why[200];
	enum cert_bundle_status st;
	int rc;

	*out = NULL;
	sodium_ready();
	if (len < CERT_BUNDLE_HEADER_LEN + CERT_BUNDLE_TAG_LEN)
		return refuse(CERT_BUNDLE_NOT_BUNDLE, err, errlen,
			      "not an airlock enrollment bundle (too short)");
	st = check_header(sealed, len, o, &k, err, errlen);
	if (st != CERT_BUNDLE_OK)
		return st;
	if (!pass_ok(passphrase))
		return refuse(CERT_BUNDLE_UNREADABLE, err, errlen, MSG_UNREADABLE);
	salt = sealed + CERT_BUNDLE_HEADER_LEN - SALT_LEN - NONCE_LEN;
	plain_len = len - CERT_BUNDLE_HEADER_LEN - CERT_BUNDLE_TAG_LEN;
	plain = malloc(plain_len > 0 ? plain_len : 1);
	if (plain == NULL)
		return refuse(CERT_BUNDLE_NO_MEMORY, err, errlen, "out of memory");
	if (derive(key, passphrase, salt, k.opslimit, k.memlimit) != 0) {
		free(plain);
		return refuse(CERT_BUNDLE_NO_MEMORY, err, errlen, "out of memory deriving the key");
	}
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
		plain, NULL, NULL, sealed + CERT_BUNDLE_HEADER_LEN, len - CERT_BUNDLE_HEADER_LEN,
		sealed, CERT_BUNDLE_HEADER_LEN, salt + SALT_LEN, key);
	sodium_memzero(key, sizeof(key));
	if (rc != 0) {
		free(plain);
		return refuse(CERT_BUNDLE_UNREADABLE, err, errlen, MSG_UNREADABLE);
	}
	st = cert_bundle_parse_plain(plain, plain_len, out, why, sizeof(why));
	sodium_memzero(plain, plain_len);
	free(plain);
	if (st == CERT_BUNDLE_NO_MEMORY)
		return refuse(st, err, errlen, "out of memory");
	if (st != CERT_BUNDLE_OK)
		return refuse(st, err, errlen, "content malformed: %s", why);
	st = cert_bundle_check_time(cert_bundle_meta(*out), o->now, o->max_skew, err, errlen);
	if (st != CERT_BUNDLE_OK) {
		cert_bundle_free(*out);
		*out = NULL;
	}
	return st;
}

char *cert_bundle_passphrase_new(void)
{
	char *p = malloc(CERT_BUNDLE_PASSPHRASE_LEN + 1), *w = p;

	sodium_ready();
	if (p == NULL)
		return NULL;
	for (int g = 0; g < GROUPS; g++) {
		if (g > 0)
			*w++ = '-';
		for (int i = 0; i < GROUP_LEN; i++)
			*w++ = b32[randombytes_uniform(32)];
	}
	*w = '\0';
	return p;
}

void cert_bundle_passphrase_free(char *pass)
{
	if (pass == NULL)
		return;
	sodium_memzero(pass, strlen(pass));
	free(pass);
}

/* The canonical character for c, or 0 if c is not base32. */
static char canon_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (c == 'i' || c == 'l')
		return '1';
	if (c == 'o')
		return '0';
	return c != '\0' && strchr(b32, c) != NULL ? (char)c : 0;
}

int cert_bundle_passphrase_canon(const char *in, char out[CERT_BUNDLE_PASSPHRASE_LEN + 1])
{
	size_t n = 0, len = strlen(in);
	int sep_ok = 0;
	char *w = out;

	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	while (len > 0 && (*in == ' ' || *in == '\t'))
		in++, len--;
	for (size_t i = 0; i < len; i++) {
		char c = canon_char((unsigned char)in[i]);

		if ((in[i] == '-' || in[i] == ' ') && sep_ok) {
			sep_ok = 0;
			continue;
		}
		if (c == 0 || n == GROUPS * GROUP_LEN)
			goto bad;
		if (n > 0 && n % GROUP_LEN == 0)
			*w++ = '-';
		*w++ = c;
		n++;
		sep_ok = n % GROUP_LEN == 0 && n < GROUPS * GROUP_LEN;
	}
	if (n != GROUPS * GROUP_LEN)
		goto bad;
	*w = '\0';
	return 0;
bad:
	sodium_memzero(out, CERT_BUNDLE_PASSPHRASE_LEN + 1);
	return -1;
}
