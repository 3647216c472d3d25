/* Tests for tunnel/tunnel_elem: every valid attribute combination and the
 * RFC 3620 section 2 examples, nesting, every invalid combination and value
 * with its reply code and text, hostile XML (DOCTYPE, entities, billion
 * laughs, namespaces, oversize), canonical writing, escaping, describe,
 * builders, validation of hand-built trees. */
#include "tests/unit/cutest.h"
#include "tunnel/tunnel_elem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tunnel_elem *
parse_str(const char *xml, unsigned max, struct tunnel_elem_error *err)
{
	struct tunnel_elem *e = NULL;
	int rc;

	rc = tunnel_elem_parse((const uint8_t *)xml, strlen(xml), max, &e, err);
	if (rc != 0 && e != NULL) {
		CU_FAIL("error with a tree");
	}
	if (rc == 0 && e == NULL) {
		CU_FAIL("success without a tree");
	}
	return e;
}

static struct tunnel_elem *
parse_ok(const char *xml)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e = parse_str(xml, 0, &err);

	if (e == NULL)
		fprintf(stderr, "\nunexpected error %u '%s' for: %s\n", err.code, err.text, xml);
	CU_ASSERT_PTR_NOT_NULL(e);
	if (e != NULL) {
		CU_ASSERT_EQUAL(err.code, 0);
		CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, NULL), 0);
	}
	return e;
}

/* text NULL: only the code is checked; a text ending in '*' is a prefix */
static void
expect_err_n(const char *xml, size_t len, unsigned max, unsigned code, const char *text)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e = NULL;
	bool ok;
	size_t tl;

	memset(&err, 0x55, sizeof(err));
	CU_ASSERT_EQUAL(tunnel_elem_parse((const uint8_t *)xml, len, max, &e, &err), -1);
	CU_ASSERT_PTR_NULL(e);
	ok = err.code == code;
	if (text != NULL) {
		tl = strlen(text);
		if (tl > 0 && text[tl - 1] == '*')
			ok = ok && strncmp(err.text, text, tl - 1) == 0;
		else
			ok = ok && strcmp(err.text, text) == 0;
	}
	if (!ok)
		fprintf(stderr, "\nfor %.80s\n  want %u '%s'\n  got  %u '%s'\n", xml, code,
		    text != NULL ? text : "", err.code, err.text);
	CU_ASSERT(ok);
	tunnel_elem_free(e);
}

static void
expect_err(const char *xml, unsigned code, const char *text)
{
	expect_err_n(xml, strlen(xml), 0, code, text);
}

/* ---- valid elements ---- */

static void
test_rfc_examples(void)
{
	struct tunnel_elem *e;

	/* 2.1 [1] */
	e = parse_ok("<tunnel fqdn='final.example.com' port='604'>\n  <tunnel/>\n</tunnel>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_FQDN_PORT);
		CU_ASSERT_STRING_EQUAL(e->fqdn, "final.example.com");
		CU_ASSERT(e->has_port);
		CU_ASSERT_EQUAL(e->port, 604);
		CU_ASSERT_EQUAL(e->depth, 2);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner);
		CU_ASSERT_EQUAL(e->inner->kind, TUN_EMPTY);
		CU_ASSERT_EQUAL(e->inner->depth, 1);
		CU_ASSERT_PTR_NULL(e->inner->inner);
		CU_ASSERT_FALSE(e->inner->has_port);
	}
	tunnel_elem_free(e);
	/* 2.1 [2], 2.2 [3] */
	e = parse_ok("<tunnel/>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_EMPTY);
		CU_ASSERT_EQUAL(e->depth, 1);
	}
	tunnel_elem_free(e);
	/* 2.2 [1]: three deep */
	e = parse_ok("<tunnel fqdn='proxy2.example.com' port='604'>\n"
	    "  <tunnel fqdn='final.example.com' port='10290'>\n    <tunnel/>\n"
	    "  </tunnel>\n</tunnel>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->depth, 3);
		CU_ASSERT_STRING_EQUAL(e->fqdn, "proxy2.example.com");
		CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner);
		CU_ASSERT_EQUAL(e->inner->kind, TUN_FQDN_PORT);
		CU_ASSERT_STRING_EQUAL(e->inner->fqdn, "final.example.com");
		CU_ASSERT_EQUAL(e->inner->port, 10290);
		CU_ASSERT_EQUAL(e->inner->depth, 2);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner->inner);
		CU_ASSERT_EQUAL(e->inner->inner->kind, TUN_EMPTY);
	}
	tunnel_elem_free(e);
	/* 2.3 [1]: fqdn + srv */
	e = parse_ok("<tunnel fqdn='proxy2.example.com' port='604'>\n"
	    "  <tunnel fqdn='final.example.com' srv='_telnet._tcp'>\n    <tunnel/>\n"
	    "  </tunnel>\n</tunnel>");
	if (e != NULL) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner);
		CU_ASSERT_EQUAL(e->inner->kind, TUN_FQDN_SRV);
		CU_ASSERT_STRING_EQUAL(e->inner->srv, "_telnet._tcp");
		CU_ASSERT_FALSE(e->inner->has_port);
	}
	tunnel_elem_free(e);
	/* 2.4 [2]: an address element innermost (non-BEEP final hop), with a
	 * line break as its only content */
	e = parse_ok("<tunnel fqdn='final.example.com' srv='_telnet._tcp'>\n  </tunnel>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_FQDN_SRV);
		CU_ASSERT_PTR_NULL(e->inner);
		CU_ASSERT_EQUAL(e->depth, 1);
	}
	tunnel_elem_free(e);
	/* 2.5 [1] and [2] */
	e = parse_ok("<tunnel profile=\"http://xml.resource/org/profiles/SEP2\"/>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_PROFILE);
		CU_ASSERT_STRING_EQUAL(e->profile, "http://xml.resource/org/profiles/SEP2");
	}
	tunnel_elem_free(e);
	e = parse_ok("<tunnel fqdn=\"proxy2.example.com\" port=\"604\">\n"
	    "  <tunnel profile=\"http://xml.resource/org/profiles/SEP2\"/>\n</tunnel>");
	if (e != NULL) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner);
		CU_ASSERT_EQUAL(e->inner->kind, TUN_PROFILE);
	}
	tunnel_elem_free(e);
	/* 2.5 [3], 2.6 [3] */
	e = parse_ok("<tunnel fqdn='final.example.com' srv='_beep._tcp'>\n  <tunnel/>\n</tunnel>");
	CU_ASSERT(e != NULL && e->kind == TUN_FQDN_SRV && e->depth == 2);
	tunnel_elem_free(e);
	/* 2.6 [1] and [2]: an endpoint with a space */
	e = parse_ok("<tunnel endpoint=\"operator console\">\n          </tunnel>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_ENDPOINT);
		CU_ASSERT_STRING_EQUAL(e->endpoint, "operator console");
	}
	tunnel_elem_free(e);
	e = parse_ok("<tunnel fqdn=\"proxy2.example.com\" port=\"604\">\n"
	    "  <tunnel endpoint=\"operator console\">\n  </tunnel>\n</tunnel>");
	CU_ASSERT(e != NULL && e->inner != NULL && e->inner->kind == TUN_ENDPOINT);
	tunnel_elem_free(e);
	/* 2.4 [1] spells the attribute "svc": a typo in the RFC, not an
	 * attribute of the DTD */
	expect_err("<tunnel fqdn='proxy2.example.com' port='604'>\n"
	    "  <tunnel fqdn='final.example.com' svc='_telnet._tcp'>\n  </tunnel>\n</tunnel>",
	    501, "unknown attribute 'svc'");
}

static void
test_combinations(void)
{
	struct tunnel_elem *e;

	e = parse_ok("<tunnel fqdn='mgr.example.net' srv='_idxp._tcp' port='603'/>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_FQDN_SRV);
		CU_ASSERT_STRING_EQUAL(e->srv, "_idxp._tcp");
		CU_ASSERT(e->has_port);
		CU_ASSERT_EQUAL(e->port, 603);
	}
	tunnel_elem_free(e);
	e = parse_ok("<tunnel ip4='192.0.2.1' port='1'><tunnel/></tunnel>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_IP4);
		CU_ASSERT_STRING_EQUAL(e->ip4, "192.0.2.1");
		CU_ASSERT_EQUAL(e->port, 1);
	}
	tunnel_elem_free(e);
	e = parse_ok("<tunnel ip6='2001:DB8:0:0:0::1' port='65535'/>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_IP6);
		CU_ASSERT_STRING_EQUAL(e->ip6, "2001:db8::1");
		CU_ASSERT_PTR_NULL(e->ip4);
		CU_ASSERT_EQUAL(e->port, 65535);
	}
	tunnel_elem_free(e);
	/* an IPv4-mapped ip6 is the IPv4 host */
	e = parse_ok("<tunnel ip6='::ffff:192.0.2.7' port='604'/>");
	if (e != NULL) {
		CU_ASSERT_EQUAL(e->kind, TUN_IP4);
		CU_ASSERT_STRING_EQUAL(e->ip4, "192.0.2.7");
		CU_ASSERT_PTR_NULL(e->ip6);
	}
	tunnel_elem_free(e);
	e = parse_ok("<tunnel endpoint='manager'/>");
	CU_ASSERT(e != NULL && e->kind == TUN_ENDPOINT && strcmp(e->endpoint, "manager") == 0);
	tunnel_elem_free(e);
	/* names are stored in lower case, the root dot kept */
	e = parse_ok("<tunnel fqdn='Final.EXAMPLE.com.' srv='_BEEP._TCP'/>");
	if (e != NULL) {
		CU_ASSERT_STRING_EQUAL(e->fqdn, "final.example.com.");
		CU_ASSERT_STRING_EQUAL(e->srv, "_beep._tcp");
	}
	tunnel_elem_free(e);
	/* XML declaration, comments, CR LF and tabs between the tags */
	e = parse_ok("<?xml version='1.0' encoding='UTF-8'?>\r\n<!-- route -->"
	    "<tunnel fqdn='a.example' port='604'>\t<!-- x --><tunnel/>\r\n</tunnel>");
	CU_ASSERT(e != NULL && e->depth == 2);
	tunnel_elem_free(e);
	/* the longest name and label */
	{
		char xml[600], name[300];
		size_t i;

		/* 3 labels of 63 + 1 of 61 + 3 dots = 253 */
		memset(name, 'a', sizeof(name));
		name[63] = name[127] = name[191] = '.';
		name[253] = '\0';
		name[252] = 'z';
		snprintf(xml, sizeof(xml), "<tunnel fqdn='%s.' port='604'/>", name);
		e = parse_ok(xml);
		CU_ASSERT(e != NULL && strlen(e->fqdn) == 254);
		tunnel_elem_free(e);
		for (i = 0; i < 63; i++)
			name[i] = (char)('a' + i % 26);
		name[63] = '\0';
		snprintf(xml, sizeof(xml), "<tunnel fqdn='%s.example' port='604'/>", name);
		e = parse_ok(xml);
		tunnel_elem_free(e);
	}
	/* digits and hyphens inside labels, a digit-led label */
	e = parse_ok("<tunnel fqdn='3com.x-y.example' port='604'/>");
	tunnel_elem_free(e);
}

static void
test_nesting(void)
{
	char xml[TUNNEL_ELEM_DOC_MAX];
	struct tunnel_elem *e;
	size_t pos = 0;
	int i;

	/* exactly the default limit of elements */
	for (i = 0; i < TUNNEL_ELEM_DEPTH_DEFAULT - 1; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos,
		    "<tunnel fqdn='h%d.example' port='604'>", i);
	pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "<tunnel/>");
	for (i = 0; i < TUNNEL_ELEM_DEPTH_DEFAULT - 1; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "</tunnel>");
	e = parse_ok(xml);
	CU_ASSERT(e != NULL && e->depth == TUNNEL_ELEM_DEPTH_DEFAULT);
	tunnel_elem_free(e);
	expect_err_n(xml, strlen(xml), 3, 501, "nesting deeper than 3");
	/* one more than the default */
	pos = 0;
	for (i = 0; i < TUNNEL_ELEM_DEPTH_DEFAULT; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos,
		    "<tunnel fqdn='h%d.example' port='604'>", i);
	pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "<tunnel/>");
	for (i = 0; i < TUNNEL_ELEM_DEPTH_DEFAULT; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "</tunnel>");
	expect_err(xml, 501, "nesting deeper than 8");
	/* a caller may allow more, up to the ceiling */
	e = parse_str(xml, TUNNEL_ELEM_DEPTH_DEFAULT + 1, NULL);
	CU_ASSERT(e != NULL && e->depth == TUNNEL_ELEM_DEPTH_DEFAULT + 1);
	tunnel_elem_free(e);
	/* no caller gets past the ceiling */
	pos = 0;
	for (i = 0; i < TUNNEL_ELEM_DEPTH_CEILING + 1; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos,
		    "<tunnel ip4='192.0.2.%d' port='1'>", i);
	for (i = 0; i < TUNNEL_ELEM_DEPTH_CEILING + 1; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "</tunnel>");
	CU_ASSERT(pos < TUNNEL_ELEM_DOC_MAX);
	expect_err_n(xml, pos, 1000, 501, "nesting deeper than 32");
	/* deeper than libxml2's own limit (256) fails cleanly */
	pos = 0;
	for (i = 0; i < 300; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "<a>");
	for (i = 0; i < 300; i++)
		pos += (size_t)snprintf(xml + pos, sizeof(xml) - pos, "</a>");
	expect_err_n(xml, pos, 1000, 500, "not well-formed XML*");
}

/* ---- invalid elements ---- */

struct bad {
	const char *xml;
	unsigned    code;
	const char *text;
};

static const struct bad bad_combos[] = {
	{ "<tunnel fqdn='a.example'/>", 501, "'fqdn' needs 'port' or 'srv'" },
	{ "<tunnel port='604'/>", 501, "'port' needs 'fqdn', 'ip4' or 'ip6'" },
	{ "<tunnel srv='_beep._tcp'/>", 501, "'srv' needs 'fqdn'" },
	{ "<tunnel srv='_beep._tcp' port='604'/>", 501, "'srv' needs 'fqdn'" },
	{ "<tunnel ip4='192.0.2.1'/>", 501, "'ip4' needs 'port'" },
	{ "<tunnel ip6='2001:db8::1'/>", 501, "'ip6' needs 'port'" },
	{ "<tunnel fqdn='a.example' ip4='192.0.2.1' port='604'/>", 501,
	  "only one of 'fqdn', 'ip4' and 'ip6' is allowed" },
	{ "<tunnel fqdn='a.example' ip6='::2' port='604'/>", 501,
	  "only one of 'fqdn', 'ip4' and 'ip6' is allowed" },
	{ "<tunnel ip4='192.0.2.1' ip6='::2' port='604'/>", 501,
	  "only one of 'fqdn', 'ip4' and 'ip6' is allowed" },
	{ "<tunnel ip4='192.0.2.1' srv='_beep._tcp' port='604'/>", 501,
	  "'srv' is only allowed with 'fqdn'" },
	{ "<tunnel ip6='::2' srv='_beep._tcp' port='604'/>", 501,
	  "'srv' is only allowed with 'fqdn'" },
	{ "<tunnel profile='http://iana.org/beep/x' port='604'/>", 501,
	  "'profile' cannot be combined with other attributes" },
	{ "<tunnel profile='http://iana.org/beep/x' endpoint='m'/>", 501,
	  "'profile' cannot be combined with other attributes" },
	{ "<tunnel endpoint='m' fqdn='a.example' port='604'/>", 501,
	  "'endpoint' cannot be combined with other attributes" },
	{ "<tunnel profile='http://iana.org/beep/x'><tunnel/></tunnel>", 501,
	  "'profile' only allowed on the innermost element" },
	{ "<tunnel fqdn='a.example' port='1'><tunnel profile='http://x.example/p'>"
	  "<tunnel/></tunnel></tunnel>", 501,
	  "'profile' only allowed on the innermost element" },
	{ "<tunnel endpoint='manager'><tunnel/></tunnel>", 501,
	  "'endpoint' only allowed on the innermost element" },
	{ "<tunnel><tunnel/></tunnel>", 501,
	  "an element without attributes must be the innermost" },
	{ "<tunnel>hello</tunnel>", 501, "text content not allowed in <tunnel>" },
	{ "<tunnel fqdn='a.example' port='1'>x<tunnel/></tunnel>", 501,
	  "text content not allowed in <tunnel>" },
	{ "<tunnel fqdn='a.example' port='1'><tunnel/>.</tunnel>", 501,
	  "text content not allowed in <tunnel>" },
	{ "<tunnel>&amp;</tunnel>", 501, "text content not allowed in <tunnel>" },
	{ "<tunnel><![CDATA[x]]></tunnel>", 501, "text content not allowed in <tunnel>" },
	{ "<tunnel>&#160;</tunnel>", 501, "text content not allowed in <tunnel>" },
	{ "<tunnel fqdn='a.example' port='1'><tunnel/><tunnel/></tunnel>", 501,
	  "at most one nested element is allowed" },
	{ "<tunnel fqdn='a.example' port='1'><foo/></tunnel>", 501,
	  "nested element must be <tunnel>" },
	{ "<tunnel fqdn='a.example' port='1'><Tunnel/></tunnel>", 501,
	  "nested element must be <tunnel>" },
	{ "<start number='1'><tunnel/></start>", 501, "root element must be <tunnel>" },
	{ "<TUNNEL/>", 501, "root element must be <tunnel>" },
	{ "<tunnel foo='1'/>", 501, "unknown attribute 'foo'" },
	{ "<tunnel FQDN='a.example' port='1'/>", 501, "unknown attribute 'FQDN'" },
	{ "<tunnel fqdn='a.example' port='1' ttl='3'/>", 501, "unknown attribute 'ttl'" },
	{ "<tunnel xml:lang='en'/>", 501, "unknown attribute 'xml:lang'" },
	/* namespace tricks */
	{ "<tunnel xmlns='urn:x'/>", 501, "namespaces not allowed on <tunnel>" },
	{ "<b:tunnel xmlns:b='urn:x'/>", 501, "namespaces not allowed on <tunnel>" },
	{ "<tunnel xmlns:b='urn:x' fqdn='a.example' port='1'/>", 501,
	  "namespace declarations not allowed" },
	{ "<tunnel fqdn='a.example' port='1'><tunnel xmlns='urn:x'/></tunnel>", 501,
	  "nested element must be <tunnel>" },
	{ "<x:tunnel/>", 501, "namespace error" },
	{ "<tunnel fqdn='a.example' x:port='1'/>", 501, "namespace error" },
	{ "<tunnel fqdn='a.example' port='1'><x:tunnel/></tunnel>", 501, "namespace error" },
	/* processing instructions */
	{ "<?foo bar?><tunnel/>", 500, "processing instructions not allowed" },
	{ "<tunnel/><?foo bar?>", 500, "processing instructions not allowed" },
	{ "<tunnel><?foo bar?></tunnel>", 500, "processing instructions not allowed" },
};

static const struct bad bad_values[] = {
	/* port */
	{ "<tunnel fqdn='a.example' port='0'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='65536'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='+1'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='-1'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='01'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='abc'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port=''/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port=' 604'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='604 '/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='0x25c'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='4294967900'/>", 501,
	  "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' port='６０４'/>", 501, "attribute 'port' must be 1-65535" },
	{ "<tunnel fqdn='a.example' srv='_beep._tcp' port='0'/>", 501,
	  "attribute 'port' must be 1-65535" },
	/* ip4 */
	{ "<tunnel ip4='127.1' port='1'/>", 501, "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='1.2.3' port='1'/>", 501, "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='256.1.1.1' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='1.2.3.4.5' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='017.0.0.1' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='0x7f.0.0.1' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='2130706433' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='1.2.3.4 ' port='1'/>", 501,
	  "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='' port='1'/>", 501, "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	{ "<tunnel ip4='::1' port='1'/>", 501, "attribute 'ip4' must be a dotted quad (a.b.c.d)" },
	/* ip6 */
	{ "<tunnel ip6='garbage' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='1.2.3.4' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='[::1]' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='fe80::1%eth0' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6=':::' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='1:2:3:4:5:6:7:8:9' port='1'/>", 501,
	  "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='12345::1' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	{ "<tunnel ip6='' port='1'/>", 501, "attribute 'ip6' is not an IPv6 address" },
	/* fqdn */
	{ "<tunnel fqdn='' port='1'/>", 501, "attribute 'fqdn' is empty" },
	{ "<tunnel fqdn='.' port='1'/>", 501, "attribute 'fqdn' is empty" },
	{ "<tunnel fqdn='-a.example' port='1'/>", 501,
	  "attribute 'fqdn': label begins or ends with '-'" },
	{ "<tunnel fqdn='a-.example' port='1'/>", 501,
	  "attribute 'fqdn': label begins or ends with '-'" },
	{ "<tunnel fqdn='a..example' port='1'/>", 501, "attribute 'fqdn': empty label" },
	{ "<tunnel fqdn='.a.example' port='1'/>", 501, "attribute 'fqdn': empty label" },
	{ "<tunnel fqdn='a.example..' port='1'/>", 501, "attribute 'fqdn': empty label" },
	{ "<tunnel fqdn='a_b.example' port='1'/>", 501,
	  "attribute 'fqdn': character not allowed in a host name" },
	{ "<tunnel fqdn='exa mple.com' port='1'/>", 501,
	  "attribute 'fqdn': character not allowed in a host name" },
	{ "<tunnel fqdn='a.example/x' port='1'/>", 501,
	  "attribute 'fqdn': character not allowed in a host name" },
	{ "<tunnel fqdn='b\xc3\xbc" "cher.example' port='1'/>", 501,
	  "attribute 'fqdn': character not allowed in a host name" },
	{ "<tunnel fqdn='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example' "
	  "port='1'/>", 501, "attribute 'fqdn': label longer than 63 octets" },
	{ "<tunnel fqdn='127.0.0.1' port='1'/>", 501,
	  "attribute 'fqdn' is a numeric address (use 'ip4')" },
	{ "<tunnel fqdn='127.1' port='1'/>", 501,
	  "attribute 'fqdn' is a numeric address (use 'ip4')" },
	{ "<tunnel fqdn='2130706433' port='1'/>", 501,
	  "attribute 'fqdn' is a numeric address (use 'ip4')" },
	{ "<tunnel fqdn='0x7f000001' port='1'/>", 501,
	  "attribute 'fqdn' is a numeric address (use 'ip4')" },
	{ "<tunnel fqdn='a.example.123' port='1'/>", 501,
	  "attribute 'fqdn' is a numeric address (use 'ip4')" },
	{ "<tunnel fqdn='::1' port='1'/>", 501,
	  "attribute 'fqdn': character not allowed in a host name" },
	/* srv */
	{ "<tunnel fqdn='a.example' srv='beep._tcp'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_beep.tcp'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_beep'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_._tcp'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_-x._tcp'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_beep._tcp.'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_a._b._tcp'/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv=''/>", 501,
	  "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')" },
	{ "<tunnel fqdn='a.example' srv='_beep._udp'/>", 504,
	  "attribute 'srv': only the '_tcp' protocol is implemented" },
	{ "<tunnel fqdn='a.example' srv='_beep._sctp' port='604'/>", 504,
	  "attribute 'srv': only the '_tcp' protocol is implemented" },
	/* profile */
	{ "<tunnel profile=''/>", 501, "attribute 'profile' is empty" },
	{ "<tunnel profile='no scheme'/>", 501,
	  "attribute 'profile': character not allowed in a URI" },
	{ "<tunnel profile='http://x.example/&lt;'/>", 501,
	  "attribute 'profile': character not allowed in a URI" },
	{ "<tunnel profile='http://x.example/\xc3\xa9'/>", 501,
	  "attribute 'profile': character not allowed in a URI" },
	{ "<tunnel profile='http://x.example/&#9;'/>", 501,
	  "attribute 'profile': character not allowed in a URI" },
	{ "<tunnel profile='noscheme'/>", 501, "attribute 'profile' must be a URI with a scheme" },
	{ "<tunnel profile='http:'/>", 501, "attribute 'profile' must be a URI with a scheme" },
	{ "<tunnel profile='1http://x'/>", 501, "attribute 'profile' must be a URI with a scheme" },
	{ "<tunnel profile=':x'/>", 501, "attribute 'profile' must be a URI with a scheme" },
	{ "<tunnel profile='http://x.example/%zz'/>", 501, "attribute 'profile': bad %-escape" },
	{ "<tunnel profile='http://x.example/%4'/>", 501, "attribute 'profile': bad %-escape" },
	/* endpoint */
	{ "<tunnel endpoint=''/>", 501, "attribute 'endpoint' is empty" },
	{ "<tunnel endpoint=' x'/>", 501, "attribute 'endpoint': leading or trailing space" },
	{ "<tunnel endpoint='x '/>", 501, "attribute 'endpoint': leading or trailing space" },
	{ "<tunnel endpoint='a&#10;b'/>", 501,
	  "attribute 'endpoint': only printable ASCII is allowed" },
	{ "<tunnel endpoint='a&#127;b'/>", 501,
	  "attribute 'endpoint': only printable ASCII is allowed" },
	{ "<tunnel endpoint='caf\xc3\xa9'/>", 501,
	  "attribute 'endpoint': only printable ASCII is allowed" },
};

static void
run_bad(const struct bad *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		expect_err(t[i].xml, t[i].code, t[i].text);
}

static void
test_bad_combinations(void)
{
	run_bad(bad_combos, sizeof(bad_combos) / sizeof(bad_combos[0]));
}

static void
test_bad_values(void)
{
	char xml[TUNNEL_ELEM_DOC_MAX], v[1100];

	run_bad(bad_values, sizeof(bad_values) / sizeof(bad_values[0]));
	/* 254 octets without the root dot */
	memset(v, 'a', sizeof(v));
	v[63] = v[127] = v[191] = '.';
	v[254] = '\0';
	snprintf(xml, sizeof(xml), "<tunnel fqdn='%s' port='604'/>", v);
	expect_err(xml, 501, "attribute 'fqdn' longer than 253 octets");
	/* profile and endpoint caps: at the cap fine, one more refused */
	memset(v, 'a', sizeof(v));
	memcpy(v, "urn:", 4);
	v[TUNNEL_ELEM_URI_MAX] = '\0';
	snprintf(xml, sizeof(xml), "<tunnel profile='%s'/>", v);
	tunnel_elem_free(parse_ok(xml));
	v[TUNNEL_ELEM_URI_MAX] = 'a';
	v[TUNNEL_ELEM_URI_MAX + 1] = '\0';
	snprintf(xml, sizeof(xml), "<tunnel profile='%s'/>", v);
	expect_err(xml, 501, "attribute 'profile' longer than 512 octets");
	memset(v, 'e', sizeof(v));
	v[TUNNEL_ELEM_ENDPOINT_MAX] = '\0';
	snprintf(xml, sizeof(xml), "<tunnel endpoint='%s'/>", v);
	tunnel_elem_free(parse_ok(xml));
	v[TUNNEL_ELEM_ENDPOINT_MAX] = 'e';
	v[TUNNEL_ELEM_ENDPOINT_MAX + 1] = '\0';
	snprintf(xml, sizeof(xml), "<tunnel endpoint='%s'/>", v);
	expect_err(xml, 501, "attribute 'endpoint' longer than 128 octets");
}

static void
test_error_elem_index(void)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e;

	e = parse_str("<tunnel fqdn='a.example' port='1'><tunnel ip4='1.2.3' port='1'/>"
	    "</tunnel>", 0, &err);
	CU_ASSERT_PTR_NULL(e);
	CU_ASSERT_EQUAL(err.code, 501);
	CU_ASSERT_EQUAL(err.elem, 2);
	e = parse_str("<tunnel fqdn='a.example' port='1'", 0, &err);
	CU_ASSERT_PTR_NULL(e);
	CU_ASSERT_EQUAL(err.elem, 0);
	/* err may be NULL */
	e = parse_str("<tunnel port='1'/>", 0, NULL);
	CU_ASSERT_PTR_NULL(e);
}

/* ---- hostile XML ---- */

static void
test_hostile_xml(void)
{
	char big[TUNNEL_ELEM_DOC_MAX + 2];
	size_t n;
	static const char nul_doc[] = "<tunnel fqdn='a.example\0' port='1'/>";
	static const char utf16[] = "\xff\xfe<\0t\0u\0n\0n\0e\0l\0/\0>\0";

	expect_err("<!DOCTYPE tunnel><tunnel/>", 500, "DOCTYPE not allowed");
	expect_err("<!DOCTYPE tunnel [<!ENTITY p '604'>]><tunnel fqdn='a.example' port='&p;'/>",
	    500, "DOCTYPE not allowed");
	expect_err("<!DOCTYPE tunnel SYSTEM 'file:///etc/passwd'><tunnel>&x;</tunnel>", 500,
	    "DOCTYPE not allowed");
	expect_err("<!DOCTYPE t [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>"
	    "<tunnel endpoint='&x;'/>", 500, "DOCTYPE not allowed");
	expect_err("<!DOCTYPE t [<!ENTITY % p SYSTEM 'http://192.0.2.1/x.dtd'> %p;]><tunnel/>",
	    500, "DOCTYPE not allowed");
	expect_err("<?xml version='1.0'?>\n<!DOCTYPE lolz [\n"
	    " <!ENTITY lol 'lol'>\n"
	    " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
	    " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
	    " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
	    " <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
	    " <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
	    " <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
	    " <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
	    " <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
	    " <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
	    "]>\n<tunnel endpoint='&lol9;'/>", 500, "DOCTYPE not allowed");
	/* an entity without a DOCTYPE is undeclared: not well-formed */
	expect_err("<tunnel fqdn='a.example' port='&p;'/>", 500, "not well-formed XML (line 1)*");
	expect_err("<tunnel>&x;</tunnel>", 500, "not well-formed XML (line 1)*");
	/* not well-formed */
	expect_err("", 500, "empty document");
	expect_err("<tunnel>", 500, "not well-formed XML*");
	expect_err("<tunnel/><tunnel/>", 500, "not well-formed XML*");
	expect_err("garbage", 500, "not well-formed XML*");
	expect_err("   ", 500, "not well-formed XML*");
	expect_err("<tunnel fqdn='a.example' fqdn='b.example' port='1'/>", 500,
	    "not well-formed XML*");
	expect_err("<tunnel port=1/>", 500, "not well-formed XML*");
	expect_err("<tunnel endpoint='<'/>", 500, "not well-formed XML*");
	expect_err("<tunnel endpoint='\xff\xfe'/>", 500, "not well-formed XML*");
	expect_err(" <?xml version='1.0'?><tunnel/>", 500, "not well-formed XML*");
	expect_err_n(nul_doc, sizeof(nul_doc) - 1, 0, 500, "not well-formed XML*");
	expect_err_n(utf16, sizeof(utf16) - 1, 0, 500, "not well-formed XML*");
	/* the size cap: a valid element padded to the cap passes, one more
	 * octet does not */
	memset(big, ' ', sizeof(big));
	memcpy(big, "<tunnel/>", 9);
	n = TUNNEL_ELEM_DOC_MAX;
	{
		struct tunnel_elem *e = NULL;

		CU_ASSERT_EQUAL(tunnel_elem_parse((const uint8_t *)big, n, 0, &e, NULL), 0);
		CU_ASSERT(e != NULL && e->kind == TUN_EMPTY);
		tunnel_elem_free(e);
	}
	expect_err_n(big, n + 1, 0, 500, "tunnel element larger than 4096 octets");
	/* the error text quotes input only as printable ASCII */
	{
		struct tunnel_elem_error err;
		struct tunnel_elem *e = NULL;
		static const char doc[] = "<tunnel>\x01</tunnel>";
		size_t i;

		CU_ASSERT_EQUAL(tunnel_elem_parse((const uint8_t *)doc, sizeof(doc) - 1, 0, &e,
		    &err), -1);
		CU_ASSERT_EQUAL(err.code, 500);
		for (i = 0; err.text[i] != '\0'; i++)
			CU_ASSERT(err.text[i] >= 0x20 && err.text[i] <= 0x7e);
	}
}

/* ---- writing ---- */

static void
check_roundtrip(const char *xml)
{
	struct tunnel_elem *a, *b;
	char out1[TUNNEL_ELEM_DOC_MAX], out2[TUNNEL_ELEM_DOC_MAX];
	size_t n1, n2;

	a = parse_ok(xml);
	if (a == NULL)
		return;
	n1 = tunnel_elem_write(a, out1, sizeof(out1));
	CU_ASSERT(n1 > 0);
	CU_ASSERT_EQUAL(n1, strlen(out1));
	CU_ASSERT_EQUAL(n1, tunnel_elem_write_len(a));
	b = parse_ok(out1);
	CU_ASSERT(tunnel_elem_equal(a, b));
	if (b != NULL) {
		n2 = tunnel_elem_write(b, out2, sizeof(out2));
		CU_ASSERT_EQUAL(n1, n2);
		CU_ASSERT_STRING_EQUAL(out1, out2);
	}
	tunnel_elem_free(a);
	tunnel_elem_free(b);
}

static void
expect_write(const char *xml, const char *want)
{
	struct tunnel_elem *e = parse_ok(xml);
	char out[TUNNEL_ELEM_DOC_MAX];

	if (e == NULL)
		return;
	CU_ASSERT(tunnel_elem_write(e, out, sizeof(out)) > 0);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "\nwrite: want %s\n       got  %s\n", want, out);
	CU_ASSERT_STRING_EQUAL(out, want);
	tunnel_elem_free(e);
}

static void
test_write(void)
{
	static const char *const docs[] = {
		"<tunnel/>",
		"<tunnel fqdn='final.example.com' port='604'>\n  <tunnel/>\n</tunnel>",
		"<tunnel fqdn='proxy2.example.com' port='604'><tunnel fqdn='final.example.com'"
		" srv='_telnet._tcp'><tunnel/></tunnel></tunnel>",
		"<tunnel fqdn='a.example.' srv='_idxp._tcp' port='603'/>",
		"<tunnel ip4='192.0.2.1' port='604'><tunnel ip6='2001:db8::1' port='1'>"
		"<tunnel/></tunnel></tunnel>",
		"<tunnel profile=\"http://xml.resource/org/profiles/SEP2?a=1&amp;b='2'\"/>",
		"<tunnel endpoint=\"a&lt;b&gt;c&amp;d&apos;e&quot;f g\"/>",
		"<tunnel fqdn='x.example' port='1'><tunnel endpoint='operator console'/></tunnel>",
	};
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_roundtrip(docs[i]);
	/* canonical form: fixed attribute order, single quotes, no blanks */
	expect_write("<tunnel port=\"604\"   fqdn=\"proxy2.example.com\">\n"
	    "  <tunnel port='10290' fqdn='FINAL.example.com'>\n    <tunnel/>\n  </tunnel>\n"
	    "</tunnel>",
	    "<tunnel fqdn='proxy2.example.com' port='604'><tunnel fqdn='final.example.com'"
	    " port='10290'><tunnel/></tunnel></tunnel>");
	expect_write("<tunnel port='603' srv='_idxp._tcp' fqdn='m.example'></tunnel>",
	    "<tunnel fqdn='m.example' srv='_idxp._tcp' port='603'/>");
	expect_write("<tunnel port='1' ip6='2001:0db8:0000::0001'/>",
	    "<tunnel ip6='2001:db8::1' port='1'/>");
	/* escaping of ' < > & " */
	expect_write("<tunnel endpoint=\"a&lt;b&gt;c&amp;d&apos;e&quot;f\"/>",
	    "<tunnel endpoint='a&lt;b&gt;c&amp;d&apos;e&quot;f'/>");
	expect_write("<tunnel profile=\"urn:x?a=1&amp;b='2'\"/>",
	    "<tunnel profile='urn:x?a=1&amp;b=&apos;2&apos;'/>");
}

static void
test_write_limits(void)
{
	struct tunnel_elem *e = parse_ok("<tunnel fqdn='a.example' port='604'><tunnel/></tunnel>");
	char out[128];
	size_t need;

	if (e == NULL)
		return;
	need = tunnel_elem_write_len(e);
	CU_ASSERT_EQUAL(need, strlen("<tunnel fqdn='a.example' port='604'><tunnel/></tunnel>"));
	/* exactly too small (no room for the NUL), then just right */
	memset(out, 'x', sizeof(out));
	CU_ASSERT_EQUAL(tunnel_elem_write(e, out, need), 0);
	CU_ASSERT_EQUAL(out[0], '\0');
	CU_ASSERT_EQUAL(out[need], 'x');      /* nothing written past len */
	CU_ASSERT_EQUAL(tunnel_elem_write(e, out, need + 1), need);
	CU_ASSERT_EQUAL(out[need], '\0');
	CU_ASSERT_EQUAL(tunnel_elem_write(e, out, 0), 0);
	CU_ASSERT_EQUAL(tunnel_elem_write(NULL, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(tunnel_elem_write_len(NULL), 0);
	/* an invalid tree is never written */
	free(e->fqdn);
	e->fqdn = strdup("bad name.example");
	CU_ASSERT_EQUAL(tunnel_elem_write(e, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(tunnel_elem_write_len(e), 0);
	tunnel_elem_free(e);
}

/* ---- describe ---- */

static void
test_describe(void)
{
	struct tunnel_elem *e;
	char buf[TUNNEL_ELEM_DESCRIBE_MAX], small[12];

	e = parse_ok("<tunnel fqdn='mgr.example.net' port='603'><tunnel endpoint='manager'/>"
	    "</tunnel>");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "fqdn=mgr.example.net:603>endpoint=manager");
	/* truncated, still terminated, marked */
	CU_ASSERT_PTR_EQUAL(tunnel_elem_describe(e, small, sizeof(small)), small);
	CU_ASSERT_STRING_EQUAL(small, "fqdn=mgr...");
	tunnel_elem_free(e);
	e = parse_ok("<tunnel fqdn='p.example' srv='_beep._tcp' port='604'><tunnel ip4='192.0.2.1'"
	    " port='1'><tunnel ip6='::1' port='2'><tunnel fqdn='f.example' srv='_x._tcp'>"
	    "<tunnel/></tunnel></tunnel></tunnel></tunnel>");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "fqdn=p.example,srv=_beep._tcp,port=604>ip4=192.0.2.1:1>ip6=[::1]:2>"
	    "fqdn=f.example,srv=_x._tcp>empty");
	tunnel_elem_free(e);
	/* every separator and anything unprintable is escaped */
	e = parse_ok("<tunnel endpoint=\"operator console&gt;x,y=z\\&quot;&apos;\"/>");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "endpoint=operator\\x20console\\x3ex\\x2cy\\x3dz\\x5c\\x22\\x27");
	/* a value no parser would produce is still escaped */
	free(e->endpoint);
	e->endpoint = strdup("a\nb\x1b[31m\xc3\xa9");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "endpoint=a\\x0ab\\x1b[31m\\xc3\\xa9");
	tunnel_elem_free(e);
	e = parse_ok("<tunnel profile='http://iana.org/beep/TUNNEL'/>");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "profile=http://iana.org/beep/TUNNEL");
	tunnel_elem_free(e);
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(NULL, buf, sizeof(buf)), "(none)");
}

/* ---- builders, dup, take_inner, validate ---- */

static void
test_builders(void)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *in, *e, *d, *p;
	char out[512], buf[256];

	in = tunnel_elem_new_endpoint("manager", &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	CU_ASSERT_EQUAL(in->depth, 1);
	e = tunnel_elem_new_fqdn("MGR.example.net", NULL, 603, in, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->kind, TUN_FQDN_PORT);
	CU_ASSERT_EQUAL(e->depth, 2);
	CU_ASSERT_PTR_EQUAL(e->inner, in);
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), 0);
	CU_ASSERT(tunnel_elem_write(e, out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out, "<tunnel fqdn='mgr.example.net' port='603'>"
	    "<tunnel endpoint='manager'/></tunnel>");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_describe(e, buf, sizeof(buf)),
	    "fqdn=mgr.example.net:603>endpoint=manager");
	/* the proxy's view: wrap in one more hop, then strip it again */
	p = tunnel_elem_new_ip("2001:db8::7", 604, e, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(p->kind, TUN_IP6);
	CU_ASSERT_EQUAL(p->depth, 3);
	d = tunnel_elem_dup(p);
	CU_ASSERT(tunnel_elem_equal(p, d));
	CU_ASSERT_PTR_EQUAL(tunnel_elem_take_inner(p), e);
	CU_ASSERT_PTR_NULL(p->inner);
	CU_ASSERT_EQUAL(p->depth, 1);
	CU_ASSERT_FALSE(tunnel_elem_equal(p, d));
	CU_ASSERT(tunnel_elem_equal(e, d->inner));
	CU_ASSERT_PTR_EQUAL(tunnel_elem_innermost(e), in);
	CU_ASSERT(tunnel_elem_is_address(e));
	CU_ASSERT_FALSE(tunnel_elem_is_address(in));
	tunnel_elem_free(p);
	tunnel_elem_free(d);

	/* failures leave inner with the caller */
	memset(&err, 0, sizeof(err));
	CU_ASSERT_PTR_NULL(tunnel_elem_new_fqdn("bad_name", NULL, 603, e, &err));
	CU_ASSERT_EQUAL(err.code, 501);
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'fqdn': character not allowed in a host name");
	CU_ASSERT_PTR_NULL(tunnel_elem_new_fqdn("a.example", NULL, 0, e, &err));
	CU_ASSERT_STRING_EQUAL(err.text, "'fqdn' needs 'port' or 'srv'");
	CU_ASSERT_PTR_NULL(tunnel_elem_new_fqdn("a.example", "_x._udp", 0, e, &err));
	CU_ASSERT_EQUAL(err.code, 504);
	CU_ASSERT_PTR_NULL(tunnel_elem_new_ip("127.1", 604, e, &err));
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'ip4' must be a dotted quad (a.b.c.d)");
	CU_ASSERT_PTR_NULL(tunnel_elem_new_ip("192.0.2.1", 0, e, &err));
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'port' must be 1-65535");
	CU_ASSERT_PTR_NULL(tunnel_elem_new_ip(NULL, 1, e, NULL));
	CU_ASSERT_PTR_NULL(tunnel_elem_new_profile("no scheme", &err));
	CU_ASSERT_PTR_NULL(tunnel_elem_new_endpoint("", &err));
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'endpoint' is empty");
	CU_ASSERT_EQUAL(e->depth, 2);          /* untouched */
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, NULL), 0);
	tunnel_elem_free(e);

	/* fqdn + srv with and without port; mapped ip; profile; empty */
	e = tunnel_elem_new_fqdn("f.example", "_beep._tcp", 0, tunnel_elem_new_empty(NULL), &err);
	CU_ASSERT(e != NULL && e->kind == TUN_FQDN_SRV && !e->has_port && e->depth == 2);
	tunnel_elem_free(e);
	e = tunnel_elem_new_fqdn("f.example", "_beep._tcp", 10290, NULL, &err);
	CU_ASSERT(e != NULL && e->kind == TUN_FQDN_SRV && e->has_port && e->port == 10290);
	tunnel_elem_free(e);
	e = tunnel_elem_new_ip("::ffff:10.1.2.3", 604, NULL, &err);
	CU_ASSERT(e != NULL && e->kind == TUN_IP4 && strcmp(e->ip4, "10.1.2.3") == 0);
	tunnel_elem_free(e);
	e = tunnel_elem_new_profile("http://iana.org/beep/TUNNEL", &err);
	CU_ASSERT(e != NULL && e->kind == TUN_PROFILE);
	tunnel_elem_free(e);

	/* building deeper than the ceiling */
	e = tunnel_elem_new_empty(NULL);
	while (e != NULL && e->depth < TUNNEL_ELEM_DEPTH_CEILING)
		e = tunnel_elem_new_ip("192.0.2.1", 1, e, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL(tunnel_elem_new_ip("192.0.2.1", 1, e, &err));
	CU_ASSERT_STRING_EQUAL(err.text, "nesting deeper than 32");
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "nesting deeper than 8");
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, TUNNEL_ELEM_DEPTH_CEILING, NULL), 0);
	CU_ASSERT(tunnel_elem_write_len(e) > 0);
	tunnel_elem_free(e);
	tunnel_elem_free(NULL);
	CU_ASSERT_PTR_NULL(tunnel_elem_dup(NULL));
}

static void
test_validate(void)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e;

	e = parse_ok("<tunnel fqdn='a.example' port='604'><tunnel/></tunnel>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	/* upper case is not canonical */
	e->fqdn[0] = 'A';
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'fqdn' not in canonical form");
	e->fqdn[0] = 'a';
	/* a field the kind does not use */
	e->ip4 = strdup("192.0.2.1");
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'ip4' not allowed on a fqdn+port element");
	free(e->ip4);
	e->ip4 = NULL;
	/* wrong depth bookkeeping */
	e->depth = 5;
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "depth 5 does not match the nesting");
	e->depth = 2;
	/* port missing */
	e->has_port = false;
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'port' must be 1-65535");
	e->has_port = true;
	/* an empty element with a child */
	e->inner->inner = tunnel_elem_new_empty(NULL);
	e->inner->depth = 2;
	e->depth = 3;
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "an element without attributes must be the innermost");
	CU_ASSERT_EQUAL(err.elem, 2);
	tunnel_elem_free(e->inner->inner);
	e->inner->inner = NULL;
	e->inner->depth = 1;
	e->depth = 2;
	/* an ip6 slot holding an IPv4 address */
	tunnel_elem_free(e->inner);
	e->inner = tunnel_elem_new_ip("2001:db8::1", 1, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->inner);
	free(e->inner->ip6);
	e->inner->ip6 = strdup("::ffff:1.2.3.4");
	CU_ASSERT_EQUAL(tunnel_elem_validate(e, 0, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.text, "attribute 'ip6' holds an IPv4 address");
	CU_ASSERT_EQUAL(tunnel_elem_validate(NULL, 0, &err), -1);
	tunnel_elem_free(e);
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_FQDN_PORT), "fqdn+port");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_FQDN_SRV), "fqdn+srv");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_IP4), "ip4");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_IP6), "ip6");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_PROFILE), "profile");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_ENDPOINT), "endpoint");
	CU_ASSERT_STRING_EQUAL(tunnel_elem_kind_name(TUN_EMPTY), "empty");
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "rfc 3620 section 2 examples", test_rfc_examples },
		{ "valid combinations", test_combinations },
		{ "nesting and depth limit", test_nesting },
		{ "invalid combinations and structure", test_bad_combinations },
		{ "invalid attribute values", test_bad_values },
		{ "error element index", test_error_elem_index },
		{ "hostile xml", test_hostile_xml },
		{ "canonical write and round trip", test_write },
		{ "write buffer limits", test_write_limits },
		{ "describe", test_describe },
		{ "builders, dup, take_inner", test_builders },
		{ "validate hand-built trees", test_validate },
		{ "kind names", test_names },
		CUTEST_END
	};

	return cutest_run("tunnel_elem", cases);
}
