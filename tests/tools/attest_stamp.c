/*
 * attest_stamp: stamps a message with an X-Airlock-Scan header signed by a
 * test edge key, as the edge does after a clean scan, for the hub's scenario
 * tests.
 *
 * usage: attest_stamp STATE_DIR [-t UNIX_TIME] [-u] [-i ID] < MESSAGE > STAMPED
 *
 * STATE_DIR holds attest.key / attest.pub (relay/attest_keys.h); a new key
 * pair is created there when it is missing, so STATE_DIR/attest.pub can be the
 * hub's hub.trusted_keys. -t signs another scan time (stale / future stamps),
 * -u stamps verdict=unscanned. MESSAGE is a whole message with CRLF lines; the
 * field is written in front of it and any X-Airlock-* field it had is
 * removed first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "relay/attest.h"

#define MESSAGE_MAX (64u * 1024 * 1024)

int main(int argc, char **argv)
{
	const char *id = "TESTSTAMP1";
	long long t = (long long)time(NULL);
	bool unscanned = false;
	int opt;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: attest_stamp STATE_DIR [-t TIME] [-u] [-i ID]\n");
		return 2;
	}
	const char *dir = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "t:ui:")) != -1) {
		switch (opt) {
		case 't':
			t = atoll(optarg);
			break;
		case 'u':
			unscanned = true;
			break;
		case 'i':
			id = optarg;
			break;
		default:
			return 2;
		}
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "attest_stamp: out of memory\n");
			return 1;
		}
		size_t got = fread(buf + len, 1, cap - len, stdin);
		len += got;
		if (got == 0)
			break;
		if (len == cap) {
			if (cap >= MESSAGE_MAX) {
				fprintf(stderr, "attest_stamp: message too large\n");
				return 1;
			}
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	char err[512];
	struct attest_signer *signer = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		snprintf(err, sizeof(err), "%s: %s", dir, strerror(errno));
	else if (attest_signer_load_or_create(dir, &signer, NULL, err, sizeof(err)) == 0)
		err[0] = '\0';
	if (!signer) {
		fprintf(stderr, "attest_stamp: %s\n", err);
		free(buf);
		return 1;
	}
	len = attest_strip_incoming(buf, len, NULL);
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	snprintf(st.id, sizeof(st.id), "%s", id);
	st.time = t;
	snprintf(st.engine, sizeof(st.engine), "ClamAV 1.0.0");
	snprintf(st.db, sizeof(st.db), "27000");
	st.verdict = unscanned ? ATTEST_VERDICT_UNSCANNED : ATTEST_VERDICT_CLEAN;
	attest_body_hash(buf, len, st.body_hash);
	char field[ATTEST_FIELD_MAX];
	int flen;
	if (attest_sign(&st, signer) < 0 ||
	    (flen = attest_format_field(&st, field, sizeof(field))) < 0) {
		fprintf(stderr, "attest_stamp: cannot sign (bad id or time?)\n");
		attest_signer_free(signer);
		free(buf);
		return 1;
	}
	attest_signer_free(signer);
	if (fwrite(field, 1, (size_t)flen, stdout) != (size_t)flen ||
	    fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "attest_stamp: write error\n");
		return 1;
	}
	free(buf);
	return 0;
}
