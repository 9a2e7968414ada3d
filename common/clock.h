/*
 * Monotonic time, for ages, deadlines and timeouts that must not jump with
 * the wall clock.
 */
#ifndef AIRLOCK_CLOCK_H
#define AIRLOCK_CLOCK_H

#include <stdint.h>

/* In whole seconds. */
uint64_t clock_mono_s(void);

/* In milliseconds; signed, so that a deadline minus now may go below zero. */
long long clock_mono_ms(void);

#endif
