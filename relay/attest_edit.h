/*
 * The header edits that go with a stamp (the edge's smtp process, before it
 * signs an accepted message): every incoming X-Airlock-* field goes
 * (attest_strip_incoming()), and so does every copy of scan.result_header,
 * which is set anew at the top. The body is never touched, so the body hash
 * of the stamp is the same before and after them.
 *
 * Most messages carry none of the fields that go: for them the edits only
 * put fields at the top, and attest_edit_prefix() says so from the header
 * section alone, so that the spool writes that prefix in front of the
 * content instead of writing the whole message again (queue_tx_prefix()).
 * Input is untrusted; lines as in attest.h and scan_rewrite.h.
 */
#ifndef AIRLOCK_ATTEST_EDIT_H
#define AIRLOCK_ATTEST_EDIT_H

#include <stddef.h>

/*
 * The edited message of msg[0..len) into *out (malloc'd, the caller frees
 * it; *outlen its length): X-Airlock-* fields removed (their number in
 * *nstrip), then, when result_name is not empty, every result_name field
 * removed and "result_name: result_value" added at the top. result_name is
 * a checked field name and result_value has no control characters. Returns
 * 0, or -1 when memory runs out.
 */
int attest_edit(const char *msg, size_t len, const char *result_name, const char *result_value,
		char **out, size_t *outlen, size_t *nstrip);

/*
 * For a message whose header section is hdr[0..hlen) (every octet up to and
 * including the empty line that ends it, or the whole message when it has
 * none): 1 when attest_edit() of the whole message is *prefix[0..*plen) (the
 * caller frees it) followed by the message unchanged; 0 when the edits
 * remove something, so that the whole message must be written again; -1
 * when memory runs out.
 */
int attest_edit_prefix(const char *hdr, size_t hlen, const char *result_name,
		       const char *result_value, char **prefix, size_t *plen);

#endif
