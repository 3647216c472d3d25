/* cutest: a thin runner over CUnit that fails the process when any test fails
 * (CU_basic_run_tests alone returns 0 even then). */
#ifndef CUTEST_H
#define CUTEST_H
#include <CUnit/CUnit.h>

struct cutest_case {
	const char *name;
	void (*fn)(void);
};
#define CUTEST_END { NULL, NULL }

/* Registers one suite with the cases (terminated by CUTEST_END), runs it
 * verbosely and returns the process exit status: 0 only when every assertion
 * passed and at least one test ran. */
int cutest_run(const char *suite, const struct cutest_case *cases);

/* A fresh private temporary directory for this test binary (removed at exit
 * unless CUTEST_KEEP is set). */
const char *cutest_tmpdir(void);
#endif
