/* Fuzz target for tunnel/beep_blob: any input either fails with a printable
 * reason, or gives a blob whose data fits the bound, which writes and parses
 * back to the same status and the same octets.  Any mismatch aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/beep_blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct beep_blob fuzz_a, fuzz_b;
static char fuzz_out[BEEP_BLOB_DOC_MAX];

static void
check_printable(const char *s)
{
	if (s == NULL || *s == '\0')
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	size_t n;

	if (beep_blob_parse(data, size, &fuzz_a, &err) != 0) {
		check_printable(err);
		return 0;
	}
	if (fuzz_a.len > BEEP_BLOB_DATA_MAX || (fuzz_a.len > 0 && !fuzz_a.has_data))
		abort();
	if (fuzz_a.status != BEEP_BLOB_CONTINUE && fuzz_a.status != BEEP_BLOB_ABORT &&
	    fuzz_a.status != BEEP_BLOB_COMPLETE)
		abort();
	n = beep_blob_write(fuzz_a.status, fuzz_a.data, fuzz_a.len, fuzz_a.has_data, fuzz_out,
	                    sizeof(fuzz_out));
	if (n == 0 || n != strlen(fuzz_out))
		abort();
	err = NULL;
	if (beep_blob_parse((const uint8_t *)fuzz_out, n, &fuzz_b, &err) != 0) {
		fprintf(stderr, "re-parse of %s failed: %s\n", fuzz_out, err);
		abort();
	}
	if (fuzz_b.status != fuzz_a.status || fuzz_b.len != fuzz_a.len ||
	    memcmp(fuzz_a.data, fuzz_b.data, fuzz_a.len) != 0 ||
	    (fuzz_a.len > 0 && !fuzz_b.has_data))
		abort();
	return 0;
}
