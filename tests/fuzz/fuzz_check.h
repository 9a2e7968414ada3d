/*
 * The fuzz targets' invariant check: a failed one names itself and aborts,
 * which libFuzzer (or the corpus replay) reports as a crash with the input.
 */
#ifndef AIRLOCK_FUZZ_CHECK_H
#define AIRLOCK_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
