/*
 * Fuzz target for relay/smtp_addr. The first octet picks the role and
 * whether UTF-8 is allowed; the rest is parsed as a path, a bare mailbox
 * and a domain. Invariants: consumption stays inside the input and ends at
 * '>', outputs are NUL-terminated and within the limits, the domain is
 * lowercase, no non-ASCII without utf8_ok, and normalising is idempotent
 * (the normalised mailbox parses back to itself).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_addr.h"

#include "fuzz_check.h"

static void check_addr(const struct smtp_addr *a, bool utf8_ok)
{
	size_t mlen = strnlen(a->mailbox, sizeof(a->mailbox));
	size_t llen = strnlen(a->local, sizeof(a->local));
	size_t dlen = strnlen(a->domain, sizeof(a->domain));

	CHECK(mlen < sizeof(a->mailbox) && llen < sizeof(a->local) && dlen < sizeof(a->domain));
	CHECK(mlen + 2 <= SMTP_ADDR_PATH_MAX);
	CHECK(llen <= SMTP_ADDR_LOCAL_MAX);
	for (size_t i = 0; i < dlen; i++)
		CHECK(a->domain[i] < 'A' || a->domain[i] > 'Z' || a->literal);
	bool nonascii = false;
	for (size_t i = 0; i < mlen; i++)
		nonascii |= (unsigned char)a->mailbox[i] >= 0x80;
	CHECK(nonascii == a->utf8);
	CHECK(!a->utf8 || utf8_ok);
	if (!a->null_path && !a->postmaster) {
		CHECK(llen + 1 + dlen == mlen);
		CHECK(memcmp(a->mailbox, a->local, llen) == 0 && a->mailbox[llen] == '@');
		CHECK(strcmp(a->mailbox + llen + 1, a->domain) == 0);
	}
}

/* The normalised form must parse back to exactly itself. */
static void check_roundtrip(const struct smtp_addr *a, enum smtp_role role, bool utf8_ok)
{
	char path[SMTP_ADDR_PATH_MAX + 2];
	struct smtp_addr again;
	size_t used, mlen = strlen(a->mailbox);

	path[0] = '<';
	memcpy(path + 1, a->mailbox, mlen);
	path[mlen + 1] = '>';
	CHECK(smtp_addr_parse_path(path, mlen + 2, role, utf8_ok, &again, &used) == SMTP_OK);
	CHECK(used == mlen + 2);
	CHECK(strcmp(again.mailbox, a->mailbox) == 0);
	CHECK(strcmp(again.domain, a->domain) == 0);
	CHECK(strcmp(again.local, a->local) == 0);
	CHECK(again.null_path == a->null_path && again.postmaster == a->postmaster);
	CHECK(again.literal == a->literal && again.utf8 == a->utf8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum smtp_role role = (data[0] & 1) ? SMTP_ROLE_RECIPIENT : SMTP_ROLE_SENDER;
	bool utf8_ok = (data[0] & 2) != 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	struct smtp_addr a;
	size_t used = 0;

	enum smtp_err err = smtp_addr_parse_path(s, len, role, utf8_ok, &a, &used);
	CHECK((unsigned)err < SMTP_ERR_COUNT);
	if (err == SMTP_OK) {
		CHECK(used >= 2 && used <= len && used <= SMTP_ADDR_PATH_MAX);
		CHECK(s[0] == '<' && s[used - 1] == '>');
		CHECK(!a.null_path || role == SMTP_ROLE_SENDER);
		CHECK(!a.postmaster || role == SMTP_ROLE_RECIPIENT);
		check_addr(&a, utf8_ok);
		check_roundtrip(&a, role, utf8_ok);
	} else {
		CHECK(used == 0 && a.mailbox[0] == '\0');
		CHECK(smtp_err_reply(err, role) != NULL);
	}

	err = smtp_addr_parse_mailbox(s, len, utf8_ok, &a);
	if (err == SMTP_OK) {
		check_addr(&a, utf8_ok);
		check_roundtrip(&a, SMTP_ROLE_RECIPIENT, utf8_ok);
	}

	err = smtp_addr_check_domain(s, len, utf8_ok);
	if (err == SMTP_OK)
		CHECK(len >= 1 && (len <= SMTP_ADDR_DOMAIN_MAX || s[0] == '['));
	return 0;
}
