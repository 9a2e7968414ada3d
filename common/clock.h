/*
 * Monotonic time in whole seconds, for ages and timeouts that must not jump
 * with the wall clock.
 */
#ifndef AIRLOCK_CLOCK_H
#define AIRLOCK_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_s(void);

#endif
