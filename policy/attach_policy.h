/*
 * Attachment policy: decides, from a MIME walk (policy/mime_walk.h), whether
 * a message is accepted, has parts stripped, or is rejected, and why.
 *
 * attach_policy_check() is a pure function of the options and the walk. Each
 * part and (with check_archives) each file inside an archive is matched
 * against, in this order, first match wins:
 *   1. the administrator's rules (options.rules, in order); a rule with action
 *      ATTACH_ACCEPT is an exception that ends the search for that part;
 *   2. "double-extension": a name with two or more extensions whose last one
 *      is on the built-in extension list ("invoice.pdf.exe");
 *   3. the built-in block list (options.builtin_rules): "default-extension",
 *      "default-content-type" (declared type), "default-true-type" (libmagic).
 * Names are matched on their last path component, with trailing dots and
 * spaces removed (Windows ignores them: "a.exe." runs as "a.exe"); the last
 * extension is the one that counts ("report.exe.pdf" is a PDF).
 *
 * The built-in block list is the default attachment filter of Exchange
 * Server's Edge Transport role (Attachment Filtering agent; the list in
 * "Attachment filtering on Edge Transport servers", Exchange Server
 * 2016/2019 documentation on learn.microsoft.com):
 *   content types: application/hta, application/javascript,
 *     application/msaccess, application/prg, application/x-javascript,
 *     application/x-msdownload, message/partial, text/javascript,
 *     text/scriptlet, x-internet-signup (as application/x-internet-signup)
 *   extensions: ade adp app asx bas bat chm cmd com cpl crt csh exe fxp hlp
 *     hta inf ins isp js jse ksh lnk mda mdb mde mdt mdw mdz msc msi msp mst
 *     ops pcd pif prf prg ps1 ps1xml ps11 ps11xml ps2 ps2xml psc1 psc2 reg scf
 *     scr sct shb shs url vb vbe vbs wsc wsf wsh xnk
 * plus what has been used to carry malware since that list was written:
 *   extensions: jar jnlp (Java), psm1 psd1 (PowerShell modules), appx
 *     appxbundle msix msixbundle appinstaller (app packages), iso img vhd vhdx
 *     (disk images that bypass the downloaded-file mark), application
 *     (ClickOnce), gadget, settingcontent-ms, xll (Excel add-in)
 *   detected types (content, whatever the name says): Windows PE
 *     (application/vnd.microsoft.portable-executable, application/x-dosexec,
 *     application/x-msdownload), ELF (application/x-executable,
 *     application/x-sharedlib, application/x-pie-executable), Mach-O
 *     (application/x-mach-binary), Windows Installer (application/x-msi),
 *     shortcuts (application/x-ms-shortcut).
 *
 * Then, for the message as a whole: a walk limit (MIME_WALK_LIMITS) gives
 * options.on_limit, conflicting Content-* headers or parameters
 * (MIME_WALK_AMBIGUOUS) options.on_ambiguous, encrypted archive entries
 * options.on_encrypted (STRIP there means REJECT: the message as a whole
 * cannot be stripped). Any REJECT among the parts wins over those; those win
 * over STRIP. With ACCEPT there, verdict.walk_flags still shows what happened.
 */
#ifndef AIRLOCK_ATTACH_POLICY_H
#define AIRLOCK_ATTACH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <gmime/gmime.h>

#include "policy/mime_walk.h"

/* NAME and RULE are replaced by the (sanitised) attachment name and rule. */
#define ATTACH_REJECT_TEXT_DEFAULT "550 5.7.1 Message rejected: attachment NAME not allowed (RULE)"
#define ATTACH_TEMPFAIL_TEXT                                                                       \
	"451 4.7.1 Message deferred: attachment NAME could not be checked (RULE)"

#define ATTACH_RULE_MAX	  64
#define ATTACH_NAME_MAX	  256
#define ATTACH_REASON_MAX 256
#define ATTACH_REPLY_MAX  512

enum attach_action {
	ATTACH_ACCEPT = 0,
	ATTACH_STRIP,	 /* replace the part by a short text part */
	ATTACH_REJECT,	 /* 5xx the message */
	ATTACH_TEMPFAIL, /* 4xx the message (only from on_limit etc., or out of memory) */
};

enum attach_match {
	ATTACH_MATCH_NAME,	    /* fnmatch glob on the file name, case-insensitive */
	ATTACH_MATCH_EXTENSION,	    /* the last extension, without dot, case-insensitive */
	ATTACH_MATCH_DECLARED_TYPE, /* glob on the declared "type/subtype" */
	ATTACH_MATCH_TRUE_TYPE,	    /* glob on the type libmagic detected */
};

/* Name and pattern are never NULL (the configuration loader checks). */
struct attach_rule {
	const char *name; /* shown in verdicts, replies and logs */
	enum attach_match match;
	const char *pattern;	   /* glob or extension, see enum attach_match */
	enum attach_action action; /* ACCEPT (exception), STRIP or REJECT */
};

struct attach_policy_options {
	const struct attach_rule *rules; /* administrator's rules, checked first */
	size_t nrules;
	bool builtin_rules;		   /* use the built-in block list; default true */
	enum attach_action builtin_action; /* REJECT (default) or STRIP */
	bool double_extension;		   /* default true */
	bool check_archives;		   /* match names inside archives; default true */
	enum attach_action on_limit;	   /* REJECT (default), TEMPFAIL or ACCEPT */
	enum attach_action on_ambiguous;   /* REJECT (default), TEMPFAIL or ACCEPT */
	enum attach_action on_encrypted;   /* ACCEPT (default), TEMPFAIL or REJECT */
	const char *reject_text;	   /* NULL: ATTACH_REJECT_TEXT_DEFAULT */
};

/* A part to strip: the MIME part at path, with what to tell the recipient. */
struct attach_strip {
	char path[MIME_PATH_MAX];
	char name[ATTACH_NAME_MAX]; /* sanitised display name ("a.zip!b.exe") */
	char rule[ATTACH_RULE_MAX];
	char reason[ATTACH_REASON_MAX];
};

struct attach_verdict {
	enum attach_action action;
	char rule[ATTACH_RULE_MAX];	/* the deciding rule or limit; "" for ACCEPT */
	char reason[ATTACH_REASON_MAX]; /* "extension .exe", "detected type ..." */
	char path[MIME_PATH_MAX];	/* MIME path of the offending part; "" for the message */
	char name[ATTACH_NAME_MAX];	/* sanitised display name ("a.zip!b.exe"), "message" */
	char reply[ATTACH_REPLY_MAX];	/* SMTP reply for REJECT and TEMPFAIL, else "" */
	unsigned walk_flags;		/* the walk's flags, for the log */
	struct attach_strip *strip;	/* STRIP: the parts, gets owned by the verdict */
	size_t nstrip;
};

/* Fills *options with the defaults above (no administrator's rules). */
void attach_policy_options_default(struct attach_policy_options *options);

/*
 * True if text is usable as reject_text: "5xx x.y.z text", printable ASCII,
 * at most 400 bytes. For the configuration loader.
 */
bool attach_policy_reply_valid(const char *text);

/*
 * Decides on walk. *verdict is overwritten (call attach_verdict_clear() on it
 * afterwards). Returns 0; or -1 when memory runs out, with a TEMPFAIL verdict.
 */
int attach_policy_check(const struct attach_policy_options *options, const struct mime_walk *walk,
			struct attach_verdict *verdict);

/* Frees what a verdict owns and zeroes it. */
void attach_verdict_clear(struct attach_verdict *verdict);

/*
 * The message with each part in strip[0..n) (paths as the walk numbered
 * them, e.g. verdict->strip) replaced by a text/plain part naming what was
 * removed and why, serialised with CRLF line ends: every other part, header
 * and boundary is written back as GMime parsed it (byte-identical for CRLF
 * input). msg is modified. On success *out (malloc'd, gets owned by the
 * caller) and *outlen are set and 0 is returned; -1 if a path is not found
 * or memory runs out.
 */
int attach_policy_strip(GMimeMessage *msg, const struct attach_strip *strip, size_t n, char **out,
			size_t *outlen);

const char *attach_action_name(enum attach_action action);

#endif
