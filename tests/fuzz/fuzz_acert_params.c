/*
 * Fuzz target for airlock-cert's "key=value" reader (acert_params.c), which
 * reads the conn.params entry of an enrollment bundle and the role file, and
 * for the connection built from it (acert_frag.c). Invariants: an accepted
 * text formats back to a text that parses to the same set; a connection that
 * passes the checks yields a swanctl fragment and a VICI message that
 * encodes, and its values contain no character that could end a line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/airlock_cert/acert_frag.h"
#include "tunnel/airlock_cert/acert_params.h"

#include "fuzz_check.h"

static struct acert_params p, q;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (acert_params_parse((const char *)data, size, &p, err, sizeof(err)) != 0) {
		CHECK(err[0] != '\0');
		return 0;
	}
	size_t len;
	char *text = acert_params_format(&p, &len);
	CHECK(text != NULL);
	CHECK(acert_params_parse(text, len, &q, err, sizeof(err)) == 0);
	CHECK(p.n == q.n);
	for (size_t i = 0; i < p.n; i++) {
		CHECK(strcmp(p.kv[i].key, q.kv[i].key) == 0);
		CHECK(strcmp(p.kv[i].value, q.kv[i].value) == 0);
	}
	free(text);

	struct acert_conn c;
	if (acert_conn_from_params(&p, &c, err, sizeof(err)) != 0)
		return 0;
	char *frag = acert_frag_swanctl(&c);
	CHECK(frag != NULL);
	CHECK(strchr(c.local_id, '\n') == NULL && strchr(c.remote_ts, '}') == NULL);
	free(frag);
	struct vici_builder *b = acert_frag_vici_conn(&c, "ca");
	const uint8_t *msg;
	size_t msglen;
	CHECK(b != NULL && vici_builder_finish(b, &msg, &msglen) == 0);
	vici_builder_free(b);
	return 0;
}
