/* beep_frame: BEEP frames (RFC 3080 sec. 2.2, RFC 3081 sec. 3.1.3).
 *
 * The header is checked octet by octet as it arrives, so every error is
 * found at the first octet that makes the header impossible and the result
 * (frames, error, error offset, octets consumed) does not depend on how the
 * input was split.  The grammar is strict enough that only the canonical
 * spelling of a frame is accepted: beep_frame_write(parse(x)) == x.
 *
 * Header octets go through one state machine (no separate fast path that
 * could disagree with it); the payload is copied with one memcpy per call;
 * the trailer is compared in place. */
#include "tunnel/beep_frame.h"

#include <stdlib.h>
#include <string.h>

/* A number has at most this many digits ("4294967295"). */
#define BEEP_NUMBER_DIGITS 10
#define BEEP_MAX_SEQNO     4294967295u

/* Where the parser is inside a frame. */
enum beep_phase {
	BEEP_PH_KEYWORD,	/* p->hlen octets of the keyword seen */
	BEEP_PH_FIELD,		/* first octet of parameter p->field */
	BEEP_PH_DIGITS,		/* inside a number: p->num, p->ndigits */
	BEEP_PH_SEP,		/* after the keyword or '.'/'*': SP or CR */
	BEEP_PH_LF,		/* CR seen: LF must follow */
	BEEP_PH_PAYLOAD,	/* p->have of cur.size octets buffered */
	BEEP_PH_TRAILER,	/* p->tlen octets of "END\r\n" matched */
	BEEP_PH_DONE,		/* frame complete (inside beep_parse only) */
	BEEP_PH_ERROR,		/* sticky until beep_parser_reset */
};

/* The components of a header, in order. */
enum beep_field {
	BEEP_F_KEYWORD,
	BEEP_F_CHANNEL,
	BEEP_F_MSGNO,
	BEEP_F_MORE,
	BEEP_F_SEQNO,
	BEEP_F_SIZE,
	BEEP_F_ANSNO,
	BEEP_F_ACKNO,
	BEEP_F_WINDOW,
};

/* Indexed by enum beep_frame_type. */
static const char beep_keywords[][4] = { "MSG", "RPY", "ERR", "ANS", "NUL", "SEQ" };
#define BEEP_NKEYWORDS (sizeof(beep_keywords) / sizeof(beep_keywords[0]))

/* MSG RPY ERR NUL use the first six, ANS all seven. */
static const enum beep_field beep_data_fields[] = {
	BEEP_F_KEYWORD, BEEP_F_CHANNEL, BEEP_F_MSGNO, BEEP_F_MORE,
	BEEP_F_SEQNO, BEEP_F_SIZE, BEEP_F_ANSNO,
};
static const enum beep_field beep_seq_fields[] = {
	BEEP_F_KEYWORD, BEEP_F_CHANNEL, BEEP_F_ACKNO, BEEP_F_WINDOW,
};

static unsigned int
beep_nfields(enum beep_frame_type t)
{
	switch (t) {
	case BEEP_MSG:
	case BEEP_RPY:
	case BEEP_ERR:
	case BEEP_NUL:
		return 6;
	case BEEP_ANS:
		return 7;
	case BEEP_SEQ:
		return 4;
	}
	return 0;
}

static enum beep_field
beep_field_kind(const struct beep_parser *p)
{
	if (p->cur.type == BEEP_SEQ)
		return beep_seq_fields[p->field];
	return beep_data_fields[p->field];
}

static uint64_t
beep_field_max(enum beep_field f)
{
	switch (f) {
	case BEEP_F_SEQNO:
	case BEEP_F_ACKNO:
		return BEEP_MAX_SEQNO;
	case BEEP_F_KEYWORD:
	case BEEP_F_CHANNEL:
	case BEEP_F_MSGNO:
	case BEEP_F_MORE:
	case BEEP_F_SIZE:
	case BEEP_F_ANSNO:
	case BEEP_F_WINDOW:
		break;
	}
	return BEEP_MAX_NUMBER;
}

/* Starts a new frame. */
static void
beep_parser_restart(struct beep_parser *p)
{
	p->phase = BEEP_PH_KEYWORD;
	p->hlen = 0;
	memset(&p->cur, 0, sizeof(p->cur));
	p->have = 0;
	p->tlen = 0;
	p->field = 0;
	p->ndigits = 0;
	p->num = 0;
}

int
beep_parser_init(struct beep_parser *p, uint32_t max_payload)
{
	memset(p, 0, sizeof(*p));
	p->max_payload = max_payload;
	/* malloc(0) may return NULL: always ask for at least one octet. */
	if ((p->buf = malloc(max_payload > 0 ? (size_t)max_payload : 1)) == NULL)
		return -1;
	beep_parser_reset(p);
	return 0;
}

void
beep_parser_reset(struct beep_parser *p)
{
	beep_parser_restart(p);
	p->offset = 0;
	p->error = NULL;
	p->error_offset = 0;
}

void
beep_parser_free(struct beep_parser *p)
{
	if (p == NULL)
		return;
	free(p->buf);
	p->buf = NULL;
}

/* The keyword octet c, just stored at p->header[p->hlen - 1]. */
static const char *
beep_keyword(struct beep_parser *p, uint8_t c)
{
	size_t k = p->hlen - 1, t;

	for (t = 0; t < BEEP_NKEYWORDS; t++) {
		if ((uint8_t)beep_keywords[t][k] != c ||
		    memcmp(beep_keywords[t], p->header, k) != 0)
			continue;
		if (k == 2) {
			p->cur.type = (enum beep_frame_type)t;
			p->field = 0;
			p->phase = BEEP_PH_SEP;
		}
		return NULL;
	}
	return "bad keyword";
}

/* Stores the number just ended in its parameter. */
static void
beep_store(struct beep_parser *p)
{
	uint32_t v = (uint32_t)p->num;

	switch (beep_field_kind(p)) {
	case BEEP_F_CHANNEL:
		p->cur.channel = v;
		break;
	case BEEP_F_MSGNO:
		p->cur.msgno = v;
		break;
	case BEEP_F_SEQNO:
		p->cur.seqno = v;
		break;
	case BEEP_F_SIZE:
		p->cur.size = v;
		break;
	case BEEP_F_ANSNO:
		p->cur.ansno = v;
		break;
	case BEEP_F_ACKNO:
		p->cur.ackno = v;
		break;
	case BEEP_F_WINDOW:
		p->cur.window = v;
		break;
	case BEEP_F_KEYWORD:
	case BEEP_F_MORE:
		break;
	}
}

/* The octet after a component: SP before the next one, CR after the last;
 * anything else is the error "other". */
static const char *
beep_sep(struct beep_parser *p, uint8_t c, const char *other)
{
	unsigned int last = beep_nfields(p->cur.type) - 1;

	if (c == ' ') {
		if (p->field == last)
			return "too many parameters";
		p->field++;
		p->phase = BEEP_PH_FIELD;
		return NULL;
	}
	if (c == '\r') {
		if (p->field != last)
			return "missing parameter";
		p->phase = BEEP_PH_LF;
		return NULL;
	}
	return other;
}

/* A digit of a number of kind f. */
static const char *
beep_digit(struct beep_parser *p, uint8_t c, enum beep_field f)
{
	if (p->ndigits > 0 && p->num == 0)
		return "leading zero";
	if (++p->ndigits > BEEP_NUMBER_DIGITS)
		return "number too long";
	p->num = p->num * 10 + (uint64_t)(c - '0');
	if (p->num > beep_field_max(f))
		return "number out of range";
	if (f == BEEP_F_SIZE) {
		if (p->cur.type == BEEP_NUL && p->num != 0)
			return "NUL frame with payload";
		if (p->num > p->max_payload)
			return "size exceeds window";
	}
	return NULL;
}

/* The first octet of a parameter. */
static const char *
beep_field_start(struct beep_parser *p, uint8_t c)
{
	enum beep_field f = beep_field_kind(p);

	if (c == ' ')
		return "double space";
	if (c == '\r')
		return "missing parameter";
	if (f == BEEP_F_MORE) {
		if (c == '*') {
			if (p->cur.type == BEEP_NUL)
				return "NUL frame marked '*'";
			p->cur.more = true;
		} else if (c != '.')
			return "bad continuation indicator";
		p->phase = BEEP_PH_SEP;
		return NULL;
	}
	if (c == '+')
		return "sign in number";
	if (c == '-')
		return "negative number";
	if (c < '0' || c > '9')
		return "bad number";
	p->ndigits = 0;
	p->num = 0;
	p->phase = BEEP_PH_DIGITS;
	return beep_digit(p, c, f);
}

/* One header octet.  Returns an error text or NULL. */
static inline const char *
beep_header_octet(struct beep_parser *p, uint8_t c)
{
	if (c == '\0')
		return "NUL octet in header";
	if (c == '\n' && p->phase != BEEP_PH_LF)
		return "bare LF in header";
	/* The grammar already limits a header to 62 octets; this keeps the
	 * buffer bounded whatever happens to the grammar. */
	if (p->hlen >= BEEP_HEADER_MAX)
		return "header too long";
	p->header[p->hlen++] = c;

	switch ((enum beep_phase)p->phase) {
	case BEEP_PH_KEYWORD:
		return beep_keyword(p, c);
	case BEEP_PH_FIELD:
		return beep_field_start(p, c);
	case BEEP_PH_DIGITS:
		if (c >= '0' && c <= '9')
			return beep_digit(p, c, beep_field_kind(p));
		beep_store(p);
		return beep_sep(p, c, "bad number");
	case BEEP_PH_SEP:
		return beep_sep(p, c, beep_field_kind(p) == BEEP_F_KEYWORD ?
		    "bad keyword" : "bad continuation indicator");
	case BEEP_PH_LF:
		if (c != '\n')
			return "CR without LF in header";
		if (p->cur.type == BEEP_SEQ)
			p->phase = BEEP_PH_DONE;
		else if (p->cur.size == 0)
			p->phase = BEEP_PH_TRAILER;
		else
			p->phase = BEEP_PH_PAYLOAD;
		return NULL;
	case BEEP_PH_PAYLOAD:
	case BEEP_PH_TRAILER:
	case BEEP_PH_DONE:
	case BEEP_PH_ERROR:
		break;
	}
	return "parser state";
}

enum beep_parse_status
beep_parse(struct beep_parser *p, const uint8_t *in, size_t len,
    size_t *consumed, struct beep_frame *frame)
{
	const char *err = NULL;
	size_t i = 0, n;

	*consumed = 0;
	if (p->phase == BEEP_PH_ERROR)
		return BEEP_PARSE_ERROR;
	while (i < len) {
		switch ((enum beep_phase)p->phase) {
		case BEEP_PH_KEYWORD:
		case BEEP_PH_FIELD:
		case BEEP_PH_DIGITS:
		case BEEP_PH_SEP:
		case BEEP_PH_LF:
			if ((err = beep_header_octet(p, in[i])) != NULL)
				goto fail;
			i++;
			if (p->phase == BEEP_PH_DONE)
				goto done;
			break;
		case BEEP_PH_PAYLOAD:
			n = p->cur.size - p->have;
			if (n > len - i)
				n = len - i;
			memcpy(p->buf + p->have, in + i, n);
			p->have += n;
			i += n;
			if (p->have == p->cur.size)
				p->phase = BEEP_PH_TRAILER;
			break;
		case BEEP_PH_TRAILER:
			if (in[i] != (uint8_t)BEEP_TRAILER[p->tlen]) {
				err = p->tlen == 0 ? "missing trailer" :
				    "garbled trailer";
				goto fail;
			}
			i++;
			if (++p->tlen == BEEP_TRAILER_LEN)
				goto done;
			break;
		case BEEP_PH_DONE:
		case BEEP_PH_ERROR:
			err = "parser state";
			goto fail;
		}
	}
	*consumed = i;
	p->offset += i;
	return BEEP_PARSE_NEED_MORE;

done:
	*frame = p->cur;
	frame->payload = p->buf;
	*consumed = i;
	p->offset += i;
	beep_parser_restart(p);
	return BEEP_PARSE_FRAME;

fail:
	p->phase = BEEP_PH_ERROR;
	p->error = err;
	p->error_offset = p->offset + i;
	*consumed = i + 1;
	p->offset += i + 1;
	return BEEP_PARSE_ERROR;
}

/* Serializer */

static size_t
beep_u32_len(uint32_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static uint8_t *
beep_put_u32(uint8_t *o, uint32_t v)
{
	uint8_t tmp[BEEP_NUMBER_DIGITS];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*o++ = tmp[--n];
	return o;
}

static uint8_t *
beep_put(uint8_t *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

size_t
beep_frame_len(const struct beep_frame *f)
{
	size_t n;

	/* f may come from anywhere: check the type is one of ours at all. */
	if ((size_t)f->type >= BEEP_NKEYWORDS || f->channel > BEEP_MAX_NUMBER)
		return 0;
	switch (f->type) {
	case BEEP_SEQ:
		if (f->window > BEEP_MAX_NUMBER)
			return 0;
		/* "SEQ c a w\r\n" */
		return 3 + 1 + beep_u32_len(f->channel) + 1 + beep_u32_len(f->ackno) +
		    1 + beep_u32_len(f->window) + 2;
	case BEEP_NUL:
		if (f->more || f->size != 0)
			return 0;
		break;
	case BEEP_MSG:
	case BEEP_RPY:
	case BEEP_ERR:
	case BEEP_ANS:
		break;
	}
	if (f->msgno > BEEP_MAX_NUMBER || f->size > BEEP_MAX_NUMBER)
		return 0;
	/* "KKK c m x s n[ a]\r\n" payload "END\r\n" */
	n = 3 + 1 + beep_u32_len(f->channel) + 1 + beep_u32_len(f->msgno) + 1 + 1 +
	    1 + beep_u32_len(f->seqno) + 1 + beep_u32_len(f->size) + 2;
	if (f->type == BEEP_ANS) {
		if (f->ansno > BEEP_MAX_NUMBER)
			return 0;
		n += 1 + beep_u32_len(f->ansno);
	}
	return n + (size_t)f->size + BEEP_TRAILER_LEN;
}

size_t
beep_frame_write(uint8_t *out, size_t outlen, const struct beep_frame *f,
    const uint8_t *payload)
{
	size_t n = beep_frame_len(f);
	uint8_t *o = out;

	if (payload == NULL)
		payload = f->payload;
	if (n == 0 || n > outlen || (f->size > 0 && f->type != BEEP_SEQ &&
	    payload == NULL))
		return 0;
	o = beep_put(o, beep_keywords[f->type], 3);
	*o++ = ' ';
	o = beep_put_u32(o, f->channel);
	*o++ = ' ';
	if (f->type == BEEP_SEQ) {
		o = beep_put_u32(o, f->ackno);
		*o++ = ' ';
		o = beep_put_u32(o, f->window);
		o = beep_put(o, "\r\n", 2);
		return (size_t)(o - out);
	}
	o = beep_put_u32(o, f->msgno);
	*o++ = ' ';
	*o++ = f->more ? '*' : '.';
	*o++ = ' ';
	o = beep_put_u32(o, f->seqno);
	*o++ = ' ';
	o = beep_put_u32(o, f->size);
	if (f->type == BEEP_ANS) {
		*o++ = ' ';
		o = beep_put_u32(o, f->ansno);
	}
	o = beep_put(o, "\r\n", 2);
	if (f->size > 0)
		memcpy(o, payload, f->size);
	o += f->size;
	o = beep_put(o, BEEP_TRAILER, BEEP_TRAILER_LEN);
	return (size_t)(o - out);
}

const char *
beep_frame_type_name(enum beep_frame_type t)
{
	switch (t) {
	case BEEP_MSG:
	case BEEP_RPY:
	case BEEP_ERR:
	case BEEP_ANS:
	case BEEP_NUL:
	case BEEP_SEQ:
		return beep_keywords[t];
	}
	return "???";
}
