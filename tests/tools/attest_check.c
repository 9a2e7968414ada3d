/*
 * attest_check: verifies the X-Airlock-Scan stamp of a message file with the
 * edge's public key, for the scenario tests (Python has no Ed25519 in its
 * standard library).
 *
 * usage: attest_check TRUSTED_KEYS MESSAGE [MAX_AGE_SECONDS]
 *
 * TRUSTED_KEYS is an attest.pub or a trusted-keys file or directory;
 * MESSAGE a whole message (header section, empty line, body; CRLF lines).
 * Prints the result name ("ok", "body-mismatch"...) and the stamp's id and
 * verdict, and exits 0 only for "ok". Unscanned stamps count as ok.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/attest.h"

#define MESSAGE_MAX (256u * 1024 * 1024)

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			if (cap >= MESSAGE_MAX) {
				free(buf);
				buf = NULL;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: attest_check TRUSTED_KEYS MESSAGE [MAX_AGE_SECONDS]\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 2;
	char err[256];
	struct attest_trust *trust = attest_trust_new();
	if (!trust || attest_trust_load(trust, argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "attest_check: %s\n", trust ? err : "out of memory");
		return 2;
	}
	size_t len;
	char *msg = read_file(argv[2], &len);
	if (!msg) {
		fprintf(stderr, "attest_check: cannot read %s\n", argv[2]);
		return 2;
	}
	struct attest_verify_opts opts = {
		.now = time(NULL),
		.max_age = argc == 4 ? atoll(argv[3]) : 86400,
		.max_skew = 300,
		.accept_unscanned = true,
	};
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	err[0] = '\0';
	enum attest_result r = attest_verify_message(msg, len, trust, &opts, &st, err, sizeof(err));
	printf("%s id=%s verdict=%s%s%s\n", attest_result_name(r), st.id,
	       attest_verdict_name(st.verdict) ? attest_verdict_name(st.verdict) : "-",
	       err[0] ? " reason=" : "", err);
	free(msg);
	attest_trust_free(trust);
	return r == ATTEST_OK ? 0 : 1;
}
