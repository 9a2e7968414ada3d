#include "common/errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int errmsg_set(char *err, size_t errlen, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return -1;
}
