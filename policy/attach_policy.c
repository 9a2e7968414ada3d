/*
 * Attachment policy: names, extensions, declared and detected types of every
 * part and archive entry against the administrator's rules and the built-in
 * block list; and stripping of parts from a parsed message.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/attach_policy.h"

/* Exchange Edge Transport's default FileName entries, then later additions. */
/* clang-format off */
static const char *const builtin_exts[] = {
	"ade", "adp", "app", "asx", "bas", "bat", "chm", "cmd", "com", "cpl", "crt", "csh",
	"exe", "fxp", "hlp", "hta", "inf", "ins", "isp", "js", "jse", "ksh", "lnk", "mda",
	"mdb", "mde", "mdt", "mdw", "mdz", "msc", "msi", "msp", "mst", "ops", "pcd", "pif",
	"prf", "prg", "ps1", "ps1xml", "ps11", "ps11xml", "ps2", "ps2xml", "psc1", "psc2",
	"reg", "scf", "scr", "sct", "shb", "shs", "url", "vb", "vbe", "vbs", "wsc", "wsf",
	"wsh", "xnk",
	"jar", "jnlp", "psm1", "psd1", "appx", "appxbundle", "msix", "msixbundle",
	"appinstaller", "iso", "img", "vhd", "vhdx", "application", "gadget",
	"settingcontent-ms", "xll",
};
/* clang-format on */

/* Exchange Edge Transport's default ContentType entries. */
static const char *const builtin_declared[] = {
	"application/hta",	    "application/javascript",
	"application/msaccess",	    "application/prg",
	"application/x-javascript", "application/x-msdownload",
	"message/partial",	    "text/javascript",
	"text/scriptlet",	    "application/x-internet-signup",
};

/* Executables and installers by content, whatever their name claims. */
static const char *const builtin_true[] = {
	"application/vnd.microsoft.portable-executable",
	"application/x-dosexec",
	"application/x-msdownload",
	"application/x-executable",
	"application/x-sharedlib",
	"application/x-pie-executable",
	"application/x-mach-binary",
	"application/x-msi",
	"application/x-ms-shortcut",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Longest name tail looked at: the end is what matters. */
#define NAME_TAIL 1024

static bool in_list(const char *const *list, size_t n, const char *text)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(list[i], text) == 0)
			return true;
	}
	return false;
}

/* What one part or entry offers to the rules. */
struct subject {
	char base[NAME_TAIL]; /* last path component, trailing dots/spaces removed */
	bool named;
	const char *ext;       /* in base, after the last dot; NULL if none */
	const char *ext2;      /* in base, after the dot before that; NULL if none */
	const char *declared;  /* may be NULL */
	const char *true_type; /* may be NULL */
};

static void subject_init(struct subject *s, const struct mime_part *p)
{
	memset(s, 0, sizeof(*s));
	s->declared = p->content_type;
	s->true_type = p->true_type;
	if (p->filename == NULL)
		return;
	const char *base = p->filename;
	for (const char *c = p->filename; *c; c++) {
		if (*c == '/' || *c == '\\')
			base = c + 1;
	}
	size_t len = strlen(base);
	while (len > 0 && (base[len - 1] == '.' || base[len - 1] == ' '))
		len--;
	if (len >= sizeof(s->base)) {
		base += len - (sizeof(s->base) - 1);
		len = sizeof(s->base) - 1;
	}
	memcpy(s->base, base, len);
	s->base[len] = '\0';
	s->named = len > 0;
	char *dot = strrchr(s->base, '.');
	if (dot == NULL)
		return;
	s->ext = dot + 1;
	for (char *c = dot; c > s->base;) {
		if (*--c == '.') {
			s->ext2 = c + 1;
			break;
		}
	}
}

/* Copies text as printable ASCII ('?' for anything else), truncating with "...". */
static void sanitize(char *out, size_t outsz, const char *text)
{
	size_t i = 0;
	for (; text[i] != '\0' && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)text[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[i] = '\0';
	if (text[i] != '\0' && outsz > 4)
		memcpy(out + outsz - 4, "...", 4);
}

struct hit {
	enum attach_action action;
	const char *rule;
	char reason[ATTACH_REASON_MAX];
};

static bool rule_matches(const struct attach_rule *r, const struct subject *s, struct hit *hit)
{
	const char *what = NULL, *value = NULL;
	switch (r->match) {
	case ATTACH_MATCH_NAME:
		if (s->named && fnmatch(r->pattern, s->base, FNM_CASEFOLD) == 0)
			what = "name", value = s->base;
		break;
	case ATTACH_MATCH_EXTENSION: {
		const char *pattern = r->pattern[0] == '.' ? r->pattern + 1 : r->pattern;
		if (s->ext != NULL && strcasecmp(pattern, s->ext) == 0)
			what = "extension .", value = s->ext;
		break;
	}
	case ATTACH_MATCH_DECLARED_TYPE:
		if (s->declared && fnmatch(r->pattern, s->declared, FNM_CASEFOLD) == 0)
			what = "declared type ", value = s->declared;
		break;
	case ATTACH_MATCH_TRUE_TYPE:
		if (s->true_type && fnmatch(r->pattern, s->true_type, FNM_CASEFOLD) == 0)
			what = "detected type ", value = s->true_type;
		break;
	}
	if (what == NULL)
		return false;
	char clean[ATTACH_REASON_MAX / 2];
	sanitize(clean, sizeof(clean), value);
	hit->action = r->action;
	hit->rule = r->name;
	snprintf(hit->reason, sizeof(hit->reason), "%s%s%s", what,
		 r->match == ATTACH_MATCH_NAME ? " " : "", clean);
	return true;
}

/* The first rule that matches s, or false if none does. */
static bool match_subject(const struct attach_policy_options *o, const struct subject *s,
			  struct hit *hit)
{
	for (size_t i = 0; i < o->nrules; i++) {
		if (rule_matches(&o->rules[i], s, hit))
			return true;
	}
	const char *rule = NULL, *what = NULL, *value = NULL;
	bool exec_ext = s->ext != NULL && in_list(builtin_exts, COUNT(builtin_exts), s->ext);
	if (o->double_extension && exec_ext && s->ext2 != NULL)
		rule = "double-extension", what = "double extension .", value = s->ext2;
	else if (!o->builtin_rules)
		return false;
	else if (exec_ext)
		rule = "default-extension", what = "extension .", value = s->ext;
	else if (s->declared && in_list(builtin_declared, COUNT(builtin_declared), s->declared))
		rule = "default-content-type", what = "declared type ", value = s->declared;
	else if (s->true_type && in_list(builtin_true, COUNT(builtin_true), s->true_type))
		rule = "default-true-type", what = "detected type ", value = s->true_type;
	if (rule == NULL)
		return false;
	char clean[ATTACH_REASON_MAX / 2];
	sanitize(clean, sizeof(clean), value);
	hit->action = o->builtin_action;
	hit->rule = rule;
	snprintf(hit->reason, sizeof(hit->reason), "%s%s", what, clean);
	return true;
}

static void append(char *buf, size_t bufsz, size_t *used, const char *text)
{
	size_t n = strlen(text);
	if (n > bufsz - 1 - *used)
		n = bufsz - 1 - *used;
	memcpy(buf + *used, text, n);
	*used += n;
	buf[*used] = '\0';
}

/* One link of a display name: the file name, or "part 2" for an unnamed part. */
static void append_name(char *buf, size_t bufsz, size_t *used, const struct mime_part *p)
{
	if (p->filename != NULL && p->filename[0] != '\0') {
		append(buf, bufsz, used, p->filename);
	} else if (p->kind == MIME_PART_ARCHIVE_ENTRY) {
		append(buf, bufsz, used, "(unnamed)");
	} else {
		append(buf, bufsz, used, "part ");
		append(buf, bufsz, used, p->path);
	}
}

/*
 * "outer.zip!inner.zip!evil.exe", sanitised; when too long, the end is kept
 * ("...!evil.exe"), since the innermost name is the one that matters.
 */
static void display_name(const struct mime_walk *w, size_t idx, char *out, size_t outsz)
{
	size_t chain[MIME_PATH_MAX], n = 0;
	for (size_t at = idx; at != SIZE_MAX && at < w->nparts && n < MIME_PATH_MAX;
	     at = w->parts[at].parent)
		chain[n++] = at;
	char raw[4096];
	size_t used = 0;
	raw[0] = '\0';
	while (n-- > 0) {
		append_name(raw, sizeof(raw), &used, &w->parts[chain[n]]);
		if (n > 0)
			append(raw, sizeof(raw), &used, "!");
	}
	const char *from = raw;
	if (used >= outsz) {
		from = raw + used - (outsz - 4);
		memcpy(out, "...", 3);
		out += 3;
		outsz -= 3;
	}
	sanitize(out, outsz, from);
}

static void format_reply(char *out, size_t outsz, const char *tmpl, const char *name,
			 const char *rule)
{
	size_t used = 0;
	out[0] = '\0';
	for (const char *t = tmpl; *t && used + 1 < outsz;) {
		const char *sub = NULL;
		if (strncmp(t, "NAME", 4) == 0)
			sub = name;
		else if (strncmp(t, "RULE", 4) == 0)
			sub = rule;
		if (sub == NULL) {
			out[used++] = *t++;
			continue;
		}
		int n = snprintf(out + used, outsz - used, "%s", sub);
		used = n < 0 || (size_t)n >= outsz - used ? outsz - 1 : used + (size_t)n;
		t += 4;
	}
	out[used] = '\0';
}

static void decide(const struct attach_policy_options *o, struct attach_verdict *v,
		   enum attach_action action, const char *rule, const char *reason,
		   const char *path, const char *name)
{
	if (action != ATTACH_TEMPFAIL && action != ATTACH_ACCEPT)
		action = ATTACH_REJECT; /* STRIP cannot apply to the message as a whole */
	v->action = action;
	snprintf(v->rule, sizeof(v->rule), "%s", rule);
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	snprintf(v->path, sizeof(v->path), "%s", path);
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (action == ATTACH_REJECT)
		format_reply(v->reply, sizeof(v->reply),
			     o->reject_text ? o->reject_text : ATTACH_REJECT_TEXT_DEFAULT, name,
			     rule);
	else if (action == ATTACH_TEMPFAIL)
		format_reply(v->reply, sizeof(v->reply), ATTACH_TEMPFAIL_TEXT, name, rule);
}

static int add_strip(struct attach_verdict *v, const char *path, const char *name,
		     const struct hit *hit)
{
	for (size_t i = 0; i < v->nstrip; i++) {
		if (strcmp(v->strip[i].path, path) == 0)
			return 0;
	}
	struct attach_strip *n = realloc(v->strip, (v->nstrip + 1) * sizeof(*n));
	if (n == NULL)
		return -1;
	v->strip = n;
	struct attach_strip *s = &v->strip[v->nstrip++];
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->rule, sizeof(s->rule), "%s", hit->rule);
	snprintf(s->reason, sizeof(s->reason), "%s", hit->reason);
	return 0;
}

/* The first part carrying one of flags, or SIZE_MAX. */
static size_t first_flagged(const struct mime_walk *w, unsigned flags)
{
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i].flags & flags)
			return i;
	}
	return SIZE_MAX;
}

/* A message-level verdict (limits, ambiguity, encryption) for flag. */
static void decide_flag(const struct attach_policy_options *o, const struct mime_walk *w,
			struct attach_verdict *v, enum attach_action action, unsigned flag,
			const char *rule, const char *reason)
{
	char name[ATTACH_NAME_MAX] = "message";
	const char *path = "";
	size_t at = first_flagged(w, flag);
	if (at != SIZE_MAX) {
		display_name(w, at, name, sizeof(name));
		path = w->parts[at].path;
	}
	decide(o, v, action, rule, reason, path, name);
}

int attach_policy_check(const struct attach_policy_options *o, const struct mime_walk *w,
			struct attach_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->walk_flags = w->flags;
	struct subject s;
	struct hit hit;
	char name[ATTACH_NAME_MAX];
	for (size_t i = 0; i < w->nparts; i++) {
		const struct mime_part *p = &w->parts[i];
		if (p->kind == MIME_PART_ARCHIVE_ENTRY && !o->check_archives)
			continue;
		subject_init(&s, p);
		if (!match_subject(o, &s, &hit) || hit.action == ATTACH_ACCEPT)
			continue;
		display_name(w, i, name, sizeof(name));
		if (hit.action != ATTACH_STRIP) {
			attach_verdict_clear(v);
			v->walk_flags = w->flags;
			decide(o, v, ATTACH_REJECT, hit.rule, hit.reason, p->path, name);
			return 0;
		}
		if (add_strip(v, p->path, name, &hit) != 0) {
			attach_verdict_clear(v);
			decide(o, v, ATTACH_TEMPFAIL, "out-of-memory", "out of memory", "",
			       "message");
			return -1;
		}
	}
	unsigned limits = w->flags & MIME_WALK_LIMITS;
	if (limits && o->on_limit != ATTACH_ACCEPT) {
		unsigned lowest = limits & -limits;
		char reason[ATTACH_REASON_MAX], flags[ATTACH_REASON_MAX - 32];
		snprintf(reason, sizeof(reason), "scanning limit reached: %s",
			 mime_walk_flags_text(limits, flags, sizeof(flags)));
		decide_flag(o, w, v, o->on_limit, lowest, mime_walk_flag_name(lowest), reason);
	} else if ((w->flags & MIME_WALK_AMBIGUOUS) && o->on_ambiguous != ATTACH_ACCEPT) {
		decide_flag(o, w, v, o->on_ambiguous, MIME_WALK_AMBIGUOUS, "ambiguous-mime",
			    "conflicting Content-* headers or parameters");
	} else if ((w->flags & MIME_WALK_ENCRYPTED) && o->on_encrypted != ATTACH_ACCEPT) {
		decide_flag(o, w, v, o->on_encrypted, MIME_WALK_ENCRYPTED, "encrypted-archive",
			    "encrypted archive content cannot be checked");
	} else if (v->nstrip > 0) {
		v->action = ATTACH_STRIP;
		snprintf(v->rule, sizeof(v->rule), "%s", v->strip[0].rule);
		snprintf(v->reason, sizeof(v->reason), "%s", v->strip[0].reason);
		snprintf(v->path, sizeof(v->path), "%s", v->strip[0].path);
		snprintf(v->name, sizeof(v->name), "%s", v->strip[0].name);
		return 0;
	}
	if (v->action != ATTACH_ACCEPT) {
		/* A message-level verdict: nothing is stripped. */
		free(v->strip);
		v->strip = NULL;
		v->nstrip = 0;
	}
	return 0;
}

void attach_verdict_clear(struct attach_verdict *v)
{
	free(v->strip);
	memset(v, 0, sizeof(*v));
}

void attach_policy_options_default(struct attach_policy_options *o)
{
	memset(o, 0, sizeof(*o));
	o->builtin_rules = true;
	o->builtin_action = ATTACH_REJECT;
	o->double_extension = true;
	o->check_archives = true;
	o->on_limit = ATTACH_REJECT;
	o->on_ambiguous = ATTACH_REJECT;
	o->on_encrypted = ATTACH_ACCEPT;
}

bool attach_policy_reply_valid(const char *text)
{
	size_t len = text ? strlen(text) : 0;
	if (len < 5 || len > 400 || text[0] != '5' || text[1] < '0' || text[1] > '9' ||
	    text[2] < '0' || text[2] > '9' || text[3] != ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
			return false;
	}
	return true;
}

const char *attach_action_name(enum attach_action action)
{
	switch (action) {
	case ATTACH_ACCEPT:
		return "accept";
	case ATTACH_STRIP:
		return "strip";
	case ATTACH_REJECT:
		return "reject";
	case ATTACH_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

/* True if ancestor is a proper prefix path of path ("2" of "2.1"). */
static bool path_below(const char *ancestor, const char *path)
{
	size_t n = strlen(ancestor);
	return strncmp(ancestor, path, n) == 0 && path[n] == '.';
}

static bool replace_part(GMimeMessage *msg, const struct attach_strip *s)
{
	GMimeMultipart *parent = NULL;
	GMimeMessage *owner = NULL;
	int index = 0;
	if (mime_walk_find(msg, s->path, &parent, &index, &owner) == NULL)
		return false;
	char *text = g_strdup_printf("An attachment was removed from this message by the mail "
				     "gateway.\n\nName: %s\nRule: %s\nReason: %s",
				     s->name, s->rule, s->reason);
	GMimeTextPart *note = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(note, text);
	g_free(text);
	if (parent != NULL) {
		GMimeObject *old = g_mime_multipart_replace(parent, index, GMIME_OBJECT(note));
		if (old != NULL)
			g_object_unref(old);
	} else {
		g_mime_message_set_mime_part(owner, GMIME_OBJECT(note));
	}
	g_object_unref(note);
	return true;
}

int attach_policy_strip(GMimeMessage *msg, const struct attach_strip *strip, size_t n, char **out,
			size_t *outlen)
{
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		/* Once a part is replaced, whatever was inside it is gone too. */
		for (size_t j = 0; j < n && !skip; j++)
			skip = (j < i && strcmp(strip[j].path, strip[i].path) == 0) ||
			       path_below(strip[j].path, strip[i].path);
		if (!skip && !replace_part(msg, &strip[i]))
			return -1;
	}
	GMimeFormatOptions *format = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(format, GMIME_NEWLINE_FORMAT_DOS);
	GMimeStream *mem = g_mime_stream_mem_new();
	ssize_t written = g_mime_object_write_to_stream(GMIME_OBJECT(msg), format, mem);
	g_mime_format_options_free(format);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	/*
	 * SMTP content ends with CRLF. GMime writes an epilogue's last line end
	 * as a bare LF (outside its CRLF filter), or none at all: restore it.
	 */
	size_t len = bytes->len;
	if (len > 0 && bytes->data[len - 1] == '\n')
		len -= len > 1 && bytes->data[len - 2] == '\r' ? 2 : 1;
	char *buf = written < 0 ? NULL : malloc(len + 3);
	if (buf != NULL) {
		memcpy(buf, bytes->data, len);
		memcpy(buf + len, "\r\n", 3);
		len += 2;
	}
	g_object_unref(mem);
	if (buf == NULL)
		return -1;
	*out = buf;
	*outlen = len;
	return 0;
}
