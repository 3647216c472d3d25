/* Fuzz target for tunnel/beep_frame.
 *
 * The input is a byte stream.  It is parsed whole, byte by byte and in
 * several splits derived from the input itself, with two payload caps; every
 * way must observe the same frames (fields, payload, end offsets) and the
 * same final status, error text and error offset.  Every frame parsed from
 * the whole input must re-serialize to exactly the octets it came from (only
 * canonical frames are accepted).  Any disagreement abort()s. */
#include "tunnel/beep_frame.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SPLITS 4
#define FUZZ_OUT    (8192 + 256)

struct fuzz_run {
	uint64_t hash;          /* over every frame and its end offset */
	size_t nframes;
	enum beep_parse_status last;
	const char *error;
	uint64_t error_offset;
	uint64_t offset;
};

static uint64_t
fuzz_mix(uint64_t h, const void *v, size_t n)
{
	const uint8_t *b = v;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
fuzz_frame_hash(uint64_t h, const struct beep_frame *f, uint64_t end)
{
	uint32_t v[9];

	v[0] = (uint32_t)f->type;
	v[1] = f->channel;
	v[2] = f->msgno;
	v[3] = f->more;
	v[4] = f->seqno;
	v[5] = f->size;
	v[6] = f->ansno;
	v[7] = f->ackno;
	v[8] = f->window;
	h = fuzz_mix(h, v, sizeof(v));
	h = fuzz_mix(h, &end, sizeof(end));
	if (f->type != BEEP_SEQ && f->size > 0)
		h = fuzz_mix(h, f->payload, f->size);
	return h;
}

enum fuzz_split { FUZZ_WHOLE, FUZZ_BYTES, FUZZ_RANDOM };

/* Feeds data in chunks: whole, byte by byte, or of pseudo-random lengths
 * from the xorshift state g (non-zero).  With check set, every frame must
 * re-serialize to its own octets. */
static void
fuzz_feed(const uint8_t *data, size_t size, uint32_t cap, enum fuzz_split how,
    uint64_t g, int check, struct fuzz_run *r)
{
	static uint8_t out[FUZZ_OUT];
	struct beep_parser p;
	struct beep_frame f;
	enum beep_parse_status st = BEEP_PARSE_NEED_MORE;
	size_t pos = 0, end = 0, used, start = 0, w;

	memset(r, 0, sizeof(*r));
	r->hash = 0xcbf29ce484222325ULL;
	if (beep_parser_init(&p, cap) != 0)
		abort();
	while (pos < size && st != BEEP_PARSE_ERROR) {
		switch (how) {
		case FUZZ_WHOLE:
			end = size;
			break;
		case FUZZ_BYTES:
			end = pos + 1;
			break;
		case FUZZ_RANDOM:
			g ^= g << 13;
			g ^= g >> 7;
			g ^= g << 17;
			end = pos + 1 + (size_t)(g % 97);
			break;
		}
		if (end > size)
			end = size;
		while (pos < end) {
			st = beep_parse(&p, data + pos, end - pos, &used, &f);
			if (used > end - pos)
				abort();
			pos += used;
			if (p.offset != pos)
				abort();
			if (st == BEEP_PARSE_FRAME) {
				r->hash = fuzz_frame_hash(r->hash, &f, p.offset);
				r->nframes++;
				if (check) {
					w = beep_frame_write(out, sizeof(out), &f, f.payload);
					if (w != pos - start || memcmp(out, data + start, w) != 0)
						abort();
				}
				start = pos;
				continue;
			}
			if (st == BEEP_PARSE_ERROR) {
				if (p.error == NULL || p.error_offset + 1 != p.offset)
					abort();
			} else if (pos != end)
				abort();
			break;
		}
	}
	if (st != BEEP_PARSE_ERROR) {
		st = beep_parse(&p, data + size, 0, &used, &f);
		if (st != BEEP_PARSE_NEED_MORE || used != 0)
			abort();
	} else if (beep_parse(&p, data, size, &used, &f) != BEEP_PARSE_ERROR || used != 0)
		abort();
	r->last = st;
	r->error = p.error;
	r->error_offset = p.error_offset;
	r->offset = p.offset;
	beep_parser_free(&p);
}

static void
fuzz_same(const struct fuzz_run *a, const struct fuzz_run *b)
{
	if (a->hash != b->hash || a->nframes != b->nframes || a->last != b->last ||
	    a->error != b->error || a->error_offset != b->error_offset ||
	    a->offset != b->offset)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t caps[] = { 4096, 7 };
	struct fuzz_run whole, other;
	uint64_t seed;
	size_t c, k;

	seed = fuzz_mix(0xcbf29ce484222325ULL, data, size);
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		fuzz_feed(data, size, caps[c], FUZZ_WHOLE, 0, 1, &whole);
		fuzz_feed(data, size, caps[c], FUZZ_BYTES, 0, 0, &other);
		fuzz_same(&whole, &other);
		for (k = 0; k < FUZZ_SPLITS; k++) {
			fuzz_feed(data, size, caps[c], FUZZ_RANDOM, (seed + k) | 1, 0, &other);
			fuzz_same(&whole, &other);
		}
	}
	return 0;
}
