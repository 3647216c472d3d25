#include "tests/unit/cutest.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void
cutest_rmtmp(void)
{
	char cmd[300];

	if (tmpdir[0] == '\0' || getenv("CUTEST_KEEP") != NULL)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cutest: could not remove %s\n", tmpdir);
}

const char *
cutest_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/beepgate-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cutest_rmtmp);
	return tmpdir;
}

int
cutest_run(const char *suite_name, const struct cutest_case *cases)
{
	CU_pSuite suite;
	unsigned int ran, failed_tests, failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (suite == NULL)
		return 2;
	for (; cases->name != NULL; cases++)
		if (CU_add_test(suite, cases->name, cases->fn) == NULL)
			return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	ran = CU_get_number_of_tests_run();
	failed_tests = CU_get_number_of_tests_failed();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "cutest: no test ran\n");
		return 1;
	}
	return (failed_tests != 0 || failures != 0) ? 1 : 0;
}
