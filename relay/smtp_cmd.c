/*
 * SMTP command line parser: verb lookup, per-verb argument rules, MAIL/RCPT
 * path (through smtp_addr) and ESMTP parameters, BDAT size.
 */
#include "relay/smtp_cmd.h"

#include <string.h>
#include <strings.h>

enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED, ARG_OWN_PARSER };

struct verb_row {
	const char *name;
	enum arg_rule rule;
};

/* Indexed by enum smtp_verb. */
static const struct verb_row verb_table[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = {"UNKNOWN", ARG_OPTIONAL},
	[SMTP_VERB_HELO] = {"HELO", ARG_REQUIRED},
	[SMTP_VERB_EHLO] = {"EHLO", ARG_REQUIRED},
	[SMTP_VERB_MAIL] = {"MAIL", ARG_OWN_PARSER},
	[SMTP_VERB_RCPT] = {"RCPT", ARG_OWN_PARSER},
	[SMTP_VERB_DATA] = {"DATA", ARG_NONE},
	[SMTP_VERB_BDAT] = {"BDAT", ARG_OWN_PARSER},
	[SMTP_VERB_RSET] = {"RSET", ARG_NONE},
	[SMTP_VERB_NOOP] = {"NOOP", ARG_OPTIONAL},
	[SMTP_VERB_QUIT] = {"QUIT", ARG_NONE},
	[SMTP_VERB_VRFY] = {"VRFY", ARG_REQUIRED},
	[SMTP_VERB_EXPN] = {"EXPN", ARG_REQUIRED},
	[SMTP_VERB_HELP] = {"HELP", ARG_OPTIONAL},
	[SMTP_VERB_STARTTLS] = {"STARTTLS", ARG_NONE},
	[SMTP_VERB_AUTH] = {"AUTH", ARG_REQUIRED},
};

/* One "KEY[=VALUE]" token of a MAIL or RCPT line, pointing into cmd->arg. */
struct esmtp_param {
	const char *key;
	size_t key_len;
	const char *value; /* NULL when there is no "=" */
	size_t value_len;
};

const char *smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		return "UNKNOWN";
	return verb_table[verb].name;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Case-insensitive match of s[0..len) against the NUL-terminated word. */
static bool word_equal(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static bool has_prefix(const char *p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);
	return (size_t)(end - p) >= n && strncasecmp(p, prefix, n) == 0;
}

static const char *skip_spaces(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

int smtp_cmd_parse_size(const char *s, size_t len, bool saturate, uint64_t *out)
{
	uint64_t v = 0;
	bool overflow = false;

	if (len == 0 || len > SMTP_CMD_SIZE_DIGITS_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (overflow) {
		if (!saturate)
			return -1;
		v = UINT64_MAX;
	}
	*out = v;
	return 0;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii with SMTPUTF8. */
static bool value_valid(const char *v, size_t len, bool utf8_ok)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 33 && c <= 126 && c != '=') {
			i++;
			continue;
		}
		size_t n = utf8_ok ? smtp_addr_utf8_char_len((const unsigned char *)v + i, len - i)
				   : 0;
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * Splits p[0..end) (starting at a space, or empty) into parameters and
 * checks the keyword syntax. Returns the count in *n.
 */
static enum smtp_err split_params(const char *p, const char *end, struct esmtp_param *params,
				  size_t *n)
{
	*n = 0;
	while ((p = skip_spaces(p, end)) < end) {
		const char *tok = p;
		while (p < end && *p != ' ')
			p++;
		if (*n == SMTP_CMD_PARAMS_MAX)
			return SMTP_ERR_PARAM_TOO_MANY;
		struct esmtp_param *prm = &params[(*n)++];
		const char *eq = memchr(tok, '=', (size_t)(p - tok));
		prm->key = tok;
		prm->key_len = (size_t)((eq ? eq : p) - tok);
		prm->value = eq ? eq + 1 : NULL;
		prm->value_len = eq ? (size_t)(p - eq - 1) : 0;
		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (prm->key_len == 0 || !is_alnum((unsigned char)tok[0]))
			return SMTP_ERR_PARAM_SYNTAX;
		for (size_t i = 1; i < prm->key_len; i++) {
			if (!is_alnum((unsigned char)tok[i]) && tok[i] != '-')
				return SMTP_ERR_PARAM_SYNTAX;
		}
	}
	return SMTP_OK;
}

static enum smtp_err apply_mail_param(const struct esmtp_param *prm, unsigned flags,
				      struct smtp_mail_params *mp)
{
	if (word_equal(prm->key, prm->key_len, "SIZE")) {
		if (mp->has_size)
			return SMTP_ERR_PARAM_DUPLICATE;
		if (!prm->value ||
		    smtp_cmd_parse_size(prm->value, prm->value_len, true, &mp->size) != 0)
			return SMTP_ERR_PARAM_SYNTAX;
		mp->has_size = true;
		return SMTP_OK;
	}
	if (word_equal(prm->key, prm->key_len, "BODY")) {
		if (mp->body != SMTP_BODY_TYPE_NONE)
			return SMTP_ERR_PARAM_DUPLICATE;
		if (prm->value && word_equal(prm->value, prm->value_len, "7BIT"))
			mp->body = SMTP_BODY_TYPE_7BIT;
		else if (prm->value && word_equal(prm->value, prm->value_len, "8BITMIME"))
			mp->body = SMTP_BODY_TYPE_8BITMIME;
		else
			return SMTP_ERR_PARAM_SYNTAX;
		return SMTP_OK;
	}
	if (word_equal(prm->key, prm->key_len, "SMTPUTF8") &&
	    (flags & SMTP_CMD_F_SMTPUTF8_OFFERED)) {
		if (mp->smtputf8)
			return SMTP_ERR_PARAM_DUPLICATE;
		if (prm->value)
			return SMTP_ERR_PARAM_SYNTAX;
		mp->smtputf8 = true;
		return SMTP_OK;
	}
	return SMTP_ERR_PARAM_UNKNOWN;
}

/* Parameters after the path of MAIL (is_mail) or RCPT, starting at p. */
static enum smtp_err parse_params(const char *p, const char *end, bool is_mail, unsigned flags,
				  struct smtp_cmd *cmd)
{
	struct esmtp_param params[SMTP_CMD_PARAMS_MAX];
	size_t n;
	enum smtp_err err;
	bool utf8_values = (flags & SMTP_CMD_F_SMTPUTF8_TXN) != 0;

	if (p < end && *p != ' ') /* junk glued to the closing '>' */
		return SMTP_ERR_CMD_SYNTAX;
	if ((err = split_params(p, end, params, &n)) != SMTP_OK)
		return err;
	if (n > 0 && !(flags & SMTP_CMD_F_ESMTP))
		return SMTP_ERR_PARAM_UNKNOWN;
	if (is_mail && (flags & SMTP_CMD_F_SMTPUTF8_OFFERED)) {
		/* SMTPUTF8 on this very line already allows UTF-8 values. */
		for (size_t i = 0; i < n; i++) {
			if (word_equal(params[i].key, params[i].key_len, "SMTPUTF8"))
				utf8_values = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (params[i].value &&
		    !value_valid(params[i].value, params[i].value_len, utf8_values))
			return SMTP_ERR_PARAM_SYNTAX;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_mail) /* no RCPT parameter is supported (no DSN) */
			return SMTP_ERR_PARAM_UNKNOWN;
		if ((err = apply_mail_param(&params[i], flags, &cmd->params)) != SMTP_OK)
			return err;
	}
	return SMTP_OK;
}

/* "FROM:" path params / "TO:" path params */
static enum smtp_err parse_mail_rcpt(struct smtp_cmd *cmd, unsigned flags)
{
	bool is_mail = cmd->verb == SMTP_VERB_MAIL;
	const char *p = cmd->arg, *end = cmd->arg + cmd->arg_len;
	const char *keyword = is_mail ? "FROM:" : "TO:";
	size_t used;
	enum smtp_err err;

	if (!has_prefix(p, end, keyword))
		return SMTP_ERR_CMD_SYNTAX;
	p = skip_spaces(p + strlen(keyword), end);
	if (p == end || *p != '<')
		return SMTP_ERR_ADDR_SYNTAX;
	/*
	 * MAIL may declare SMTPUTF8 after the path, so the path is parsed with
	 * UTF-8 allowed and checked against the parameters afterwards.
	 */
	bool utf8_ok = is_mail || (flags & SMTP_CMD_F_SMTPUTF8_TXN);
	err = smtp_addr_parse_path(p, (size_t)(end - p),
				   is_mail ? SMTP_ROLE_SENDER : SMTP_ROLE_RECIPIENT, utf8_ok,
				   &cmd->path, &used);
	if (err != SMTP_OK)
		return err;
	if ((err = parse_params(p + used, end, is_mail, flags, cmd)) != SMTP_OK)
		return err;
	/* Any non-ASCII octet in the path as sent, a dropped source route included. */
	if (is_mail && !cmd->params.smtputf8) {
		for (size_t i = 0; i < used; i++) {
			if ((unsigned char)p[i] >= 0x80)
				return SMTP_ERR_ADDR_UTF8_NOT_ALLOWED;
		}
	}
	return SMTP_OK;
}

/* BDAT SP chunk-size [SP "LAST"] (RFC 3030) */
static enum smtp_err parse_bdat(struct smtp_cmd *cmd)
{
	const char *p = cmd->arg, *end = cmd->arg + cmd->arg_len;
	const char *num = p;

	while (p < end && *p != ' ')
		p++;
	if (smtp_cmd_parse_size(num, (size_t)(p - num), false, &cmd->bdat_size) != 0)
		return SMTP_ERR_BDAT_SYNTAX;
	p = skip_spaces(p, end);
	if (p == end)
		return SMTP_OK;
	if (!word_equal(p, (size_t)(end - p), "LAST"))
		return SMTP_ERR_BDAT_SYNTAX;
	cmd->bdat_last = true;
	return SMTP_OK;
}

static enum smtp_verb lookup_verb(const char *s, size_t len)
{
	for (unsigned v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		if (word_equal(s, len, verb_table[v].name))
			return (enum smtp_verb)v;
	}
	return SMTP_VERB_UNKNOWN;
}

static enum smtp_err parse_line(const char *line, size_t len, unsigned flags, struct smtp_cmd *cmd)
{
	if (len > SMTP_CMD_TEXT_MAX)
		return SMTP_ERR_LINE_TOO_LONG;
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\r' || line[i] == '\n')
			return SMTP_ERR_LINE_BARE_NEWLINE;
		if (line[i] == '\0')
			return SMTP_ERR_LINE_NUL;
	}

	/* Trailing blanks are ignored; the length limit applies to the raw line. */
	size_t tlen = len;
	while (tlen > 0 && (line[tlen - 1] == ' ' || line[tlen - 1] == '\t'))
		tlen--;
	size_t vlen = 0;
	while (vlen < tlen && line[vlen] != ' ')
		vlen++;
	cmd->verb = lookup_verb(line, vlen);
	if (cmd->verb == SMTP_VERB_UNKNOWN)
		return SMTP_ERR_CMD_UNKNOWN;
	if (len > (cmd->verb == SMTP_VERB_MAIL ? SMTP_CMD_MAIL_LINE_MAX : SMTP_CMD_LINE_MAX) - 2)
		return SMTP_ERR_LINE_TOO_LONG;

	const char *arg = skip_spaces(line + vlen, line + tlen);
	cmd->arg_len = (size_t)(line + tlen - arg);
	memcpy(cmd->arg, arg, cmd->arg_len);
	cmd->arg[cmd->arg_len] = '\0';

	switch (verb_table[cmd->verb].rule) {
	case ARG_NONE:
		return cmd->arg_len == 0 ? SMTP_OK : SMTP_ERR_CMD_SYNTAX;
	case ARG_REQUIRED:
		return cmd->arg_len != 0 ? SMTP_OK : SMTP_ERR_CMD_SYNTAX;
	case ARG_OPTIONAL:
		return SMTP_OK;
	case ARG_OWN_PARSER:
		break;
	}
	if (cmd->verb == SMTP_VERB_BDAT)
		return parse_bdat(cmd);
	return parse_mail_rcpt(cmd, flags);
}

enum smtp_err smtp_cmd_parse(const char *line, size_t len, unsigned flags, struct smtp_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->err = parse_line(line, len, flags, cmd);
	if (cmd->err != SMTP_OK)
		cmd->reply =
			smtp_err_reply(cmd->err, cmd->verb == SMTP_VERB_RCPT ? SMTP_ROLE_RECIPIENT
									     : SMTP_ROLE_SENDER);
	return cmd->err;
}
