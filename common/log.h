/*
 * Logging: one line per event, "key=value" pairs, to stderr or syslog.
 *
 * Callers format the event themselves, conventionally starting with
 * "event=NAME" and continuing with key=value pairs:
 *
 *	log_info("event=sa-up conn=%s ike_id=%u", name, id);
 *
 * Values that may contain spaces or come from the network are quoted with
 * log_quote() first.
 */
#ifndef AIRLOCK_LOG_H
#define AIRLOCK_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

enum log_target { LOG_TARGET_STDERR = 0, LOG_TARGET_SYSLOG };

/*
 * Sets the program name shown in every line, the minimum level written and
 * the destination. May be called again (after a config reload). ident is
 * copied. Until it is called, messages of level INFO and above go to stderr.
 */
void log_init(const char *ident, enum log_level level, enum log_target target);

/* Current minimum level; lets callers skip building expensive debug text. */
enum log_level log_get_level(void);

/* Parses "error", "warning", "info", "debug". Returns 0, or -1 if unknown. */
int log_level_parse(const char *text, enum log_level *out);

/* Parses "stderr", "syslog". Returns 0, or -1 if unknown. */
int log_target_parse(const char *text, enum log_target *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...)	 log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...)	 log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	 log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Our own bug: an invariant is broken. Logs the message with the source
 * location and aborts (core dump). Never call it for untrusted input.
 */
#define fatal(...) log_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void log_fatal_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Writes text into out (size outsz, always NUL-terminated) as a log value:
 * unchanged when it consists only of safe characters, otherwise in double
 * quotes with '"', '\\' escaped and control or non-ASCII bytes as \xNN.
 * Truncates to fit. Returns out, so it can be used inside a log call.
 */
const char *log_quote(char *out, size_t outsz, const char *text);

#endif
