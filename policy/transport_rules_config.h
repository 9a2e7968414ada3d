/*
 * Transport rules from the configuration: builds a rule list from the
 * libconfig setting policy.rules, checking it whole and naming file:line and
 * the setting of the first problem.
 *
 * Syntax (every key below is the only spelling; anything else is an error):
 *
 *	policy = {
 *		rules = (
 *			{
 *				name = "block-zipped-invoices";	# required, unique
 *				if = (				# optional: all must hold
 *					{ subject = { regex = "invoice [0-9]+"; }; },
 *					{ attachment = { glob = "*.zip"; }; }
 *				);
 *				then = (			# in order
 *					{ reject = { code = 550; enhanced = "5.7.1";
 *						     text = "Invoices by zip are not accepted"; };
 *}, { log = "zipped invoice"; }
 *				);
 *				stop = true;			# optional, default false
 *			},
 *			{
 *				name = "tag-external";
 *				if = (
 *					{ sender = { glob = "*@example.com"; }; not = true; },
 *					{ header = { name = "X-Mailer"; contains = "bulk"; }; }
 *				);
 *				then = (
 *					{ prepend_subject = "[EXT] "; },
 *					{ add_header = { name = "X-Tag"; value = "external"; }; }
 *				);
 *			}
 *		);
 *	};
 *
 * A rule is a group with name (1..64 letters, digits, '.', '_', '-'), if (a
 * list of at most 16 conditions), then (a list of at most 16 actions; may
 * be left out only when stop = true) and stop (boolean). At most 256 rules.
 *
 * A condition is a group with exactly one of the keys below, and optionally
 * not = true to negate it:
 *	sender = { M; }   recipient = { M; }   subject = { M; }   attachment = { M; }
 *	header = { name = "Field-Name"; M; }   (without M: the header is present)
 *	size_over = 10485760;                  (octets; an integer, 64-bit with L)
 *	verdict = "infected";                  (clean, infected, limits, unscanned)
 * where M is exactly one of contains = "text" (substring), regex = "ERE"
 * (POSIX extended) or glob = "*.zip" (whole value); all ignore ASCII case.
 *
 * An action is a group with exactly one key:
 *	reject = { code = 550; enhanced = "5.7.1"; text = "..."; };
 *		(code 4xx or 5xx; enhanced optional, default C.7.1 for class C;
 *		 text optional, default "Message rejected by policy")
 *	add_header = { name = "X-Tag"; value = "external"; };
 *	remove_header = "X-Tag";     prepend_subject = "[EXT] ";
 *	redirect = "local@domain";   bcc = "local@domain";
 *	quarantine = "reason";       log = "text";
 * See transport_rules.h for what each does and what texts may hold.
 */
#ifndef AIRLOCK_TRANSPORT_RULES_CONFIG_H
#define AIRLOCK_TRANSPORT_RULES_CONFIG_H

#include <stddef.h>

#include <libconfig.h>

#include "policy/transport_rules.h"

#define TRANSPORT_RULES_DEFAULT_REJECT_TEXT "Message rejected by policy"

/*
 * Builds the rules from list, the setting that holds them (policy.rules: a
 * list of groups; an empty list or array, or a NULL list when the key is
 * not set, gives no rules). list and the config it belongs to are only
 * read, and may be destroyed afterwards.
 *
 * file names the configuration file in messages for the settings of the
 * text libconfig read first (for which config_setting_source_file() is
 * NULL); a setting read from an @include file is named by the name
 * libconfig gives that file.
 *
 * Returns the rules (gets owned by the caller; free them with
 * transport_rules_free()), or NULL with one line, no newline, in err
 * (errlen octets, always terminated when errlen > 0) of the form
 *
 *	airlock.conf:14: policy.rules[2].then[0]: unknown action "rejet"
 *
 * naming the line and the path of the offending setting.
 */
struct transport_rules *transport_rules_from_setting(const config_setting_t *list, const char *file,
						     char *err, size_t errlen);

#endif
