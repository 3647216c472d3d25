/* Unit tests: tunnel/idxp_greeting (RFC 4767 IDXP-Greeting, options,
 * answers, IDMEF check). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "tunnel/idxp_greeting.h"
#include "tests/unit/cutest.h"

static int
parse(const char *s, struct idxp_greeting *g, struct idxp_greeting_error *e)
{
	memset(e, 0, sizeof(*e));
	return idxp_greeting_parse((const uint8_t *)s, strlen(s), g, e);
}

static void
test_good(void)
{
	struct idxp_greeting g;
	struct idxp_greeting_error e;

	CU_ASSERT_EQUAL_FATAL(parse("<IDXP-Greeting uri='http://example.com/alice' role='client'/>",
	    &g, &e), 0);
	CU_ASSERT_STRING_EQUAL(g.uri, "http://example.com/alice");
	CU_ASSERT_EQUAL(g.role, IDXP_ROLE_CLIENT);
	CU_ASSERT_FALSE(g.has_priority);
	CU_ASSERT_EQUAL(g.stream, IDXP_STREAM_NONE);
	/* RFC 4767 sec. 4.1 and 4.2 examples, whitespace and all */
	CU_ASSERT_EQUAL_FATAL(parse(
	    "<IDXP-Greeting uri='http://example.com/bob' role='server' fqdn='bob.example.com'>\n"
	    "  <Option internal='channelPriority' mustUnderstand='true'>\n"
	    "    <channelPriority priority='2147483647' />\n  </Option>\n"
	    "  <Option internal='streamType'><streamType type='heartbeat'/></Option>\n"
	    "  <Option external='http://example.com/opt#x'><anything/></Option>\n"
	    "</IDXP-Greeting>", &g, &e), 0);
	CU_ASSERT_EQUAL(g.role, IDXP_ROLE_SERVER);
	CU_ASSERT_STRING_EQUAL(g.fqdn, "bob.example.com");
	CU_ASSERT_TRUE(g.has_priority);
	CU_ASSERT_EQUAL(g.priority, 2147483647);
	CU_ASSERT_EQUAL(g.stream, IDXP_STREAM_HEARTBEAT);
	CU_ASSERT_EQUAL(g.ignored_options, 1);
}

static void
test_bad(void)
{
	static const struct { const char *doc; unsigned code; const char *text; } t[] = {
		{ "", 500, "empty" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'>", 500, "poorly formed" },
		{ "<!DOCTYPE x [<!ENTITY e 'x'>]><IDXP-Greeting uri='http://a/b' role='client'/>",
		  500, "DOCTYPE" },
		{ "<Greeting uri='http://a/b' role='client'/>", 500, "expected <IDXP-Greeting>" },
		{ "<IDXP-Greeting role='client'/>", 501, "needs 'uri'" },
		{ "<IDXP-Greeting uri='relative/path' role='client'/>", 501, "absolute URI" },
		{ "<IDXP-Greeting uri='http://a/b'/>", 501, "role" },
		{ "<IDXP-Greeting uri='http://a/b' role='boss'/>", 501, "role is" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'>text</IDXP-Greeting>", 500, "text" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Other/></IDXP-Greeting>", 500,
		  "unexpected <Other>" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option/></IDXP-Greeting>", 501,
		  "exactly one" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='x' "
		  "external='http://y'/></IDXP-Greeting>", 501, "exactly one" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='zip' "
		  "mustUnderstand='true'/></IDXP-Greeting>", 504, "'zip' option was unrecognized" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='zip' "
		  "mustUnderstand='yes'/></IDXP-Greeting>", 501, "mustUnderstand" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='channelPriority'>"
		  "<channelPriority priority='-1'/></Option></IDXP-Greeting>", 501, "0..2147483647" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='channelPriority'>"
		  "<channelPriority priority='2147483648'/></Option></IDXP-Greeting>", 501,
		  "0..2147483647" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='channelPriority'/>"
		  "</IDXP-Greeting>", 501, "needs <channelPriority" },
		{ "<IDXP-Greeting uri='http://a/b' role='client'><Option internal='streamType'>"
		  "<streamType type='video'/></Option></IDXP-Greeting>", 501, "alert, heartbeat" },
	};
	struct idxp_greeting g;
	struct idxp_greeting_error e;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(parse(t[i].doc, &g, &e), -1);
		CU_ASSERT_EQUAL(e.code, t[i].code);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.text, t[i].text));
		if (e.code != t[i].code || strstr(e.text, t[i].text) == NULL)
			fprintf(stderr, "case %zu: %u %s\n", i, e.code, e.text);
	}
}

static void
test_write_roundtrip(void)
{
	struct idxp_greeting g, back;
	struct idxp_greeting_error e;
	char out[IDXP_GREETING_MAX];
	size_t n;

	memset(&g, 0, sizeof(g));
	g.role = IDXP_ROLE_CLIENT;
	snprintf(g.uri, sizeof(g.uri), "http://example.com/a?x=1&y='2'");
	snprintf(g.fqdn, sizeof(g.fqdn), "a.example.com");
	g.has_priority = true;
	g.priority = 7;
	g.stream = IDXP_STREAM_ALERT;
	CU_ASSERT_FATAL((n = idxp_greeting_write(&g, out, sizeof(out))) > 0);
	CU_ASSERT_EQUAL(n, strlen(out));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "&amp;y=&apos;2&apos;"));
	CU_ASSERT_EQUAL_FATAL(idxp_greeting_parse((const uint8_t *)out, n, &back, &e), 0);
	CU_ASSERT_STRING_EQUAL(back.uri, g.uri);
	CU_ASSERT_STRING_EQUAL(back.fqdn, g.fqdn);
	CU_ASSERT_EQUAL(back.priority, 7);
	CU_ASSERT_EQUAL(back.stream, IDXP_STREAM_ALERT);
	/* an option that must be understood is written, and refused when read */
	snprintf(g.must_understand, sizeof(g.must_understand), "zip");
	CU_ASSERT_FATAL((n = idxp_greeting_write(&g, out, sizeof(out))) > 0);
	CU_ASSERT_EQUAL(idxp_greeting_parse((const uint8_t *)out, n, &back, &e), -1);
	CU_ASSERT_EQUAL(e.code, 504);
	/* too small, empty uri, control characters */
	CU_ASSERT_EQUAL(idxp_greeting_write(&g, out, 20), 0);
	g.uri[0] = '\0';
	CU_ASSERT_EQUAL(idxp_greeting_write(&g, out, sizeof(out)), 0);
	snprintf(g.uri, sizeof(g.uri), "http://a/\n");
	CU_ASSERT_EQUAL(idxp_greeting_write(&g, out, sizeof(out)), 0);
}

static void
test_answers(void)
{
	unsigned code;
	char text[64];

	CU_ASSERT_EQUAL(idxp_answer_parse((const uint8_t *)"<ok />", 6, &code, text, sizeof(text)), 1);
	CU_ASSERT_EQUAL(idxp_answer_parse((const uint8_t *)"<error code='530'>no</error>", 28,
	    &code, text, sizeof(text)), 0);
	CU_ASSERT_EQUAL(code, 530);
	CU_ASSERT_STRING_EQUAL(text, "no");
	CU_ASSERT_EQUAL(idxp_answer_parse((const uint8_t *)"<error code='53'/>", 18, &code, text,
	    sizeof(text)), -1);
	CU_ASSERT_EQUAL(idxp_answer_parse((const uint8_t *)"<fine/>", 7, &code, text,
	    sizeof(text)), -1);
	CU_ASSERT_TRUE(idxp_xml_root_is((const uint8_t *)"<ready/>", 8, "ready"));
	CU_ASSERT_FALSE(idxp_xml_root_is((const uint8_t *)"<ready>", 7, "ready"));
	CU_ASSERT_FALSE(idxp_xml_root_is((const uint8_t *)"<proceed/>", 10, "ready"));
}

static void
test_idmef(void)
{
	struct idxp_greeting_error e;
	const char *ok = "<idmef:IDMEF-Message xmlns:idmef='http://iana.org/idmef'>"
	    "<idmef:Alert/></idmef:IDMEF-Message>";
	const char *laugh = "<!DOCTYPE l [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
	    "<IDMEF-Message>&b;</IDMEF-Message>";

	CU_ASSERT_EQUAL(idxp_idmef_check((const uint8_t *)ok, strlen(ok), &e), 0);
	CU_ASSERT_EQUAL(idxp_idmef_check((const uint8_t *)"<Alert/>", 8, &e), -1);
	CU_ASSERT_EQUAL(e.code, 501);
	CU_ASSERT_EQUAL(idxp_idmef_check((const uint8_t *)laugh, strlen(laugh), &e), -1);
	CU_ASSERT_EQUAL(e.code, 500);
	CU_ASSERT_EQUAL(idxp_idmef_check((const uint8_t *)"<IDMEF-Message>", 15, &e), -1);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "good greetings", test_good },
		{ "bad greetings", test_bad },
		{ "write and read back", test_write_roundtrip },
		{ "ok and error", test_answers },
		{ "IDMEF check", test_idmef },
		CUTEST_END
	};

	return cutest_run("idxp_greeting", cases);
}
