/* Fuzz target for relay/tcpmux_line: the input is fed whole and then in
 * chunks whose sizes come from the input itself; every split must give the
 * same status, name, consumed count, probe and error offset, and the API's
 * invariants must hold (consumed within bounds, a name of printable ASCII
 * within the cap).  Any difference aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/tcpmux_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	enum tcpmux_line_status st;
	size_t consumed;
	struct tcpmux_line t;
};

static void
run(const uint8_t *data, size_t size, size_t max, unsigned seed, struct outcome *o)
{
	size_t pos = 0, n, used;

	tcpmux_line_init(&o->t, max);
	o->st = TCPMUX_LINE_NEED_MORE;
	while (pos < size && o->st == TCPMUX_LINE_NEED_MORE) {
		n = seed == 0 ? size - pos : 1 + (seed + pos * 7) % 5;
		if (n > size - pos)
			n = size - pos;
		o->st = tcpmux_line_feed(&o->t, data + pos, n, &used);
		if (used > n || (o->st == TCPMUX_LINE_NEED_MORE && used != n))
			abort();
		pos += used;
	}
	o->consumed = pos;
	if (o->t.offset != pos)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;
	size_t max, i;
	unsigned seed;

	/* the first octet picks the cap (0: the default) */
	if (size == 0)
		return 0;
	max = data[0] % 64;
	data++;
	size--;
	run(data, size, max, 0, &a);
	switch (a.st) {
	case TCPMUX_LINE_DONE:
		if (a.t.name_len == 0 || a.t.name_len > a.t.max ||
		    strlen(a.t.name) != a.t.name_len || a.consumed == 0 ||
		    data[a.consumed - 1] != '\n')
			abort();
		for (i = 0; i < a.t.name_len; i++)
			if (a.t.name[i] < 0x21 || a.t.name[i] > 0x7e)
				abort();
		if (a.t.help != tcpmux_line_name_equal(a.t.name, "help"))
			abort();
		break;
	case TCPMUX_LINE_ERROR:
		if (a.t.error == NULL || a.t.error_offset >= a.consumed)
			abort();
		break;
	case TCPMUX_LINE_NEED_MORE:
		if (a.consumed != size)
			abort();
		break;
	}
	for (seed = 1; seed <= 3; seed++) {
		run(data, size, max, seed, &b);
		if (b.st != a.st || b.consumed != a.consumed || b.t.probe != a.t.probe ||
		    b.t.error != a.t.error || b.t.error_offset != a.t.error_offset ||
		    b.t.help != a.t.help || b.t.name_len != a.t.name_len ||
		    memcmp(b.t.name, a.t.name, a.t.name_len) != 0)
			abort();
	}
	return 0;
}
