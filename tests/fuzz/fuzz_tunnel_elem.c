/* Fuzz target for tunnel/tunnel_elem: any input either fails with a code and
 * a printable text, or gives a tree that validates, writes, parses back to
 * an equal tree and writes to the very same octets (the relay forwards only
 * what it writes).  Any mismatch aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnel_elem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tunnel_elem *a = NULL, *b = NULL;
	struct tunnel_elem_error err;
	char out1[TUNNEL_ELEM_DOC_MAX * 6], out2[sizeof(out1)], line[TUNNEL_ELEM_DESCRIBE_MAX];
	size_t n1, n2;

	if (tunnel_elem_parse(data, size, 0, &a, &err) != 0) {
		if (a != NULL || (err.code != 421 && err.code != 500 && err.code != 501 &&
		    err.code != 504) || err.text[0] == '\0')
			abort();
		check_printable(err.text);
		return 0;
	}
	if (a == NULL || err.code != 0 || tunnel_elem_validate(a, 0, NULL) != 0)
		abort();
	n1 = tunnel_elem_write(a, out1, sizeof(out1));
	if (n1 == 0 || n1 != strlen(out1) || n1 != tunnel_elem_write_len(a))
		abort();
	if (tunnel_elem_parse((const uint8_t *)out1, n1, 0, &b, &err) != 0) {
		fprintf(stderr, "re-parse of %s failed: %u %s\n", out1, err.code, err.text);
		abort();
	}
	if (!tunnel_elem_equal(a, b))
		abort();
	n2 = tunnel_elem_write(b, out2, sizeof(out2));
	if (n2 != n1 || memcmp(out1, out2, n1) != 0)
		abort();
	check_printable(tunnel_elem_describe(a, line, sizeof(line)));
	tunnel_elem_free(a);
	tunnel_elem_free(b);
	return 0;
}
