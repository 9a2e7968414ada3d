/*
 * The README's configuration reference is the loader's schema, printed:
 * this test fails when one changes without the other.
 * To refresh the README: build, then run this test with --update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"

#define README AIRLOCK_SOURCE_DIR "/README.md"
#define BEGIN_MARK "<!-- config-reference:begin -->\n"
#define END_MARK "<!-- config-reference:end -->\n"

static char *read_all(FILE *f, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (n + 4096 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *generated_reference(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_print_reference(f);
	fclose(f);
	return text;
}

static int update_mode;

static void test_readme_matches_schema(void **state)
{
	(void)state;
	FILE *f = fopen(README, "r");
	assert_non_null(f);
	size_t len;
	char *readme = read_all(f, &len);
	fclose(f);
	char *begin = strstr(readme, BEGIN_MARK);
	char *end = begin ? strstr(begin, END_MARK) : NULL;
	if (!begin || !end)
		fail_msg("README.md lacks the config-reference markers");
	begin += strlen(BEGIN_MARK);
	char *want = generated_reference();
	size_t have_len = (size_t)(end - begin);
	int same = have_len == strlen(want) && memcmp(begin, want, have_len) == 0;
	if (!same && update_mode) {
		f = fopen(README, "w");
		assert_non_null(f);
		fwrite(readme, 1, (size_t)(begin - readme), f);
		fputs(want, f);
		fputs(end, f);
		fclose(f);
		printf("README.md updated\n");
		same = 1;
	}
	if (!same)
		fail_msg("README.md's configuration reference differs from the schema; run "
			 "test_config_docs --update");
	free(want);
	free(readme);
}

int main(int argc, char **argv)
{
	update_mode = argc > 1 && strcmp(argv[1], "--update") == 0;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_matches_schema),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
