/* Unit tests: relay/metrics.c label escaping (the exposition format). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "relay/metrics.h"
#include "tests/unit/cutest.h"

static void
test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "plain/file.conf:12", "plain/file.conf:12" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "line\nbreak", "line\\nbreak" },
		{ "\"\\\n", "\\\"\\\\\\n" },
		{ "tab\tstays", "tab\tstays" },
	};
	char buf[64];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = metrics_escape_label(cases[i].in, buf, sizeof(buf));
		CU_ASSERT_EQUAL(n, strlen(cases[i].out));
		CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
	}
}

static void
test_escape_truncates(void)
{
	char buf[4];
	size_t n;

	/* the length needed is returned; the buffer always ends in NUL */
	n = metrics_escape_label("ab\"cd", buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_STRING_EQUAL(buf, "ab\\");
	n = metrics_escape_label("abc", buf, 0);
	CU_ASSERT_EQUAL(n, 3);
	n = metrics_escape_label("\n", buf, 1);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(buf, "");
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "label escaping", test_escape },
		{ "label escaping into a short buffer", test_escape_truncates },
		CUTEST_END
	};

	return cutest_run("metrics", cases);
}
