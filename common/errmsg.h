/*
 * The "err, errlen" convention: functions that can fail take a buffer for a
 * one-line reason. errmsg_set fills it (if errlen > 0) and returns -1, so a
 * failure path is one statement: return errmsg_set(err, errlen, "...", ...);
 * err may be NULL or errlen 0; errno is left as it was.
 */
#ifndef AIRLOCK_ERRMSG_H
#define AIRLOCK_ERRMSG_H

#include <stddef.h>

int errmsg_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
