#include "relay/attest_edit.h"

#include <stdlib.h>
#include <string.h>

#include "relay/attest.h"
#include "relay/scan_rewrite.h"

int attest_edit(const char *msg, size_t len, const char *result_name, const char *result_value,
		char **out, size_t *outlen, size_t *nstrip)
{
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return -1;
	memcpy(buf, msg, len);
	len = attest_strip_incoming(buf, len, nstrip);
	if (!result_name[0]) {
		*out = buf;
		*outlen = len;
		return 0;
	}
	struct rules_action rm = {.kind = RULES_ACT_REMOVE_HEADER, .remove_header = {result_name}};
	struct rules_action add = {.kind = RULES_ACT_ADD_HEADER,
				   .add_header = {result_name, result_value}};
	const struct rules_action *acts[] = {&rm, &add};
	int rc = scan_rewrite_headers(buf, len, acts, 2, out, outlen);
	free(buf);
	return rc < 0 ? -1 : 0;
}

int attest_edit_prefix(const char *hdr, size_t hlen, const char *result_name,
		       const char *result_value, char **prefix, size_t *plen)
{
	char *out;
	size_t olen, nstrip;
	if (attest_edit(hdr, hlen, result_name, result_value, &out, &olen, &nstrip) < 0)
		return -1;
	/* Nothing removed, and what was there is the tail of what came out. */
	if (nstrip > 0 || olen < hlen || memcmp(out + (olen - hlen), hdr, hlen) != 0) {
		free(out);
		return 0;
	}
	*plen = olen - hlen;
	*prefix = out; /* its first *plen octets */
	return 1;
}
