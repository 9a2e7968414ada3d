/*
 * The edge's scan-attestation key pair, made by airlock-cert (bundle on the
 * hub, rotate on the edge). The files follow the format documented in
 * relay/attest_keys.h exactly; tunnel/ must not depend on relay/, so the few
 * lines that write that format are repeated here with libsodium, and a unit
 * test reads what this writes with relay's loader.
 *
 *	attest.key	"airlock-attest-ed25519-secret SEED\n"   (mode 0600)
 *	attest.pub	"airlock-attest-ed25519 PUBKEY KEYID\n"  (mode 0644)
 */
#ifndef AIRLOCK_ACERT_ATTEST_H
#define AIRLOCK_ACERT_ATTEST_H

#include <stddef.h>

#define ACERT_ATTEST_LINE_MAX  160
#define ACERT_ATTEST_KEYID_LEN 16

struct acert_attest {
	char secret_line[ACERT_ATTEST_LINE_MAX]; /* wiped by acert_attest_wipe() */
	char public_line[ACERT_ATTEST_LINE_MAX];
	char key_id[ACERT_ATTEST_KEYID_LEN + 1];
};

/* A new random key pair in file form. Returns 0, or -1 if libsodium failed to start. */
int acert_attest_new(struct acert_attest *out);

/* Wipes the secret line. */
void acert_attest_wipe(struct acert_attest *a);

/*
 * The key id of a public key line ("airlock-attest-ed25519 PUBKEY ..."),
 * computed from PUBKEY, into out. Returns 0, or -1 if line is not one.
 */
int acert_attest_pub_id(const char *line, size_t len, char out[ACERT_ATTEST_KEYID_LEN + 1]);

#endif
