/* Tests for tunnel/beep_frame: round trips, split invariance, exact consumed
 * counts, every malformed header with its reason and offset, the payload cap,
 * seqno arithmetic and the serializer's refusals. */
#include "tests/unit/cutest.h"
#include "tunnel/beep_frame.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_MAX_FRAMES   64
#define T_MAX_PAYLOAD  8192
#define T_CAP          4096    /* max_payload unless a test says otherwise */
#define T_RANDOM_SPLITS 1000

/* ---- a small deterministic PRNG (xorshift64*) ---- */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* ---- feeding a stream in chunks and recording everything observed ---- */
struct run {
	size_t nframes;
	struct beep_frame frames[T_MAX_FRAMES];
	uint64_t ends[T_MAX_FRAMES];          /* stream offset after each frame */
	uint8_t payloads[T_MAX_FRAMES][T_MAX_PAYLOAD];
	enum beep_parse_status last;
	const char *error;
	uint64_t error_offset;
	uint64_t offset;
	uint64_t consumed;                    /* sum of *consumed */
	int bad;                              /* an API invariant was broken */
};

/* Feeds in[0..len) as chunks of the given sizes (summing to len). */
static void
run_chunks(const uint8_t *in, size_t len, uint32_t cap, const size_t *sizes,
    size_t nsizes, struct run *r)
{
	struct beep_parser p;
	struct beep_frame f;
	size_t pos = 0, k, end, used;
	enum beep_parse_status st = BEEP_PARSE_NEED_MORE;

	memset(r, 0, sizeof(*r));
	CU_ASSERT_FATAL(beep_parser_init(&p, cap) == 0);
	for (k = 0; k < nsizes && st != BEEP_PARSE_ERROR; k++) {
		end = pos + sizes[k];
		if (end > len)
			end = len;
		while (pos < end) {
			st = beep_parse(&p, in + pos, end - pos, &used, &f);
			if (used > end - pos)
				r->bad = 1;
			pos += used;
			r->consumed += used;
			if (st == BEEP_PARSE_FRAME) {
				if (r->nframes < T_MAX_FRAMES) {
					r->frames[r->nframes] = f;
					r->ends[r->nframes] = p.offset;
					if (f.type != BEEP_SEQ && f.size <= T_MAX_PAYLOAD)
						memcpy(r->payloads[r->nframes], f.payload, f.size);
					r->frames[r->nframes].payload = NULL;
				}
				r->nframes++;
				continue;
			}
			if (st == BEEP_PARSE_NEED_MORE && pos != end)
				r->bad = 1;   /* NEED_MORE must eat everything */
			break;
		}
	}
	/* the final word: an empty call says need-more (or error, sticky) */
	if (st != BEEP_PARSE_ERROR) {
		st = beep_parse(&p, in + len, 0, &used, &f);
		if (used != 0)
			r->bad = 1;
	}
	r->last = st;
	r->error = p.error;
	r->error_offset = p.error_offset;
	r->offset = p.offset;
	if (st == BEEP_PARSE_ERROR) {
		/* sticky: nothing more is consumed */
		if (beep_parse(&p, in, len, &used, &f) != BEEP_PARSE_ERROR || used != 0)
			r->bad = 1;
		if (p.error_offset + 1 != p.offset)
			r->bad = 1;
	}
	beep_parser_free(&p);
}

static struct run run_a, run_b;   /* too big for the stack */

static void
run_whole(const uint8_t *in, size_t len, uint32_t cap, struct run *r)
{
	size_t s = len;

	run_chunks(in, len, cap, &s, 1, r);
}

static size_t *
sizes_bytewise(size_t len)
{
	size_t *s = malloc((len + 1) * sizeof(*s)), i;

	CU_ASSERT_FATAL(s != NULL);
	for (i = 0; i < len; i++)
		s[i] = 1;
	return s;
}

static void
run_bytewise(const uint8_t *in, size_t len, uint32_t cap, struct run *r)
{
	size_t *s = sizes_bytewise(len);

	run_chunks(in, len, cap, s, len, r);
	free(s);
}

/* Random chunk sizes: sometimes tiny, sometimes large. */
static void
run_random(const uint8_t *in, size_t len, uint32_t cap, struct run *r)
{
	size_t *s = malloc((len + 1) * sizeof(*s)), n = 0, left = len, c, maxc;

	CU_ASSERT_FATAL(s != NULL);
	maxc = 1 + (size_t)(rng_next() % (len + 1));
	while (left > 0) {
		c = 1 + (size_t)(rng_next() % maxc);
		if (c > left)
			c = left;
		s[n++] = c;
		left -= c;
	}
	run_chunks(in, len, cap, s, n, r);
	free(s);
}

static int
frame_eq(const struct beep_frame *a, const struct beep_frame *b)
{
	return a->type == b->type && a->channel == b->channel &&
	    a->msgno == b->msgno && a->more == b->more && a->seqno == b->seqno &&
	    a->size == b->size && a->ansno == b->ansno && a->ackno == b->ackno &&
	    a->window == b->window;
}

static int
run_eq(const struct run *a, const struct run *b)
{
	size_t i, n;

	if (a->bad || b->bad || a->nframes != b->nframes || a->last != b->last ||
	    a->error != b->error || a->error_offset != b->error_offset ||
	    a->offset != b->offset || a->consumed != b->consumed)
		return 0;
	n = a->nframes < T_MAX_FRAMES ? a->nframes : T_MAX_FRAMES;
	for (i = 0; i < n; i++) {
		if (!frame_eq(&a->frames[i], &b->frames[i]) || a->ends[i] != b->ends[i])
			return 0;
		if (a->frames[i].type != BEEP_SEQ && a->frames[i].size <= T_MAX_PAYLOAD &&
		    memcmp(a->payloads[i], b->payloads[i], a->frames[i].size) != 0)
			return 0;
	}
	return 1;
}

/* Whole, byte by byte and `random` random splits all agree; returns the
 * number of disagreements. */
static unsigned int
check_splits(const uint8_t *in, size_t len, uint32_t cap, unsigned int random)
{
	unsigned int i, bad = 0;

	run_whole(in, len, cap, &run_a);
	if (run_a.bad)
		bad++;
	run_bytewise(in, len, cap, &run_b);
	if (!run_eq(&run_a, &run_b))
		bad++;
	for (i = 0; i < random; i++) {
		run_random(in, len, cap, &run_b);
		if (!run_eq(&run_a, &run_b))
			bad++;
	}
	return bad;
}

/* ---- building frames ---- */
static size_t
put(uint8_t *out, size_t outlen, enum beep_frame_type t, uint32_t ch, uint32_t msgno,
    bool more, uint32_t seqno, const void *payload, uint32_t size, uint32_t ansno)
{
	struct beep_frame f;

	memset(&f, 0, sizeof(f));
	f.type = t;
	f.channel = ch;
	f.msgno = msgno;
	f.more = more;
	f.seqno = seqno;
	f.size = size;
	f.ansno = ansno;
	return beep_frame_write(out, outlen, &f, payload);
}

static size_t
put_seq(uint8_t *out, size_t outlen, uint32_t ch, uint32_t ackno, uint32_t window)
{
	struct beep_frame f;

	memset(&f, 0, sizeof(f));
	f.type = BEEP_SEQ;
	f.channel = ch;
	f.ackno = ackno;
	f.window = window;
	return beep_frame_write(out, outlen, &f, NULL);
}

/* A payload that looks like frame syntax on purpose. */
static const uint8_t tricky[] = "END\r\nMSG 0 1 . 0 0\r\n\0\n\r*END\r";
#define TRICKY_LEN (sizeof(tricky) - 1)

/* Builds a stream with one frame of every type; returns its length. */
static size_t
build_stream(uint8_t *buf, size_t cap, size_t *ends, size_t *nends)
{
	size_t n = 0, k = 0, w;
	uint8_t big[T_CAP];

	for (w = 0; w < sizeof(big); w++)
		big[w] = (uint8_t)(w * 7 + 3);
#define ADD(expr) do { w = (expr); CU_ASSERT_FATAL(w > 0); n += w; ends[k++] = n; } while (0)
	ADD(put(buf + n, cap - n, BEEP_MSG, 0, 1, false, 0, tricky, TRICKY_LEN, 0));
	ADD(put(buf + n, cap - n, BEEP_RPY, 0, 1, true, 287, big, 20, 0));
	ADD(put(buf + n, cap - n, BEEP_RPY, 0, 1, false, 307, NULL, 0, 0));
	ADD(put(buf + n, cap - n, BEEP_ERR, 3, 9, false, 4294967290u, big, 3000, 0));
	ADD(put(buf + n, cap - n, BEEP_ANS, 1, 0, true, 0, big, 20, 0));
	ADD(put(buf + n, cap - n, BEEP_ANS, 1, 0, true, 20, big, 20, 1));
	ADD(put(buf + n, cap - n, BEEP_ANS, 1, 0, false, 40, big, 10, 0));
	ADD(put(buf + n, cap - n, BEEP_NUL, 1, 0, false, 50, NULL, 0, 0));
	ADD(put_seq(buf + n, cap - n, 1, 4294967295u, 4096));
	ADD(put(buf + n, cap - n, BEEP_MSG, 2147483647u, 2147483647u, true, 4294967295u,
	    big, T_CAP, 0));
	ADD(put(buf + n, cap - n, BEEP_ANS, 2147483647u, 2147483647u, true, 4294967295u,
	    big, 1, 2147483647u));
	ADD(put_seq(buf + n, cap - n, 2147483647u, 0, 2147483647u));
#undef ADD
	*nends = k;
	return n;
}

/* ---- tests ---- */

/* The RFC 3080 examples, byte for byte, in both directions. */
static void
test_rfc_examples(void)
{
	static const char rpy[] = "RPY 0 1 * 287 20\r\n0123456789abcdefghijEND\r\n"
	    "RPY 0 1 . 307 0\r\nEND\r\n";
	static const char ans[] = "ANS 1 0 * 20 20 1\r\n01234567890123456789END\r\n";
	static const char seq[] = "SEQ 0 4096 4096\r\n";
	uint8_t out[128];
	struct beep_parser p;
	struct beep_frame f;
	size_t used;

	CU_ASSERT_EQUAL(put(out, sizeof(out), BEEP_RPY, 0, 1, true, 287,
	    "0123456789abcdefghij", 20, 0), 18 + 20 + 5);
	CU_ASSERT(memcmp(out, rpy, 43) == 0);
	CU_ASSERT_EQUAL(put(out, sizeof(out), BEEP_ANS, 1, 0, true, 20,
	    "01234567890123456789", 20, 1), sizeof(ans) - 1);
	CU_ASSERT(memcmp(out, ans, sizeof(ans) - 1) == 0);
	CU_ASSERT_EQUAL(put_seq(out, sizeof(out), 0, 4096, 4096), sizeof(seq) - 1);
	CU_ASSERT(memcmp(out, seq, sizeof(seq) - 1) == 0);

	CU_ASSERT_FATAL(beep_parser_init(&p, T_CAP) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)rpy, sizeof(rpy) - 1, &used, &f),
	    BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, 43);
	CU_ASSERT_EQUAL(f.type, BEEP_RPY);
	CU_ASSERT_EQUAL(f.channel, 0);
	CU_ASSERT_EQUAL(f.msgno, 1);
	CU_ASSERT(f.more);
	CU_ASSERT_EQUAL(f.seqno, 287);
	CU_ASSERT_EQUAL(f.size, 20);
	CU_ASSERT(memcmp(f.payload, "0123456789abcdefghij", 20) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)rpy + 43, sizeof(rpy) - 1 - 43,
	    &used, &f), BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, 22);
	CU_ASSERT_EQUAL(f.seqno, 307);
	CU_ASSERT_EQUAL(f.size, 0);
	CU_ASSERT(!f.more);
	CU_ASSERT_EQUAL(p.offset, sizeof(rpy) - 1);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)seq, sizeof(seq) - 1, &used, &f),
	    BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, sizeof(seq) - 1);
	CU_ASSERT_EQUAL(f.type, BEEP_SEQ);
	CU_ASSERT_EQUAL(f.channel, 0);
	CU_ASSERT_EQUAL(f.ackno, 4096);
	CU_ASSERT_EQUAL(f.window, 4096);
	beep_parser_free(&p);
}

/* Every type: write, parse, compare, write again: the same octets. */
static void
test_roundtrip(void)
{
	static uint8_t buf[16384], again[8192];
	size_t ends[T_MAX_FRAMES], nends, len, i, start, w;
	struct beep_frame f;

	len = build_stream(buf, sizeof(buf), ends, &nends);
	run_whole(buf, len, T_CAP, &run_a);
	CU_ASSERT_FALSE(run_a.bad);
	CU_ASSERT_EQUAL(run_a.last, BEEP_PARSE_NEED_MORE);
	CU_ASSERT_PTR_NULL(run_a.error);
	CU_ASSERT_EQUAL_FATAL(run_a.nframes, nends);
	CU_ASSERT_EQUAL(run_a.offset, len);
	for (i = 0, start = 0; i < nends; start = ends[i], i++) {
		CU_ASSERT_EQUAL(run_a.ends[i], ends[i]);
		f = run_a.frames[i];
		CU_ASSERT_EQUAL(beep_frame_len(&f), ends[i] - start);
		w = beep_frame_write(again, sizeof(again), &f, run_a.payloads[i]);
		CU_ASSERT_EQUAL(w, ends[i] - start);
		CU_ASSERT(w == ends[i] - start && memcmp(again, buf + start, w) == 0);
	}
	/* spot checks against what build_stream wrote */
	CU_ASSERT_EQUAL(run_a.frames[0].type, BEEP_MSG);
	CU_ASSERT_EQUAL(run_a.frames[0].size, TRICKY_LEN);
	CU_ASSERT(memcmp(run_a.payloads[0], tricky, TRICKY_LEN) == 0);
	CU_ASSERT_EQUAL(run_a.frames[3].type, BEEP_ERR);
	CU_ASSERT_EQUAL(run_a.frames[3].seqno, 4294967290u);
	CU_ASSERT_EQUAL(run_a.frames[3].size, 3000);
	CU_ASSERT_EQUAL(run_a.frames[5].type, BEEP_ANS);
	CU_ASSERT_EQUAL(run_a.frames[5].ansno, 1);
	CU_ASSERT_EQUAL(run_a.frames[7].type, BEEP_NUL);
	CU_ASSERT_EQUAL(run_a.frames[8].type, BEEP_SEQ);
	CU_ASSERT_EQUAL(run_a.frames[8].ackno, 4294967295u);
	CU_ASSERT_EQUAL(run_a.frames[9].channel, 2147483647u);
	CU_ASSERT_EQUAL(run_a.frames[9].msgno, 2147483647u);
	CU_ASSERT_EQUAL(run_a.frames[9].seqno, 4294967295u);
	CU_ASSERT_EQUAL(run_a.frames[9].size, T_CAP);
	CU_ASSERT_EQUAL(run_a.frames[10].ansno, 2147483647u);
	CU_ASSERT_EQUAL(run_a.frames[11].window, 2147483647u);
}

static uint64_t
seed_from_env(void)
{
	const char *s = getenv("BEEPGATE_SEED");
	uint64_t seed;

	seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	if (seed == 0)
		seed = 1;
	printf("\n  seed %" PRIu64 " (set BEEPGATE_SEED to repeat) ", seed);
	return seed;
}

/* Whole, byte by byte, 1000 random splits: identical results. */
static void
test_split_invariance(void)
{
	static uint8_t buf[16384];
	size_t ends[T_MAX_FRAMES], nends, len;

	rng_state = seed_from_env();
	len = build_stream(buf, sizeof(buf), ends, &nends);
	CU_ASSERT_EQUAL(check_splits(buf, len, T_CAP, T_RANDOM_SPLITS), 0);
	CU_ASSERT_EQUAL(run_a.nframes, nends);
	/* the same stream cut short after every octet of its first frames */
	CU_ASSERT_EQUAL(check_splits(buf, ends[2] + 7, T_CAP, 50), 0);
	CU_ASSERT_EQUAL(run_a.nframes, 3);
	CU_ASSERT_EQUAL(run_a.last, BEEP_PARSE_NEED_MORE);
	CU_ASSERT_EQUAL(run_a.offset, ends[2] + 7);
	/* and ending in an error in the last frame (a SEQ) */
	memcpy(buf + len - 2, "\n\n", 2);
	CU_ASSERT_EQUAL(check_splits(buf, len, T_CAP, T_RANDOM_SPLITS), 0);
	CU_ASSERT_EQUAL(run_a.nframes, nends - 1);
	CU_ASSERT_EQUAL(run_a.last, BEEP_PARSE_ERROR);
	CU_ASSERT_PTR_NOT_NULL(run_a.error);
	CU_ASSERT(run_a.error != NULL && strcmp(run_a.error, "bare LF in header") == 0);
	CU_ASSERT_EQUAL(run_a.error_offset, len - 2);
}

/* Frames then foreign octets: each call stops right after "END\r\n". */
static void
test_consumed_exact(void)
{
	static const uint8_t tail[] = "\x16\x03\x01\x00\x05MSG 0 1 . 0 0\r\nEND\r\n";
	uint8_t buf[512], copy[512];
	size_t n1, n2, n3, len, used;
	struct beep_parser p;
	struct beep_frame f;

	n1 = put(buf, sizeof(buf), BEEP_RPY, 1, 0, false, 0, "<ok/>", 5, 0);
	n2 = put_seq(buf + n1, sizeof(buf) - n1, 1, 5, 4096);
	n3 = put(buf + n1 + n2, sizeof(buf) - n1 - n2, BEEP_NUL, 1, 0, false, 5, NULL, 0, 0);
	CU_ASSERT_FATAL(n1 > 0 && n2 > 0 && n3 > 0);
	memcpy(buf + n1 + n2 + n3, tail, sizeof(tail) - 1);
	len = n1 + n2 + n3 + sizeof(tail) - 1;
	memcpy(copy, buf, len);

	CU_ASSERT_FATAL(beep_parser_init(&p, 64) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, buf, len, &used, &f), BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, n1);
	CU_ASSERT_EQUAL(f.type, BEEP_RPY);
	CU_ASSERT(memcmp(f.payload, "<ok/>", 5) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, buf + n1, len - n1, &used, &f), BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, n2);
	CU_ASSERT_EQUAL(f.type, BEEP_SEQ);
	CU_ASSERT_EQUAL(f.ackno, 5);
	CU_ASSERT_EQUAL(beep_parse(&p, buf + n1 + n2, len - n1 - n2, &used, &f),
	    BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, n3);
	CU_ASSERT_EQUAL(f.type, BEEP_NUL);
	CU_ASSERT_EQUAL(p.offset, n1 + n2 + n3);
	/* the rest is someone else's, untouched */
	CU_ASSERT(memcmp(buf, copy, len) == 0);
	CU_ASSERT(memcmp(buf + n1 + n2 + n3, tail, sizeof(tail) - 1) == 0);
	/* and it is not BEEP: parsing on fails at its first octet */
	CU_ASSERT_EQUAL(beep_parse(&p, buf + n1 + n2 + n3, len - n1 - n2 - n3, &used, &f),
	    BEEP_PARSE_ERROR);
	CU_ASSERT_EQUAL(used, 1);
	CU_ASSERT_EQUAL(p.error_offset, n1 + n2 + n3);
	CU_ASSERT_STRING_EQUAL(p.error, "bad keyword");
	/* reset: a fresh stream parses again */
	beep_parser_reset(&p);
	CU_ASSERT_PTR_NULL(p.error);
	CU_ASSERT_EQUAL(p.offset, 0);
	CU_ASSERT_EQUAL(beep_parse(&p, tail + 5, sizeof(tail) - 1 - 5, &used, &f),
	    BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, sizeof(tail) - 1 - 5);
	beep_parser_free(&p);
	beep_parser_free(&p);
	beep_parser_free(NULL);
}

struct bad_case {
	const char *name;
	const char *in;
	size_t len;
	uint32_t cap;            /* 0: T_CAP; T_CAP_ZERO: 0 */
	size_t frames;           /* good frames before the bad one */
	const char *error;
	uint64_t offset;
};

#define L(s) s, sizeof(s) - 1
#define T_CAP_ZERO 0xffffffffu

static const struct bad_case bad_cases[] = {
	{ "bare LF ends header", L("MSG 0 1 . 0 0\nEND\r\n"), 0, 0, "bare LF in header", 13 },
	{ "bare LF after keyword", L("MSG\n"), 0, 0, "bare LF in header", 3 },
	{ "bare LF in 2nd frame", L("MSG 0 1 . 0 0\r\nEND\r\nRPY 0 1 . 0 0\nEND\r\n"), 0, 1,
	  "bare LF in header", 33 },
	{ "NUL octet", L("MSG 0\0 1 . 0 0\r\nEND\r\n"), 0, 0, "NUL octet in header", 5 },
	{ "NUL octet first", L("\0MSG"), 0, 0, "NUL octet in header", 0 },
	{ "plus sign", L("MSG +1 1 . 0 0\r\n"), 0, 0, "sign in number", 4 },
	{ "negative msgno", L("MSG 0 -1 . 0 0\r\n"), 0, 0, "negative number", 6 },
	{ "negative size", L("MSG 0 1 . 0 -0\r\n"), 0, 0, "negative number", 12 },
	{ "leading zero channel", L("MSG 01 1 . 0 0\r\n"), 0, 0, "leading zero", 5 },
	{ "zero-padded seqno", L("MSG 0 1 . 00 0\r\n"), 0, 0, "leading zero", 11 },
	{ "zero-padded msgno", L("MSG 0 0001 . 0 0\r\n"), 0, 0, "leading zero", 7 },
	{ "space-padded number", L("MSG 0 1 .  0 0\r\n"), 0, 0, "double space", 10 },
	{ "11-digit channel", L("MSG 10000000000 1 . 0 0\r\n"), 0, 0, "number too long", 14 },
	{ "11-digit seqno", L("MSG 0 1 . 10000000000 0\r\n"), 0, 0, "number too long", 20 },
	{ "channel 2^31", L("MSG 2147483648 1 . 0 0\r\n"), 0, 0, "number out of range", 13 },
	{ "msgno 2^31", L("MSG 0 2147483648 . 0 0\r\n"), 0, 0, "number out of range", 15 },
	{ "seqno 2^32", L("MSG 0 1 . 4294967296 0\r\n"), 0, 0, "number out of range", 19 },
	{ "seqno 9999999999", L("MSG 0 1 . 9999999999 0\r\n"), 0, 0, "number out of range", 19 },
	{ "ansno 2^31", L("ANS 0 1 . 0 0 2147483648\r\n"), 0, 0, "number out of range", 23 },
	{ "ackno 2^32", L("SEQ 0 4294967296 0\r\n"), 0, 0, "number out of range", 15 },
	{ "window 2^31", L("SEQ 0 0 2147483648\r\n"), 0, 0, "number out of range", 17 },
	{ "lower-case keyword", L("msg 0 1 . 0 0\r\n"), 0, 0, "bad keyword", 0 },
	{ "mixed-case keyword", L("Msg 0 1 . 0 0\r\n"), 0, 0, "bad keyword", 1 },
	{ "unknown keyword", L("MSX 0 1 . 0 0\r\n"), 0, 0, "bad keyword", 2 },
	{ "keyword too long", L("MSGS 0 1 . 0 0\r\n"), 0, 0, "bad keyword", 3 },
	{ "HTTP request", L("GET / HTTP/1.1\r\n"), 0, 0, "bad keyword", 0 },
	{ "leading space", L(" MSG 0 1 . 0 0\r\n"), 0, 0, "bad keyword", 0 },
	{ "empty line", L("\r\n"), 0, 0, "bad keyword", 0 },
	{ "tab after keyword", L("MSG\t0 1 . 0 0\r\n"), 0, 0, "bad keyword", 3 },
	{ "double space after keyword", L("MSG  0 1 . 0 0\r\n"), 0, 0, "double space", 4 },
	{ "double space before more", L("MSG 0 1  . 0 0\r\n"), 0, 0, "double space", 8 },
	{ "tab in header", L("MSG 0\t1 . 0 0\r\n"), 0, 0, "bad number", 5 },
	{ "letter in number", L("MSG 0 1 . 0 1x\r\n"), 0, 0, "bad number", 13 },
	{ "hex number", L("MSG 0 0x1 . 0 0\r\n"), 0, 0, "bad number", 7 },
	{ "bad more", L("MSG 0 1 + 0 0\r\n"), 0, 0, "bad continuation indicator", 8 },
	{ "more twice", L("MSG 0 1 .. 0 0\r\n"), 0, 0, "bad continuation indicator", 9 },
	{ "keyword only", L("MSG\r\n"), 0, 0, "missing parameter", 3 },
	{ "missing size", L("MSG 0 1 . 0\r\n"), 0, 0, "missing parameter", 11 },
	{ "missing ansno", L("ANS 0 1 . 0 0\r\n"), 0, 0, "missing parameter", 13 },
	{ "missing window", L("SEQ 0 0\r\n"), 0, 0, "missing parameter", 7 },
	{ "space before CRLF", L("MSG 0 1 . 0 0 \r\n"), 0, 0, "too many parameters", 13 },
	{ "ansno on MSG", L("MSG 0 1 . 0 0 0\r\nEND\r\n"), 0, 0, "too many parameters", 13 },
	{ "SEQ with size", L("SEQ 0 0 4096 0\r\n"), 0, 0, "too many parameters", 12 },
	{ "SEQ with trailer", L("SEQ 0 0 4096\r\nEND\r\n"), 0, 1, "bad keyword", 15 },
	{ "CR CR LF", L("MSG 0 1 . 0 0\r\r\n"), 0, 0, "CR without LF in header", 14 },
	{ "missing trailer", L("MSG 0 1 . 0 3\r\nabcdEND\r\n"), 0, 0, "missing trailer", 18 },
	{ "no trailer at all", L("MSG 0 1 . 0 0\r\nMSG 0 2 . 0 0\r\n"), 0, 0,
	  "missing trailer", 15 },
	{ "lower-case trailer", L("MSG 0 1 . 0 0\r\nend\r\n"), 0, 0, "missing trailer", 15 },
	{ "garbled trailer", L("MSG 0 1 . 0 3\r\nabcENX\r\n"), 0, 0, "garbled trailer", 20 },
	{ "trailer with bare LF", L("MSG 0 1 . 0 0\r\nEND\n"), 0, 0, "garbled trailer", 18 },
	{ "trailer with NUL", L("MSG 0 1 . 0 0\r\nEN\0\r\n"), 0, 0, "garbled trailer", 17 },
	{ "size too small", L("MSG 0 1 . 0 2\r\nabcEND\r\n"), 0, 0, "missing trailer", 17 },
	{ "NUL with size", L("NUL 0 1 . 0 1\r\n\0END\r\n"), 0, 0, "NUL frame with payload", 12 },
	{ "NUL with large size", L("NUL 0 1 . 0 20\r\n"), 0, 0, "NUL frame with payload", 12 },
	{ "NUL with more", L("NUL 0 1 * 0 0\r\nEND\r\n"), 0, 0, "NUL frame marked '*'", 8 },
	{ "size over cap", L("MSG 0 1 . 0 4097\r\n"), 0, 0, "size exceeds window", 15 },
	{ "size over small cap", L("MSG 0 1 . 0 17"), 16, 0, "size exceeds window", 13 },
	{ "size ten times cap", L("MSG 0 1 . 0 40960\r\n"), 0, 0, "size exceeds window", 16 },
	{ "any size with zero cap", L("RPY 0 1 . 0 1"), T_CAP_ZERO, 0, "size exceeds window", 12 },
};

static void
test_malformed(void)
{
	size_t i, len;
	uint32_t cap;
	const struct bad_case *c;

	rng_state = 0x5eed;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		c = &bad_cases[i];
		len = c->len;
		cap = c->cap == 0 ? T_CAP : c->cap;
		if (c->cap == T_CAP_ZERO)
			cap = 0;
		run_whole((const uint8_t *)c->in, len, cap, &run_a);
		if (run_a.last != BEEP_PARSE_ERROR || run_a.error == NULL ||
		    strcmp(run_a.error, c->error) != 0 || run_a.error_offset != c->offset ||
		    run_a.nframes != c->frames || run_a.offset != c->offset + 1 || run_a.bad)
			printf("\n  case '%s': status %d error '%s' at %" PRIu64 ", frames %zu",
			    c->name, (int)run_a.last, run_a.error ? run_a.error : "(none)",
			    run_a.error_offset, run_a.nframes);
		CU_ASSERT_EQUAL(run_a.last, BEEP_PARSE_ERROR);
		CU_ASSERT(run_a.error != NULL && strcmp(run_a.error, c->error) == 0);
		CU_ASSERT_EQUAL(run_a.error_offset, c->offset);
		CU_ASSERT_EQUAL(run_a.nframes, c->frames);
		/* consumed up to and including the bad octet */
		CU_ASSERT_EQUAL(run_a.offset, c->offset + 1);
		CU_ASSERT_EQUAL(run_a.consumed, c->offset + 1);
		CU_ASSERT_FALSE(run_a.bad);
		/* found the same way however the octets arrive */
		CU_ASSERT_EQUAL(check_splits((const uint8_t *)c->in, len, cap, 20), 0);
	}
}

/* The size is refused as soon as its digits pass the cap: no payload octet
 * is needed (or buffered) to know. */
static void
test_size_cap(void)
{
	static const char at_cap[] = "MSG 0 1 . 0 16\r\n";
	static const char over[] = "MSG 0 1 . 0 17";
	uint8_t buf[64];
	struct beep_parser p;
	struct beep_frame f;
	size_t used, n;

	CU_ASSERT_FATAL(beep_parser_init(&p, 16) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)at_cap, sizeof(at_cap) - 1, &used,
	    &f), BEEP_PARSE_NEED_MORE);
	CU_ASSERT_EQUAL(used, sizeof(at_cap) - 1);
	beep_parser_reset(&p);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)over, sizeof(over) - 1, &used, &f),
	    BEEP_PARSE_ERROR);
	CU_ASSERT_EQUAL(used, sizeof(over) - 1);
	CU_ASSERT_STRING_EQUAL(p.error, "size exceeds window");
	beep_parser_free(&p);

	/* a zero cap still takes empty frames */
	CU_ASSERT_FATAL(beep_parser_init(&p, 0) == 0);
	n = put(buf, sizeof(buf), BEEP_MSG, 0, 0, false, 0, NULL, 0, 0);
	CU_ASSERT_EQUAL(beep_parse(&p, buf, n, &used, &f), BEEP_PARSE_FRAME);
	CU_ASSERT_EQUAL(used, n);
	beep_parser_free(&p);
}

/* An unterminated header never grows past BEEP_HEADER_MAX octets. */
static void
test_overlong_header(void)
{
	static uint8_t buf[1 << 20];
	struct beep_parser p;
	struct beep_frame f;
	size_t used, i, k, n;
	static const char *prefixes[] = { "", "MSG", "MSG 0 1 . 0 ", "ANS 0 1 * 0 0 ",
	    "SEQ 0 0 ", "MSG 0 1 . 0 0 ", "MSG 0 1 . 0 0\r" };
	static const uint8_t fill[] = { 'A', '1', ' ', '0', '9', '.', '*', 0x80, '\r' };
	static const char *reasons[] = { "bad keyword", "number too long", "double space",
	    "leading zero", "number out of range", "bad continuation indicator",
	    "too many parameters", "missing parameter", "bad number",
	    "CR without LF in header", "size exceeds window" };
	int known;

	CU_ASSERT_FATAL(beep_parser_init(&p, T_CAP) == 0);
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		for (k = 0; k < sizeof(fill); k++) {
			n = strlen(prefixes[i]);
			memcpy(buf, prefixes[i], n);
			memset(buf + n, fill[k], sizeof(buf) - n);
			beep_parser_reset(&p);
			CU_ASSERT_EQUAL(beep_parse(&p, buf, sizeof(buf), &used, &f),
			    BEEP_PARSE_ERROR);
			CU_ASSERT(used <= BEEP_HEADER_MAX);
			CU_ASSERT_PTR_NOT_NULL(p.error);
			known = 0;
			for (n = 0; p.error != NULL && n < sizeof(reasons) / sizeof(reasons[0]); n++)
				known |= strcmp(p.error, reasons[n]) == 0;
			CU_ASSERT(known);
		}
	}
	/* digits forever: the 11th digit is refused */
	memcpy(buf, "MSG 0 1 . ", 10);
	memset(buf + 10, '1', 300);
	beep_parser_reset(&p);
	CU_ASSERT_EQUAL(beep_parse(&p, buf, 310, &used, &f), BEEP_PARSE_ERROR);
	CU_ASSERT_STRING_EQUAL(p.error, "number too long");
	CU_ASSERT_EQUAL(p.error_offset, 20);
	CU_ASSERT_EQUAL(used, 21);
	beep_parser_free(&p);
}

/* seqno values near 2^32 parse, and the arithmetic wraps. */
static void
test_seqno_wrap(void)
{
	static const char near[] = "MSG 0 1 * 4294967295 2\r\nabEND\r\n"
	    "MSG 0 1 . 1 0\r\nEND\r\nSEQ 0 4294967294 2147483647\r\n";
	struct beep_parser p;
	struct beep_frame f;
	size_t used, off = 0;

	CU_ASSERT_FATAL(beep_parser_init(&p, T_CAP) == 0);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)near, sizeof(near) - 1, &used, &f),
	    BEEP_PARSE_FRAME);
	off += used;
	CU_ASSERT_EQUAL(f.seqno, 4294967295u);
	CU_ASSERT_EQUAL(beep_seq_add(f.seqno, f.size), 1);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)near + off, sizeof(near) - 1 - off,
	    &used, &f), BEEP_PARSE_FRAME);
	off += used;
	CU_ASSERT_EQUAL(f.seqno, 1);
	CU_ASSERT_EQUAL(beep_parse(&p, (const uint8_t *)near + off, sizeof(near) - 1 - off,
	    &used, &f), BEEP_PARSE_FRAME);
	off += used;
	CU_ASSERT_EQUAL(off, sizeof(near) - 1);
	CU_ASSERT_EQUAL(f.ackno, 4294967294u);
	CU_ASSERT_EQUAL(f.window, 2147483647u);
	beep_parser_free(&p);

	CU_ASSERT_EQUAL(beep_seq_add(4294967295u, 1), 0);
	CU_ASSERT_EQUAL(beep_seq_add(4294967290u, 10), 4);
	CU_ASSERT_EQUAL(beep_seq_add(0, 0), 0);
	CU_ASSERT_EQUAL(beep_seq_diff(0, 4294967295u), 1);
	CU_ASSERT_EQUAL(beep_seq_diff(4, 4294967290u), 10);
	CU_ASSERT_EQUAL(beep_seq_diff(10, 4), 6);
	CU_ASSERT_EQUAL(beep_seq_diff(4294967295u, 0), 4294967295u);
}

/* The serializer refuses what we may not send, and short buffers. */
static void
test_write_refuses(void)
{
	uint8_t out[256];
	struct beep_frame f;
	size_t need;

	memset(&f, 0, sizeof(f));
	f.type = BEEP_MSG;
	f.size = 3;
	f.payload = (const uint8_t *)"abc";
	need = beep_frame_len(&f);
	CU_ASSERT_EQUAL(need, 15 + 3 + 5);
	/* exactly enough, one less, NULL payload means f.payload */
	CU_ASSERT_EQUAL(beep_frame_write(out, need, &f, NULL), need);
	CU_ASSERT(memcmp(out, "MSG 0 0 . 0 3\r\nabcEND\r\n", need) == 0);
	CU_ASSERT_EQUAL(beep_frame_write(out, need - 1, &f, NULL), 0);
	f.payload = NULL;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.payload = (const uint8_t *)"abc";

	f.channel = 2147483648u;
	CU_ASSERT_EQUAL(beep_frame_len(&f), 0);
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.channel = 0;
	f.msgno = 2147483648u;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.msgno = 0;
	f.type = BEEP_ANS;
	f.ansno = 2147483648u;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.ansno = 2147483647u;
	CU_ASSERT(beep_frame_write(out, sizeof(out), &f, NULL) > 0);
	f.type = BEEP_MSG;
	f.size = 2147483648u;
	CU_ASSERT_EQUAL(beep_frame_len(&f), 0);
	f.size = 0;

	f.type = BEEP_NUL;
	CU_ASSERT(beep_frame_write(out, sizeof(out), &f, NULL) > 0);
	f.more = true;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.more = false;
	f.size = 1;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.size = 0;

	f.type = BEEP_SEQ;
	f.window = 2147483648u;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
	f.window = 0;
	f.ackno = 4294967295u;
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 20);
	CU_ASSERT(memcmp(out, "SEQ 0 4294967295 0\r\n", 20) == 0);

	f.type = (enum beep_frame_type)6;
	CU_ASSERT_EQUAL(beep_frame_len(&f), 0);
	CU_ASSERT_EQUAL(beep_frame_write(out, sizeof(out), &f, NULL), 0);
}

static void
test_type_names(void)
{
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_MSG), "MSG");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_RPY), "RPY");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_ERR), "ERR");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_ANS), "ANS");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_NUL), "NUL");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name(BEEP_SEQ), "SEQ");
	CU_ASSERT_STRING_EQUAL(beep_frame_type_name((enum beep_frame_type)6), "???");
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "RFC 3080/3081 examples", test_rfc_examples },
		{ "round trip of every frame type", test_roundtrip },
		{ "split invariance (whole, bytewise, random)", test_split_invariance },
		{ "exact consumed counts, tail untouched", test_consumed_exact },
		{ "malformed headers and trailers", test_malformed },
		{ "payload cap before the payload", test_size_cap },
		{ "over-long unterminated header", test_overlong_header },
		{ "seqno near 2^32 and wrap", test_seqno_wrap },
		{ "serializer refusals", test_write_refuses },
		{ "type names", test_type_names },
		CUTEST_END
	};

	return cutest_run("beep_frame", cases);
}
