/* beep_frame: the BEEP frame syntax of RFC 3080 sec. 2.2 and the SEQ frame of
 * RFC 3081 sec. 3.1, as a pure, resumable, bounded parser and a serializer.
 * No sockets, no libevent: bytes in, frames out.
 *
 * The parser stops after every complete frame and says how many input bytes
 * it used, so its owner can stop at an exact byte (TUNNEL <ok/>, TLS
 * <proceed/>): everything after that frame's "END\r\n" stays untouched.
 *
 * Only syntax is checked here (keywords, numbers and their ranges, sizes
 * against the payload cap, the trailer, NUL's constraints).  Whether a seqno
 * is the expected one, a channel is open, or a msgno is in use is the
 * session's business (beep_session). */
#ifndef TUNNEL_BEEP_FRAME_H
#define TUNNEL_BEEP_FRAME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BEEP_TRAILER      "END\r\n"
#define BEEP_TRAILER_LEN  5
#define BEEP_MAX_NUMBER   2147483647u     /* channel, msgno, ansno, size */
/* A header line is at most this long (the longest legal one is < 80 octets);
 * an unterminated header longer than this is an error at once. */
#define BEEP_HEADER_MAX   128

enum beep_frame_type { BEEP_MSG, BEEP_RPY, BEEP_ERR, BEEP_ANS, BEEP_NUL, BEEP_SEQ };

struct beep_frame {
	enum beep_frame_type type;
	uint32_t channel;        /* 0 .. 2^31-1 */
	uint32_t msgno;          /* 0 .. 2^31-1 */
	bool     more;           /* continuation indicator '*' */
	uint32_t seqno;          /* 0 .. 2^32-1 */
	uint32_t size;           /* payload octets, 0 .. 2^31-1 */
	uint32_t ansno;          /* ANS only */
	uint32_t ackno;          /* SEQ only: 0 .. 2^32-1 */
	uint32_t window;         /* SEQ only: 0 .. 2^31-1 */
	const uint8_t *payload;  /* size octets; valid until the next parse call */
};

enum beep_parse_status {
	BEEP_PARSE_FRAME,        /* *frame is complete */
	BEEP_PARSE_NEED_MORE,    /* every input byte consumed, no frame yet */
	BEEP_PARSE_ERROR,        /* poorly formed: see error / error_offset */
};

struct beep_parser {
	/* configuration */
	uint32_t max_payload;    /* a frame with a larger size is an error */
	/* state (private) */
	int      phase;
	uint8_t  header[BEEP_HEADER_MAX];
	size_t   hlen;
	struct beep_frame cur;
	uint8_t *buf;            /* max_payload octets */
	size_t   have;           /* payload octets buffered */
	size_t   tlen;           /* trailer octets matched */
	unsigned int field;      /* header: index of the current parameter */
	unsigned int ndigits;    /* header: digits of the current number */
	uint64_t num;            /* header: value of the current number */
	/* results */
	uint64_t    offset;      /* octets consumed since init/reset */
	const char *error;       /* static text, e.g. "header: bad seqno" */
	uint64_t    error_offset;/* stream offset where the error was found */
};

/* Returns 0, or -1 when the payload buffer cannot be allocated. */
int  beep_parser_init(struct beep_parser *p, uint32_t max_payload);
void beep_parser_reset(struct beep_parser *p);   /* back to the start of a frame */
void beep_parser_free(struct beep_parser *p);    /* NULL-safe; safe twice */

/* Consumes input up to the end of at most one frame.  *consumed is always set
 * to the octets used (on error, up to and including the bad octet).  After
 * an error the parser stays in error until reset. */
enum beep_parse_status beep_parse(struct beep_parser *p, const uint8_t *in, size_t len,
                                  size_t *consumed, struct beep_frame *frame);

/* Serializer.  Writes header, payload and trailer (or one SEQ line) into out;
 * returns the length written, or 0 when out is too small or the frame is not
 * one we may send (numbers out of range, NUL with size or '*', size > 0 with
 * no payload).  A NULL payload means f->payload. */
size_t beep_frame_write(uint8_t *out, size_t outlen, const struct beep_frame *f,
                        const uint8_t *payload);
/* Octets beep_frame_write needs for this frame; 0 if it may not be sent. */
size_t beep_frame_len(const struct beep_frame *f);

const char *beep_frame_type_name(enum beep_frame_type t);

/* seqno arithmetic modulo 2^32 (RFC 3080 sec. 2.2.1) */
static inline uint32_t beep_seq_add(uint32_t a, uint32_t b) { return a + b; }
static inline uint32_t beep_seq_diff(uint32_t later, uint32_t earlier) { return later - earlier; }
#endif
