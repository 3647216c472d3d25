/* Replays a fuzz target's corpus: every file below the directory given is fed
 * to LLVMFuzzerTestOneInput once.  Built with the sanitizers in the test run,
 * so every input ever found keeps being checked.  An empty or missing corpus
 * is a failure, never a silent pass. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, as in libFuzzer: a target's one-time set-up. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
replay_file(const char *path)
{
	FILE *f;
	uint8_t *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int
replay_dir(const char *dir, unsigned int *count)
{
	DIR *d;
	struct dirent *de;
	char path[4096];
	struct stat st;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc |= replay_dir(path, count);
		else if (S_ISREG(st.st_mode)) {
			rc |= replay_file(path);
			(*count)++;
		}
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned int count = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		if (replay_dir(argv[i], &count) != 0)
			return 1;
	if (count == 0) {
		fprintf(stderr, "replay: no corpus input found\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
