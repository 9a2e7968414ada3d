/*
 * Fuzz target: arbitrary bytes as configuration text, read by libconfig;
 * when it holds policy.rules, the transport rules are built from it. A build
 * either fails with one line "fuzz.conf:LINE: PATH: message", or succeeds
 * with rules whose every action, evaluated on a fixed message, holds only
 * what the engine promises (valid header names, no control characters, a
 * reject code of 4xx or 5xx with a matching enhanced code).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "policy/transport_rules.h"
#include "policy/transport_rules_config.h"

/* libconfig 1.5 leaks the pending token when a syntax error aborts its parser. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static void check_text(const char *s, bool field)
{
	if (!s || !*s)
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || (field && *s == ' ') ||
		    (field && *s == ':'))
			abort();
}

static void check_action(const struct rules_action *a)
{
	if (!a->rule || !*a->rule)
		abort();
	switch (a->kind) {
	case RULES_ACT_REJECT:
		if (a->reject.code < 400 || a->reject.code > 599 ||
		    a->reject.enhanced[0] != '0' + a->reject.code / 100 ||
		    a->reject.enhanced[1] != '.')
			abort();
		check_text(a->reject.text, false);
		break;
	case RULES_ACT_ADD_HEADER:
		check_text(a->add_header.name, true);
		check_text(a->add_header.value, false);
		break;
	case RULES_ACT_REMOVE_HEADER:
		check_text(a->remove_header.name, true);
		break;
	case RULES_ACT_PREPEND_SUBJECT:
		check_text(a->prepend_subject.text, false);
		break;
	case RULES_ACT_REDIRECT:
		check_text(a->redirect.to, false);
		if (!strchr(a->redirect.to, '@') || strpbrk(a->redirect.to, " <>"))
			abort();
		break;
	case RULES_ACT_BCC:
		check_text(a->bcc.to, false);
		if (!strchr(a->bcc.to, '@') || strpbrk(a->bcc.to, " <>"))
			abort();
		break;
	case RULES_ACT_QUARANTINE:
		check_text(a->quarantine.reason, false);
		break;
	case RULES_ACT_LOG:
		check_text(a->log.text, false);
		break;
	}
}

static void evaluate(const struct transport_rules *rules)
{
	static const char *const rcpts[] = {"bob@example.com", "carol@example.com"};
	static const char *const names[] = {"invoice.pdf.exe", "report.zip", ""};
	static const struct rules_header headers[] = {
		{"Received", "from mx.example.org by edge"},
		{"From", "Alice <alice@example.org>"},
		{"Subject", "Invoice 12345"},
		{"X-Mailer", "BulkMailer 2.0"},
		{"X-Empty", ""},
	};
	static const char *const verdicts[] = {"clean", "infected", NULL};
	const struct rules_action *out[64];
	size_t max = transport_rules_max_actions(rules);
	for (size_t v = 0; v < 3; v++) {
		struct rules_msg m = {
			.from = v == 2 ? "" : "alice@example.org",
			.rcpts = rcpts,
			.nrcpts = 2,
			.headers = headers,
			.nheaders = v == 1 ? 0 : sizeof(headers) / sizeof(headers[0]),
			.size = 20000,
			.attachment_names = names,
			.nattach = 3,
			.verdict = verdicts[v],
		};
		size_t n = transport_rules_eval(rules, &m, out, 64);
		if (n > max)
			abort();
		for (size_t i = 0; i < n && i < 64; i++)
			check_action(out[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* @include would read files of this host (and libconfig 1.5 exits on a directory). */
	if (size > 64 * 1024 || memmem(data, size, "@include", 8))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_t cfg;
	config_init(&cfg);
	if (config_read_string(&cfg, text) == CONFIG_TRUE) {
		config_setting_t *list = config_lookup(&cfg, "policy.rules");
		if (list) {
			char err[512];
			memset(err, 'x', sizeof(err));
			struct transport_rules *rules =
				transport_rules_from_setting(list, "fuzz.conf", err, sizeof(err));
			if (rules) {
				if (err[0] != '\0')
					abort();
				evaluate(rules);
				transport_rules_free(rules);
			} else {
				size_t len = strnlen(err, sizeof(err));
				if (len == 0 || len == sizeof(err) ||
				    strncmp(err, "fuzz.conf:", 10) != 0 || !strstr(err, ": "))
					abort();
				for (size_t i = 0; i < len; i++)
					if ((unsigned char)err[i] < 0x20)
						abort();
			}
		}
	}
	config_destroy(&cfg);
	free(text);
	return 0;
}
