/* tcpmux_line: the RFC 1078 service-name line; see tcpmux_line.h. */
#include <string.h>

#include "relay/tcpmux_line.h"

enum tcpmux_phase {
	PH_LINE,                 /* reading the line */
	PH_TLS1,                 /* saw 0x16 at offset 0 */
	PH_TLS2,                 /* saw 0x16 0x03 */
	PH_CR,                   /* saw CR, LF must follow */
	PH_DONE,
	PH_ERROR,
};

static const char *const http_methods[] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
	"PATCH", "PRI",
};

void
tcpmux_line_init(struct tcpmux_line *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	if (max == 0)
		max = BG_TCPMUX_LINE_MAX;
	if (max > TCPMUX_LINE_CEILING)
		max = TCPMUX_LINE_CEILING;
	t->max = max;
	tcpmux_line_reset(t);
}

void
tcpmux_line_reset(struct tcpmux_line *t)
{
	t->phase = PH_LINE;
	t->raw = 0;
	t->blank = false;
	t->name[0] = '\0';
	t->name_len = 0;
	t->help = false;
	t->probe = TCPMUX_PROBE_NONE;
	t->error = NULL;
	t->offset = 0;
	t->error_offset = 0;
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool
tcpmux_line_name_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower(*a) != ascii_lower(*b))
			return false;
	return *a == *b;
}

static bool
name_is(const struct tcpmux_line *t, const char *word)
{
	size_t n = strlen(word), i;

	if (t->name_len != n)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(t->name[i]) != ascii_lower(word[i]))
			return false;
	return true;
}

static enum tcpmux_line_status
fail(struct tcpmux_line *t, const char *why, enum tcpmux_probe probe, uint64_t at)
{
	t->phase = PH_ERROR;
	t->error = why;
	t->probe = probe;
	t->error_offset = at;
	t->name[0] = '\0';
	t->name_len = 0;
	return TCPMUX_LINE_ERROR;
}

static enum tcpmux_line_status
finish(struct tcpmux_line *t, uint64_t at)
{
	if (t->name_len == 0)
		return fail(t, "empty service name", TCPMUX_PROBE_NONE, at);
	t->name[t->name_len] = '\0';
	t->help = name_is(t, "HELP");
	t->phase = PH_DONE;
	return TCPMUX_LINE_DONE;
}

/* One octet of the line proper (not CR, not LF). */
static enum tcpmux_line_status
line_octet(struct tcpmux_line *t, uint8_t c, uint64_t at)
{
	size_t i;

	if (t->raw >= t->max)
		return fail(t, "service name too long", TCPMUX_PROBE_NONE, at);
	t->raw++;
	if (c == ' ' || c == '\t') {
		if (t->name_len == 0)
			return TCPMUX_LINE_NEED_MORE;      /* leading blank */
		for (i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
			if (!t->blank && name_is(t, http_methods[i]))
				return fail(t, "HTTP request on TCPMUX port",
				    TCPMUX_PROBE_HTTP, at);
		t->blank = true;
		return TCPMUX_LINE_NEED_MORE;
	}
	if (c == 0)
		return fail(t, "NUL in service name", TCPMUX_PROBE_NONE, at);
	if (c < 0x20 || c == 0x7f)
		return fail(t, "control character in service name", TCPMUX_PROBE_NONE, at);
	if (c >= 0x80)
		return fail(t, "non-ASCII octet in service name", TCPMUX_PROBE_NONE, at);
	if (t->blank)
		return fail(t, "space in service name", TCPMUX_PROBE_NONE, at);
	t->name[t->name_len++] = (char)c;
	if (t->name_len == 5 && name_is(t, "Host:"))
		return fail(t, "HTTP header on TCPMUX port", TCPMUX_PROBE_HTTP, at);
	if (t->name_len == 5 && memcmp(t->name, "SSH-", 4) == 0 && c >= '0' && c <= '9')
		return fail(t, "SSH client on TCPMUX port", TCPMUX_PROBE_SSH, at);
	return TCPMUX_LINE_NEED_MORE;
}

enum tcpmux_line_status
tcpmux_line_feed(struct tcpmux_line *t, const uint8_t *in, size_t len, size_t *consumed)
{
	enum tcpmux_line_status st = TCPMUX_LINE_NEED_MORE;
	size_t i;
	uint64_t at;
	uint8_t c;

	*consumed = 0;
	switch ((enum tcpmux_phase)t->phase) {
	case PH_DONE:
		return TCPMUX_LINE_DONE;
	case PH_ERROR:
		return TCPMUX_LINE_ERROR;
	case PH_LINE:
	case PH_TLS1:
	case PH_TLS2:
	case PH_CR:
		break;
	}
	for (i = 0; i < len && st == TCPMUX_LINE_NEED_MORE; i++) {
		c = in[i];
		at = t->offset++;
		switch ((enum tcpmux_phase)t->phase) {
		case PH_LINE:
			if (at == 0 && c == 0x16) {
				t->phase = PH_TLS1;        /* decide on octet 3 */
			} else if (c == '\r') {
				t->phase = PH_CR;
			} else if (c == '\n') {
				st = finish(t, at);
			} else {
				st = line_octet(t, c, at);
			}
			break;
		case PH_TLS1:
			if (c == 0x03)
				t->phase = PH_TLS2;
			else
				st = fail(t, "control character in service name",
				    TCPMUX_PROBE_NONE, 0);
			break;
		case PH_TLS2:
			if (c <= 0x04)
				st = fail(t, "TLS handshake on TCPMUX port",
				    TCPMUX_PROBE_TLS, 0);
			else
				st = fail(t, "control character in service name",
				    TCPMUX_PROBE_NONE, 0);
			break;
		case PH_CR:
			if (c == '\n')
				st = finish(t, at);
			else
				st = fail(t, "CR without LF in service name line",
				    TCPMUX_PROBE_NONE, at);
			break;
		case PH_DONE:
		case PH_ERROR:
			break;
		}
	}
	*consumed = i;
	return st;
}

const char *
tcpmux_line_probe_name(enum tcpmux_probe p)
{
	switch (p) {
	case TCPMUX_PROBE_NONE: return "none";
	case TCPMUX_PROBE_HTTP: return "http";
	case TCPMUX_PROBE_TLS:  return "tls";
	case TCPMUX_PROBE_SSH:  return "ssh";
	}
	return "unknown";
}
