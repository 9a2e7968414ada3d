/*
 * The hub's replies to the edge, made from the internal MTA's (pure): see
 * hub_proxy.h.
 */
#include "relay/hub/hub_proxy.h"

#include <stdio.h>
#include <string.h>

/* Copies text into out, replacing anything but printable ASCII by '?'. */
static void copy_printable(char *out, size_t outsz, const char *text)
{
	size_t i = 0;
	if (!outsz)
		return;
	for (; text[i] && i + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[i] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	out[i] = '\0';
}

/* A reply line "NXX text" whose first digit is cls and whose code is code. */
static bool well_formed(const char *line, int code)
{
	char want[4];
	snprintf(want, sizeof(want), "%03d", code);
	return line && strncmp(line, want, 3) == 0 && (line[3] == ' ' || line[3] == '\0');
}

void hub_reply_step(int code, const char *line, char *out, size_t outsz)
{
	char buf[SMTP_CLIENT_REPLY_MAX + 64];
	int cls = code / 100;

	if (code == 0)
		snprintf(buf, sizeof(buf), "451 4.4.1 Internal MTA unavailable: %s", line);
	else if (code == 421)
		snprintf(buf, sizeof(buf), "451 4.3.0 Internal MTA closing: %s", line);
	else if ((cls == 2 || cls == 4 || cls == 5) && well_formed(line, code))
		snprintf(buf, sizeof(buf), "%s", line);
	else if (cls == 5)
		snprintf(buf, sizeof(buf), "554 5.0.0 Internal MTA refused: %s", line);
	else
		snprintf(buf, sizeof(buf), "451 4.3.0 Internal MTA said: %s", line);
	copy_printable(out, outsz, buf);
}

enum hub_proxy_outcome hub_reply_map(const struct smtp_client_result *r, char *out, size_t outsz)
{
	char buf[SMTP_CLIENT_REPLY_MAX + 64];
	enum hub_proxy_outcome o;

	if (r->code / 100 == 2 && r->stage == SMTP_CLIENT_STAGE_DOT) {
		snprintf(buf, sizeof(buf), "250 2.0.0 Ok: delivered by the internal MTA (%s)",
			 r->reply);
		o = HUB_PROXY_DELIVERED;
	} else if (r->code / 100 == 5) {
		if (well_formed(r->reply, r->code))
			snprintf(buf, sizeof(buf), "%s", r->reply);
		else
			snprintf(buf, sizeof(buf), "554 5.0.0 The internal MTA refused it: %s",
				 r->reply);
		o = HUB_PROXY_REJECTED;
	} else {
		if (r->code == 0)
			snprintf(buf, sizeof(buf), "451 4.4.1 Internal MTA unavailable: %s",
				 r->reply);
		else
			snprintf(buf, sizeof(buf), "451 4.3.0 Internal MTA deferred it: %s",
				 r->reply);
		o = HUB_PROXY_TEMPFAILED;
	}
	copy_printable(out, outsz, buf);
	return o;
}

void hub_reply_attest(enum attest_result a, const char *detail, char *out, size_t outsz)
{
	char line[512];
	size_t nlen = strlen(attest_result_name(a));
	if (detail && strncmp(detail, attest_result_name(a), nlen) == 0)
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s", detail);
	else if (detail && detail[0])
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s (%s)",
			 attest_result_name(a), detail);
	else
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s",
			 attest_result_name(a));
	copy_printable(out, outsz, line);
}
