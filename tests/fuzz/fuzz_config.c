/* Fuzz target for the configuration parser (relay/parse.y, relay/config.c)
 * through config_load_string(): any input is either a configuration, or
 * refused with at least one report, each "file:line: text" on one line with
 * no control character (a message never carries the file's raw bytes).
 * The process works in an empty private directory, so relative `include`,
 * `secret`, `key` and `database` names find nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CONFIG_MAX (64 * 1024)  /* longer inputs only slow the campaign */

static unsigned fuzz_reports;
static char fuzz_dir[] = "/tmp/beepgate-fuzz-config-XXXXXX";

static void
fuzz_cleanup(void)
{
	(void)rmdir(fuzz_dir);
}

static void
fuzz_report(void *arg, const char *msg)
{
	const char *p;

	(void)arg;
	fuzz_reports++;
	/* "name:line: text" */
	if (getenv("FUZZ_CONFIG_VERBOSE") != NULL)
		fprintf(stderr, "report: %s\n", msg);
	if ((p = strchr(msg, ':')) == NULL || p == msg || p[1] < '0' || p[1] > '9')
		abort();
	for (p++; *p >= '0' && *p <= '9'; p++)
		;
	if (p[0] != ':' || p[1] != ' ' || p[2] == '\0')
		abort();
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (mkdtemp(fuzz_dir) == NULL || chdir(fuzz_dir) != 0)
		abort();
	atexit(fuzz_cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;
	char *text;

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_reports = 0;
	c = config_load_string("fuzz.conf", text, fuzz_report, NULL);
	if (c == NULL && fuzz_reports == 0)
		abort();
	config_unref(c);
	free(text);
	return 0;
}
