/*
 * RFC 5321 Path and Mailbox parsing (section 4.1.2), with the RFC 6531
 * (SMTPUTF8) extensions, for MAIL FROM and RCPT TO.
 *
 * Accepted:
 *   <>                              null reverse-path, sender only
 *   <local@domain>                  dot-string or quoted-string local part
 *   <@a.example,@b.example:l@d>     source route: syntax checked, discarded
 *   <l@[192.0.2.1]> <l@[IPv6:...]>  address literals, checked with inet_pton
 *   <Postmaster>                    recipient only, any case
 * Rejected: general address literals ("[tag:...]"), trailing dots in
 * domains, labels starting or ending with '-', anything outside the ABNF.
 *
 * Non-ASCII octets are only valid when the caller says the transaction uses
 * SMTPUTF8 (utf8_ok); they must then form well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). U-labels are not
 * checked against IDNA2008 beyond that.
 *
 * Limits (RFC 5321 4.5.3.1) are checked on the octets as received, each
 * with its own error: local part 64, domain 255 (label 63), path 256
 * including the angle brackets and any source route.
 *
 * Everything here is pure: no allocation, no I/O, no locale.
 */
#ifndef AIRLOCK_SMTP_ADDR_H
#define AIRLOCK_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/smtp_cmd_reply.h"

#define SMTP_ADDR_LOCAL_MAX  64	 /* octets */
#define SMTP_ADDR_DOMAIN_MAX 255 /* octets */
#define SMTP_ADDR_LABEL_MAX  63	 /* octets in one domain label */
#define SMTP_ADDR_PATH_MAX   256 /* octets, "<" and ">" included */

/*
 * A parsed path. All strings are NUL-terminated and owned by the struct.
 *
 * mailbox is the normalised address: the local part unquoted when its value
 * is a valid dot-string, otherwise quoted with only '"' and '\' escaped;
 * then "@" and the domain. Normalising never lengthens the address, so it
 * always fits. For <> mailbox is "", for <Postmaster> it is "Postmaster".
 *
 * domain is lowercased (ASCII letters only; U-labels are kept as sent) so it
 * can be compared with relay_domains directly. Address literals keep their
 * brackets ("[192.0.2.1]", "[IPv6:2001:db8::1]"). Empty for <> and
 * <Postmaster>. The domain in mailbox is the same lowercased text.
 */
struct smtp_addr {
	char mailbox[SMTP_ADDR_PATH_MAX];
	char local[SMTP_ADDR_LOCAL_MAX + 1];
	char domain[SMTP_ADDR_DOMAIN_MAX + 1];
	bool null_path;	 /* <> */
	bool postmaster; /* <Postmaster> without a domain */
	bool literal;	 /* domain is an address literal */
	bool utf8; /* mailbox holds non-ASCII octets (a dropped source route is not counted) */
};

/*
 * Parses a Path that starts at s[0] (which must be '<') and ends at the
 * matching '>' (a '>' inside a quoted local part does not end it). Bytes
 * after the '>' are not looked at; *consumed is set to the number of bytes
 * the path occupies, so the caller can go on with ESMTP parameters.
 *
 * role: SMTP_ROLE_SENDER allows <>, SMTP_ROLE_RECIPIENT allows <Postmaster>.
 * utf8_ok: non-ASCII octets are allowed (the transaction declared SMTPUTF8).
 *
 * Returns SMTP_OK and fills *out, or an SMTP_ERR_ADDR_* error; then *out is
 * cleared and *consumed is 0. Map the error with smtp_err_reply(err, role).
 */
enum smtp_err smtp_addr_parse_path(const char *s, size_t len, enum smtp_role role, bool utf8_ok,
				   struct smtp_addr *out, size_t *consumed);

/*
 * Parses a bare Mailbox, "local@domain" without angle brackets, which must
 * span all of s[0..len). Same output and errors as smtp_addr_parse_path; the
 * path limit is applied as if the brackets were present.
 */
enum smtp_err smtp_addr_parse_mailbox(const char *s, size_t len, bool utf8_ok,
				      struct smtp_addr *out);

/*
 * Checks that s[0..len) is a Domain or an address literal, e.g. the argument
 * of EHLO/HELO (RFC 5321 4.1.1.1). Returns SMTP_OK, SMTP_ERR_ADDR_SYNTAX,
 * SMTP_ERR_ADDR_DOMAIN_TOO_LONG or one of the UTF-8 errors.
 */
enum smtp_err smtp_addr_check_domain(const char *s, size_t len, bool utf8_ok);

/*
 * Returns the length of the well-formed UTF-8 sequence (2 to 4 octets) of a
 * non-ASCII character starting at s[0], or 0 if s[0..len) does not start
 * with one (ASCII, truncated, overlong, surrogate, above U+10FFFF).
 */
size_t smtp_addr_utf8_char_len(const unsigned char *s, size_t len);

#endif
