/*
 * Attestation key pairs in relay/attest_keys.h's file format (see acert_attest.h).
 */
#include "tunnel/airlock_cert/acert_attest.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PUBLIC_TAG  "airlock-attest-ed25519"
#define SECRET_TAG  "airlock-attest-ed25519-secret"
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static void key_id(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		   char out[ACERT_ATTEST_KEYID_LEN + 1])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
	sodium_bin2hex(out, ACERT_ATTEST_KEYID_LEN + 1, h, ACERT_ATTEST_KEYID_LEN / 2);
}

int acert_attest_new(struct acert_attest *out)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
		sk[crypto_sign_SECRETKEYBYTES];
	char b64[sodium_base64_ENCODED_LEN(32, B64_VARIANT)];

	memset(out, 0, sizeof(*out));
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	key_id(pk, out->key_id);
	sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed), B64_VARIANT);
	snprintf(out->secret_line, sizeof(out->secret_line), "%s %s\n", SECRET_TAG, b64);
	sodium_bin2base64(b64, sizeof(b64), pk, sizeof(pk), B64_VARIANT);
	snprintf(out->public_line, sizeof(out->public_line), "%s %s %s\n", PUBLIC_TAG, b64,
		 out->key_id);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(b64, sizeof(b64));
	return 0;
}

void acert_attest_wipe(struct acert_attest *a)
{
	sodium_memzero(a->secret_line, sizeof(a->secret_line));
}

int acert_attest_pub_id(const char *line, size_t len, char out[ACERT_ATTEST_KEYID_LEN + 1])
{
	const size_t tag = strlen(PUBLIC_TAG);
	const size_t b64len = sodium_base64_ENCODED_LEN(32, B64_VARIANT) - 1;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	size_t pklen;

	if (len < tag + 1 + b64len || memcmp(line, PUBLIC_TAG, tag) != 0 || line[tag] != ' ')
		return -1;
	if (len > tag + 1 + b64len && line[tag + 1 + b64len] != ' ' &&
	    line[tag + 1 + b64len] != '\n')
		return -1;
	if (sodium_base642bin(pk, sizeof(pk), line + tag + 1, b64len, NULL, &pklen, NULL,
			      B64_VARIANT) != 0 ||
	    pklen != sizeof(pk))
		return -1;
	key_id(pk, out);
	return 0;
}
