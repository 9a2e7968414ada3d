/*
 * Logging to stderr or syslog, key=value lines.
 */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static char log_ident[64] = "airlock";
static enum log_level log_min_level = LOG_LEVEL_INFO;
static enum log_target log_dest = LOG_TARGET_STDERR;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_init(const char *ident, enum log_level level, enum log_target target)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "airlock");
	log_min_level = level;
	if (target == LOG_TARGET_SYSLOG && log_dest != LOG_TARGET_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	else if (target != LOG_TARGET_SYSLOG && log_dest == LOG_TARGET_SYSLOG)
		closelog();
	log_dest = target;
}

enum log_level log_get_level(void)
{
	return log_min_level;
}

int log_level_parse(const char *text, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_target_parse(const char *text, enum log_target *out)
{
	if (strcmp(text, "stderr") == 0)
		*out = LOG_TARGET_STDERR;
	else if (strcmp(text, "syslog") == 0)
		*out = LOG_TARGET_SYSLOG;
	else
		return -1;
	return 0;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_min_level)
		return;
	char line[2048];
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_dest == LOG_TARGET_SYSLOG) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[level], "level=%s %s", level_names[level], line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s level=%s %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
		level_names[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_fatal_at(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_LEVEL_ERROR, "event=fatal file=%s line=%d msg=\"%s\"", file, line, msg);
	abort();
}

static int log_safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-_.:/@+=,[]<>", c) != NULL;
}

const char *log_quote(char *out, size_t outsz, const char *text)
{
	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	size_t n = strlen(text);
	int plain = n > 0;
	for (size_t i = 0; i < n && plain; i++)
		plain = log_safe_char((unsigned char)text[i]);
	if (plain) {
		snprintf(out, outsz, "%s", text);
		return out;
	}
	size_t o = 0;
	if (o + 1 < outsz)
		out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		char esc[5];
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			snprintf(esc, sizeof(esc), "%c", c);
		size_t el = strlen(esc);
		if (o + el + 2 > outsz)
			break;
		memcpy(out + o, esc, el);
		o += el;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
