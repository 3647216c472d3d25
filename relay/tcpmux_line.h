/* tcpmux_line: the service-name line of TCPMUX (RFC 1078), read by a pure,
 * incremental, bounded parser.  Bytes go in, in any split; out comes
 * NEED_MORE, a name (with the exact count of input octets used, so every
 * octet pipelined after the line end stays with the caller and goes to the
 * service first), or an error whose text suits a "-" reply.
 *
 * The line:
 *   - ends at CRLF; a bare LF is accepted; a CR followed by anything but LF
 *     is an error;
 *   - spaces and tabs before and after the name are dropped (a hand-typed
 *     "idxp-manager \r\n" names idxp-manager); a space or tab inside the
 *     name is an error: no service name contains one;
 *   - the name is printable ASCII (0x21-0x7e).  NUL, other control octets
 *     and DEL, and octets >= 0x80 are errors: RFC 1078 names are ASCII and
 *     our catalog holds nothing else, so nothing else can ever match;
 *   - the cap (max, default BG_TCPMUX_LINE_MAX) counts every octet of the
 *     line before its CR/LF, blanks included, and is enforced as soon as an
 *     unterminated line passes it;
 *   - "HELP" in any case sets help (RFC 1078 reserves it; the caller decides
 *     whether policy allows the listing).  Names compare case-insensitively
 *     (tcpmux_line_name_equal).
 * Other protocols are recognised from their first octets, each an error
 * with probe set, for a rate-limited log line:
 *   - TLS: 0x16 0x03 0x00-0x04 at the start of the stream (a ClientHello
 *     record), decided on the third octet, before any line end;
 *   - HTTP: a request method followed by a space ("GET ", "POST ", "HEAD ",
 *     "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH ", "PRI "
 *     for the HTTP/2 preface), or a "Host:" header, any case;
 *   - SSH: "SSH-" and a digit (the RFC 4253 banner), case-sensitive. */
#ifndef RELAY_TCPMUX_LINE_H
#define RELAY_TCPMUX_LINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/limits.h"

#define TCPMUX_LINE_CEILING 1024     /* fixed: the largest cap an instance may set */

enum tcpmux_line_status {
	TCPMUX_LINE_NEED_MORE,       /* every input octet consumed, no line end yet */
	TCPMUX_LINE_DONE,            /* name is complete */
	TCPMUX_LINE_ERROR,           /* see error, error_offset, probe */
};

enum tcpmux_probe {
	TCPMUX_PROBE_NONE,
	TCPMUX_PROBE_HTTP,
	TCPMUX_PROBE_TLS,
	TCPMUX_PROBE_SSH,
};

struct tcpmux_line {
	/* configuration */
	size_t   max;                /* octets before CR/LF */
	/* state (private) */
	int      phase;
	size_t   raw;                /* line octets seen, blanks included */
	bool     blank;              /* a blank followed the name so far */
	/* results */
	char     name[TCPMUX_LINE_CEILING + 1]; /* NUL-terminated, when DONE */
	size_t   name_len;
	bool     help;               /* name is HELP, any case */
	enum tcpmux_probe probe;     /* set with some errors */
	const char *error;           /* static text for the "-" reply */
	uint64_t offset;             /* octets consumed since init/reset */
	uint64_t error_offset;       /* stream offset of the offending octet */
};

/* max 0 means BG_TCPMUX_LINE_MAX; more than TCPMUX_LINE_CEILING is capped. */
void tcpmux_line_init(struct tcpmux_line *t, size_t max);
void tcpmux_line_reset(struct tcpmux_line *t);  /* keeps max */

/* Consumes input up to the end of the line.  *consumed is the octets used:
 * all of them on NEED_MORE; up to and including the LF on DONE (the rest,
 * in[*consumed..len), belongs to the service); up to and including the
 * octet that decided it on ERROR.  After DONE or ERROR every further call
 * returns the same status and consumes nothing, until reset. */
enum tcpmux_line_status tcpmux_line_feed(struct tcpmux_line *t, const uint8_t *in,
                                         size_t len, size_t *consumed);

/* ASCII case-insensitive comparison of two service names (no locale). */
bool tcpmux_line_name_equal(const char *a, const char *b);
const char *tcpmux_line_probe_name(enum tcpmux_probe p);
#endif
