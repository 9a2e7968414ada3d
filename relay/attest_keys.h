/*
 * Scan attestation keys: the edge's Ed25519 signing key in the state
 * directory, and the hub's set of trusted edge public keys.
 *
 * Files (text, one line each, LF-terminated; base64url is RFC 4648 §5
 * without padding, as libsodium's URLSAFE_NO_PADDING variant writes it):
 *
 *	STATE_DIR/attest.key	"airlock-attest-ed25519-secret SEED\n"
 *				SEED: the 32-octet Ed25519 seed, base64url (43 characters).
 *				Mode 0600, owned by the effective user, one link, no symlink.
 *	STATE_DIR/attest.pub	"airlock-attest-ed25519 PUBKEY KEYID\n"
 *				PUBKEY: the 32-octet public key, base64url (43 characters);
 *				KEYID: attest_key_id() of it, for people (readers ignore it).
 *				Mode 0644.
 *
 * A trusted-keys file holds any number of public key lines
 * "airlock-attest-ed25519 PUBKEY [comment]", plus empty lines and lines
 * starting with '#'. The comment (anything after one SP) usually names the
 * edge; an attest.pub copied from an edge is a valid trusted-keys file. A
 * trusted-keys directory is read as every regular file in it whose name ends
 * in ".pub" (other names are skipped, so editor backups do not count).
 *
 * Key ids: ATTEST_KEYID_LEN lowercase hex digits, the first 8 octets of
 * BLAKE2b-256 of the public key. They only select the key to try; a
 * signature is always checked with the full key.
 *
 * Errors here are start-up errors: functions return -1 with a one-line
 * reason in err (it may name the file, never quotes file content) and the
 * caller prints it and exits.
 */
#ifndef AIRLOCK_ATTEST_KEYS_H
#define AIRLOCK_ATTEST_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define ATTEST_PK_LEN	   32 /* crypto_sign_PUBLICKEYBYTES */
#define ATTEST_SK_LEN	   64 /* crypto_sign_SECRETKEYBYTES */
#define ATTEST_SEED_LEN	   32 /* crypto_sign_SEEDBYTES */
#define ATTEST_KEYID_LEN   16
#define ATTEST_TRUST_MAX   1024	       /* public keys in one trust set */
#define ATTEST_KEYFILE_MAX (64 * 1024) /* octets of one trusted-keys file */
#define ATTEST_SECRET_NAME "attest.key"
#define ATTEST_PUBLIC_NAME "attest.pub"
#define ATTEST_PUBLIC_TAG  "airlock-attest-ed25519"
#define ATTEST_SECRET_TAG  "airlock-attest-ed25519-secret"

/* A public key and its id (NUL-terminated). */
struct attest_key {
	unsigned char pk[ATTEST_PK_LEN];
	char id[ATTEST_KEYID_LEN + 1];
};

/* The edge's key pair. sk is wiped by attest_signer_free(). */
struct attest_signer {
	struct attest_key pub;
	unsigned char sk[ATTEST_SK_LEN];
};

/* Set of trusted public keys; opaque. */
struct attest_trust;

/* Writes the key id of pk into out. */
void attest_key_id(const unsigned char pk[ATTEST_PK_LEN], char out[ATTEST_KEYID_LEN + 1]);

/*
 * A signer derived from a 32-octet seed (tests and tools; the daemon uses
 * attest_signer_load_or_create()). Returns a new signer (gets owned by the
 * caller, attest_signer_free()), or NULL when out of memory.
 */
struct attest_signer *attest_signer_new_from_seed(const unsigned char seed[ATTEST_SEED_LEN]);

/* Wipes the secret key and frees. NULL is accepted. */
void attest_signer_free(struct attest_signer *s);

/*
 * Loads STATE_DIR/attest.key, or, when it does not exist, generates a new
 * key pair and writes it (O_EXCL, mode 0600, fsync, then link into place, so
 * two processes starting at once end up with the same key). Writes
 * attest.pub when it is missing. Refuses a secret key file that is a
 * symlink, not a regular file, not owned by the effective user, has more than
 * one link, is accessible to group or others (mode & 077), or does not hold
 * exactly one well-formed line. *created (may be NULL) tells whether a key was
 * generated. On success *out gets owned by the caller. Returns 0 or -1.
 */
int attest_signer_load_or_create(const char *state_dir, struct attest_signer **out, bool *created,
				 char *err, size_t errlen);

/*
 * Writes the public key line "airlock-attest-ed25519 PUBKEY KEYID\n" of key
 * into out (outlen octets, NUL-terminated). Returns its length, or -1 if
 * outlen is too small.
 */
int attest_pubkey_format(const struct attest_key *key, char *out, size_t outlen);

/* A new empty trust set (gets owned by the caller), or NULL when out of memory. */
struct attest_trust *attest_trust_new(void);

/* NULL is accepted. */
void attest_trust_free(struct attest_trust *t);

/*
 * Adds pk. A key already in the set is not added twice. Returns 0, or -1
 * when the set holds ATTEST_TRUST_MAX keys or memory is short.
 */
int attest_trust_add(struct attest_trust *t, const unsigned char pk[ATTEST_PK_LEN]);

/*
 * Parses trusted-keys text (text[0..len), untrusted: no NUL, CR or over-long
 * line accepted) and adds every key. All or nothing: on -1 the set is
 * unchanged. err says which line is wrong and why.
 */
int attest_trust_parse(struct attest_trust *t, const char *text, size_t len, char *err,
		       size_t errlen);

/*
 * Loads a trusted-keys file, or every *.pub file of a directory (not
 * recursive; a *.pub that is a symlink is an error), into t. Files larger than
 * ATTEST_KEYFILE_MAX are refused. An empty result is not an error here; the
 * caller decides whether an empty set is acceptable. Returns 0 or -1.
 */
int attest_trust_load(struct attest_trust *t, const char *path, char *err, size_t errlen);

/* Number of keys in t. */
size_t attest_trust_count(const struct attest_trust *t);

/* The idx-th key in insertion order, or NULL past the end (internal data of t). */
const struct attest_key *attest_trust_get(const struct attest_trust *t, size_t idx);

/*
 * The idx-th key (0-based, in insertion order) whose id equals key_id, or
 * NULL when there is none. Ids can collide, so a verifier tries idx = 0, 1,
 * ... until NULL. The result is internal data of t.
 */
const struct attest_key *attest_trust_find(const struct attest_trust *t, const char *key_id,
					   size_t idx);

#endif
