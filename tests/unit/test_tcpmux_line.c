/* Tests for relay/tcpmux_line: line ends, every split of the input, exact
 * consumed counts with pipelined bytes, the cap, every refused octet, HELP,
 * and the recognition of HTTP, TLS and SSH clients. */
#include "tests/unit/cutest.h"
#include "relay/tcpmux_line.h"

#include <stdio.h>
#include <string.h>

struct result {
	enum tcpmux_line_status st;
	size_t consumed;             /* total octets consumed */
	char name[TCPMUX_LINE_CEILING + 1];
	bool help;
	enum tcpmux_probe probe;
	const char *error;
	uint64_t error_offset;
};

/* Feeds in[0..len) in chunks of `chunk` octets (0: all at once) until the
 * parser stops asking for more. */
static void
feed(const void *in, size_t len, size_t chunk, size_t max, struct result *r)
{
	struct tcpmux_line t;
	const uint8_t *p = in;
	size_t pos = 0, n, used;

	tcpmux_line_init(&t, max);
	memset(r, 0, sizeof(*r));
	r->st = TCPMUX_LINE_NEED_MORE;
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (pos < len && r->st == TCPMUX_LINE_NEED_MORE) {
		n = len - pos < chunk ? len - pos : chunk;
		r->st = tcpmux_line_feed(&t, p + pos, n, &used);
		CU_ASSERT(used <= n);
		if (r->st == TCPMUX_LINE_NEED_MORE)
			CU_ASSERT_EQUAL(used, n);
		pos += used;
	}
	r->consumed = pos;
	CU_ASSERT_EQUAL(t.offset, pos);
	if (r->st == TCPMUX_LINE_DONE) {
		CU_ASSERT_EQUAL(strlen(t.name), t.name_len);
		memcpy(r->name, t.name, t.name_len + 1);
	}
	r->help = t.help;
	r->probe = t.probe;
	r->error = t.error;
	r->error_offset = t.error_offset;
	/* a finished parser stays finished */
	if (r->st != TCPMUX_LINE_NEED_MORE) {
		CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"x\r\n", 3, &used), r->st);
		CU_ASSERT_EQUAL(used, 0);
	}
}

/* Every chunk size gives the same result. */
static void
expect_line(const char *in, size_t len, const char *name, size_t consumed, bool help)
{
	struct result r;
	size_t chunk;

	for (chunk = 0; chunk <= len; chunk++) {
		feed(in, len, chunk, 0, &r);
		if (r.st != TCPMUX_LINE_DONE || strcmp(r.name, name) != 0 ||
		    r.consumed != consumed)
			fprintf(stderr, "\nchunk %zu: st %d name '%s' consumed %zu error %s\n",
			    chunk, r.st, r.name, r.consumed, r.error ? r.error : "-");
		CU_ASSERT_EQUAL(r.st, TCPMUX_LINE_DONE);
		CU_ASSERT_STRING_EQUAL(r.name, name);
		CU_ASSERT_EQUAL(r.consumed, consumed);
		CU_ASSERT_EQUAL(r.help, help);
		CU_ASSERT_EQUAL(r.probe, TCPMUX_PROBE_NONE);
		CU_ASSERT_PTR_NULL(r.error);
	}
}

static void
expect_error_max(const char *in, size_t len, size_t max, const char *error,
                 enum tcpmux_probe probe, uint64_t offset, size_t consumed)
{
	struct result r;
	size_t chunk;

	for (chunk = 0; chunk <= len; chunk++) {
		feed(in, len, chunk, max, &r);
		if (r.st != TCPMUX_LINE_ERROR || r.error == NULL || strcmp(r.error, error) != 0 ||
		    r.error_offset != offset || r.consumed != consumed)
			fprintf(stderr, "\nchunk %zu: want '%s' @%llu/%zu, got st %d '%s' @%llu/%zu\n",
			    chunk, error, (unsigned long long)offset, consumed, r.st,
			    r.error ? r.error : "-", (unsigned long long)r.error_offset,
			    r.consumed);
		CU_ASSERT_EQUAL(r.st, TCPMUX_LINE_ERROR);
		CU_ASSERT(r.error != NULL && strcmp(r.error, error) == 0);
		CU_ASSERT_EQUAL(r.probe, probe);
		CU_ASSERT_EQUAL(r.error_offset, offset);
		CU_ASSERT_EQUAL(r.consumed, consumed);
	}
}

static void
expect_error(const char *in, const char *error, enum tcpmux_probe probe, uint64_t offset,
             size_t consumed)
{
	expect_error_max(in, strlen(in), 0, error, probe, offset, consumed);
}

static void
test_line_ends(void)
{
	expect_line("idxp-manager\r\n", 14, "idxp-manager", 14, false);
	expect_line("idxp-manager\n", 13, "idxp-manager", 13, false);
	expect_line("a\r\n", 3, "a", 3, false);
	expect_line("a\n", 2, "a", 2, false);
	/* blanks around the name are dropped */
	expect_line("  \tidxp-manager \t \r\n", 20, "idxp-manager", 20, false);
	expect_line("idxp-manager \n", 14, "idxp-manager", 14, false);
	/* printable punctuation is part of a name */
	expect_line("sql*net/v2.0_x:y\r\n", 18, "sql*net/v2.0_x:y", 18, false);
}

static void
test_need_more(void)
{
	struct tcpmux_line t;
	size_t used;
	const char *s = "idxp-manager";
	size_t i;

	tcpmux_line_init(&t, 0);
	CU_ASSERT_EQUAL(t.max, BG_TCPMUX_LINE_MAX);
	for (i = 0; s[i] != '\0'; i++) {
		CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)s + i, 1, &used),
		    TCPMUX_LINE_NEED_MORE);
		CU_ASSERT_EQUAL(used, 1);
	}
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"\r", 1, &used),
	    TCPMUX_LINE_NEED_MORE);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"", 0, &used),
	    TCPMUX_LINE_NEED_MORE);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"\n", 1, &used), TCPMUX_LINE_DONE);
	CU_ASSERT_EQUAL(used, 1);
	CU_ASSERT_STRING_EQUAL(t.name, "idxp-manager");
	CU_ASSERT_EQUAL(t.offset, 14);
	/* reset starts over and keeps the cap */
	tcpmux_line_init(&t, 7);
	tcpmux_line_reset(&t);
	CU_ASSERT_EQUAL(t.max, 7);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"ab\r\n", 4, &used),
	    TCPMUX_LINE_DONE);
	tcpmux_line_reset(&t);
	CU_ASSERT_EQUAL(t.offset, 0);
	CU_ASSERT_EQUAL(t.name_len, 0);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"cd\n", 3, &used),
	    TCPMUX_LINE_DONE);
	CU_ASSERT_STRING_EQUAL(t.name, "cd");
	/* the cap is bounded by the ceiling */
	tcpmux_line_init(&t, 1u << 20);
	CU_ASSERT_EQUAL(t.max, TCPMUX_LINE_CEILING);
}

static void
test_pipelined(void)
{
	/* the service's first bytes follow the CRLF in the same segment: the
	 * parser stops exactly after the LF */
	static const char in[] = "idxp-manager\r\nRPY 0 0 . 0 52\r\n\r\n\n\x16\x03\x01";
	struct tcpmux_line t;
	size_t used;

	expect_line(in, sizeof(in) - 1, "idxp-manager", 14, false);
	tcpmux_line_init(&t, 0);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)in, sizeof(in) - 1, &used),
	    TCPMUX_LINE_DONE);
	CU_ASSERT_EQUAL(used, 14);
	CU_ASSERT_EQUAL(memcmp(in + used, "RPY 0 0", 7), 0);
	/* bare LF, then pipelined bytes */
	expect_line("svc\n\r\nmore", 10, "svc", 4, false);
	/* split exactly between CR and LF, with data behind */
	tcpmux_line_init(&t, 0);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"svc\r", 4, &used),
	    TCPMUX_LINE_NEED_MORE);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)"\nDATA", 5, &used),
	    TCPMUX_LINE_DONE);
	CU_ASSERT_EQUAL(used, 1);
}

static void
test_cap(void)
{
	char in[TCPMUX_LINE_CEILING + 8];
	size_t n = BG_TCPMUX_LINE_MAX;

	/* exactly at the cap */
	memset(in, 'a', n);
	memcpy(in + n, "\r\n", 2);
	in[n + 2] = '\0';
	{
		struct result r;

		feed(in, n + 2, 0, 0, &r);
		CU_ASSERT_EQUAL(r.st, TCPMUX_LINE_DONE);
		CU_ASSERT_EQUAL(strlen(r.name), n);
		CU_ASSERT_EQUAL(r.consumed, n + 2);
	}
	/* one more: refused at that octet, before any line end */
	memset(in, 'a', n + 1);
	in[n + 1] = '\0';
	expect_error(in, "service name too long", TCPMUX_PROBE_NONE, n, n + 1);
	/* blanks count too: an endless run of spaces is no way around it */
	memset(in, ' ', n + 1);
	in[n + 1] = '\0';
	expect_error(in, "service name too long", TCPMUX_PROBE_NONE, n, n + 1);
	/* a per-instance cap */
	expect_error_max("abcdef\r\n", 8, 5, "service name too long", TCPMUX_PROBE_NONE, 5, 6);
	{
		struct result r;

		feed("abcde\r\n", 7, 1, 5, &r);
		CU_ASSERT_EQUAL(r.st, TCPMUX_LINE_DONE);
		CU_ASSERT_STRING_EQUAL(r.name, "abcde");
	}
}

static void
test_bad_octets(void)
{
	static const char nul[] = "idxp\0x\r\n";
	char c[8];
	unsigned o;

	expect_error_max(nul, sizeof(nul) - 1, 0, "NUL in service name", TCPMUX_PROBE_NONE, 4, 5);
	expect_error("ab\x01" "c\r\n", "control character in service name", TCPMUX_PROBE_NONE, 2, 3);
	expect_error("ab\x1b[0m\r\n", "control character in service name", TCPMUX_PROBE_NONE, 2, 3);
	expect_error("ab\x7f\r\n", "control character in service name", TCPMUX_PROBE_NONE, 2, 3);
	expect_error("ab\x0b\r\n", "control character in service name", TCPMUX_PROBE_NONE, 2, 3);
	expect_error("\x16" "ab\r\n", "control character in service name", TCPMUX_PROBE_NONE, 0, 2);
	expect_error("\x16\x03\x05", "control character in service name", TCPMUX_PROBE_NONE, 0, 3);
	expect_error("a\x16\x03\x01", "control character in service name", TCPMUX_PROBE_NONE, 1, 2);
	expect_error("caf\xc3\xa9\r\n", "non-ASCII octet in service name", TCPMUX_PROBE_NONE, 3, 4);
	expect_error("\xff\r\n", "non-ASCII octet in service name", TCPMUX_PROBE_NONE, 0, 1);
	expect_error("ab\rc\n", "CR without LF in service name line", TCPMUX_PROBE_NONE, 3, 4);
	expect_error("ab\r\r\n", "CR without LF in service name line", TCPMUX_PROBE_NONE, 3, 4);
	expect_error("\r\r", "CR without LF in service name line", TCPMUX_PROBE_NONE, 1, 2);
	expect_error("\r\n", "empty service name", TCPMUX_PROBE_NONE, 1, 2);
	expect_error("\n", "empty service name", TCPMUX_PROBE_NONE, 0, 1);
	expect_error(" \t \r\n", "empty service name", TCPMUX_PROBE_NONE, 4, 5);
	expect_error("idxp manager\r\n", "space in service name", TCPMUX_PROBE_NONE, 5, 6);
	expect_error("idxp\tmanager\r\n", "space in service name", TCPMUX_PROBE_NONE, 5, 6);
	/* every control octet but TAB, CR, LF, and every 8-bit octet */
	for (o = 0; o < 256; o++) {
		struct result r;

		if (o == '\t' || o == '\r' || o == '\n' || (o >= 0x20 && o < 0x7f))
			continue;
		c[0] = 'x';
		c[1] = (char)o;
		c[2] = '\n';
		feed(c, 3, 0, 0, &r);
		CU_ASSERT_EQUAL(r.st, TCPMUX_LINE_ERROR);
		CU_ASSERT_EQUAL(r.error_offset, 1);
	}
}

static void
test_help(void)
{
	expect_line("HELP\r\n", 6, "HELP", 6, true);
	expect_line("help\r\n", 6, "help", 6, true);
	expect_line("hElP\n", 5, "hElP", 5, true);
	expect_line(" Help \r\n", 8, "Help", 8, true);
	expect_line("HELPER\r\n", 8, "HELPER", 8, false);
	expect_line("HEL\r\n", 5, "HEL", 5, false);
}

static void
test_name_equal(void)
{
	CU_ASSERT(tcpmux_line_name_equal("IDXP-Manager", "idxp-manager"));
	CU_ASSERT(tcpmux_line_name_equal("", ""));
	CU_ASSERT_FALSE(tcpmux_line_name_equal("idxp", "idxp-manager"));
	CU_ASSERT_FALSE(tcpmux_line_name_equal("idxp-manager", "idxp"));
	CU_ASSERT_FALSE(tcpmux_line_name_equal("a-b", "a_b"));
	/* no locale folding: only A-Z/a-z are equal across case */
	CU_ASSERT_FALSE(tcpmux_line_name_equal("[", "{"));
	CU_ASSERT_FALSE(tcpmux_line_name_equal("@", "`"));
	CU_ASSERT_FALSE(tcpmux_line_name_equal(NULL, "a"));
	CU_ASSERT_FALSE(tcpmux_line_name_equal("a", NULL));
}

static void
test_probes(void)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	static const char tls13[] = "\x16\x03\x03";
	struct tcpmux_line t;
	size_t used;

	expect_error("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP request on TCPMUX port",
	    TCPMUX_PROBE_HTTP, 3, 4);
	expect_error("POST /x HTTP/1.0\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 4, 5);
	expect_error("HEAD / HTTP/1.0\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 4, 5);
	expect_error("PUT /x HTTP/1.1\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 3, 4);
	expect_error("CONNECT a:443 HTTP/1.1\r\n", "HTTP request on TCPMUX port",
	    TCPMUX_PROBE_HTTP, 7, 8);
	expect_error("OPTIONS * HTTP/1.1\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 7, 8);
	expect_error("DELETE /x HTTP/1.1\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 6, 7);
	expect_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP request on TCPMUX port",
	    TCPMUX_PROBE_HTTP, 3, 4);
	expect_error("get\t/\r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 3, 4);
	expect_error("Host: example.com\r\n", "HTTP header on TCPMUX port", TCPMUX_PROBE_HTTP, 4, 5);
	expect_error("host:x\r\n", "HTTP header on TCPMUX port", TCPMUX_PROBE_HTTP, 4, 5);
	/* a TLS ClientHello: decided on the third octet, no line end needed */
	expect_error_max(tls, sizeof(tls) - 1, 0, "TLS handshake on TCPMUX port",
	    TCPMUX_PROBE_TLS, 0, 3);
	expect_error_max(tls13, 3, 0, "TLS handshake on TCPMUX port", TCPMUX_PROBE_TLS, 0, 3);
	tcpmux_line_init(&t, 0);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)tls, 2, &used),
	    TCPMUX_LINE_NEED_MORE);
	CU_ASSERT_EQUAL(tcpmux_line_feed(&t, (const uint8_t *)tls + 2, 1, &used),
	    TCPMUX_LINE_ERROR);
	CU_ASSERT_EQUAL(t.probe, TCPMUX_PROBE_TLS);
	/* an SSH client banner */
	expect_error("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "SSH client on TCPMUX port",
	    TCPMUX_PROBE_SSH, 4, 5);
	expect_error("SSH-1.99-x\r\n", "SSH client on TCPMUX port", TCPMUX_PROBE_SSH, 4, 5);
	/* look-alikes that are plain names */
	expect_line("ssh-relay\r\n", 11, "ssh-relay", 11, false);
	expect_line("SSH-relay\r\n", 11, "SSH-relay", 11, false);
	expect_line("GETTER\r\n", 8, "GETTER", 8, false);
	expect_line("get\r\n", 5, "get", 5, false);
	expect_line("hosts:x\r\n", 9, "hosts:x", 9, false);
	/* a method and a blank is enough: no name is followed by one */
	expect_error("GET \r\n", "HTTP request on TCPMUX port", TCPMUX_PROBE_HTTP, 3, 4);
	CU_ASSERT_STRING_EQUAL(tcpmux_line_probe_name(TCPMUX_PROBE_NONE), "none");
	CU_ASSERT_STRING_EQUAL(tcpmux_line_probe_name(TCPMUX_PROBE_HTTP), "http");
	CU_ASSERT_STRING_EQUAL(tcpmux_line_probe_name(TCPMUX_PROBE_TLS), "tls");
	CU_ASSERT_STRING_EQUAL(tcpmux_line_probe_name(TCPMUX_PROBE_SSH), "ssh");
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "CRLF, bare LF, blanks", test_line_ends },
		{ "byte by byte, reset", test_need_more },
		{ "pipelined bytes after the line", test_pipelined },
		{ "line cap", test_cap },
		{ "refused octets", test_bad_octets },
		{ "HELP in any case", test_help },
		{ "name comparison", test_name_equal },
		{ "HTTP, TLS and SSH probes", test_probes },
		CUTEST_END
	};

	return cutest_run("tcpmux_line", cases);
}
