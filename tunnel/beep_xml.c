/* beep_xml: channel-0 documents (RFC 3080 sec. 2.3, DTD in sec. 7.1). */
#include "tunnel/beep_xml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/chvalid.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlstring.h>
#include <openssl/evp.h>

/* Never NOENT (entity substitution), DTDLOAD or HUGE; NOCDATA merges CDATA
 * sections into text nodes, which is what a piggyback wants. */
#define BEEP_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
                          XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA)

static int
fail(struct beep_xml_error *err, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct beep_xml_error *err, unsigned code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->text, sizeof(err->text), fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *
beep_xml_kind_name(enum beep_xml_kind k)
{
	switch (k) {
	case BEEP_XML_GREETING: return "greeting";
	case BEEP_XML_START:    return "start";
	case BEEP_XML_PROFILE:  return "profile";
	case BEEP_XML_CLOSE:    return "close";
	case BEEP_XML_OK:       return "ok";
	case BEEP_XML_ERROR:    return "error";
	}
	return "?";
}

bool
beep_xml_valid_text(const uint8_t *s, size_t len)
{
	size_t off = 0;
	int n, c;

	if (len > INT_MAX)
		return false;
	while (off < len) {
		n = (int)(len - off);
		c = xmlGetUTF8Char(s + off, &n);
		if (c < 0 || n <= 0 || !xmlIsCharQ(c))
			return false;
		/* reject overlong forms and surrogates xmlGetUTF8Char lets by */
		if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000))
			return false;
		off += (size_t)n;
	}
	return true;
}

static bool
is_blank(const xmlChar *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

void
beep_xml_doc_clear(struct beep_xml_doc *doc)
{
	size_t i;

	if (doc == NULL)
		return;
	for (i = 0; i < doc->nprofiles; i++) {
		free(doc->profiles[i].uri);
		free(doc->profiles[i].content);
	}
	free(doc->profiles);
	free(doc->features);
	free(doc->localize);
	free(doc->server_name);
	free(doc->text);
	free(doc->lang);
	memset(doc, 0, sizeof(*doc));
}

/* ---- parsing ---------------------------------------------------------- */

/* Walks the tree without recursion; fails beyond BG_XML_DEPTH_MAX. */
static int
check_depth(xmlNodePtr root)
{
	xmlNodePtr n = root;
	unsigned depth = 1;

	for (;;) {
		if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
			if (++depth > BG_XML_DEPTH_MAX)
				return -1;
			n = n->children;
			continue;
		}
		while (n != root && n->next == NULL) {
			n = n->parent;
			depth--;
		}
		if (n == root)
			return 0;
		n = n->next;
	}
}

/* Copies an attribute's value, checking its length. */
static int
attr_value(xmlAttrPtr a, char **out, struct beep_xml_error *err)
{
	xmlChar *v;
	size_t n;

	v = xmlNodeGetContent((xmlNodePtr)a);
	if (v == NULL)
		return fail(err, 451, "out of memory");
	n = strlen((const char *)v);
	if (n > BEEP_XML_ATTR_MAX) {
		xmlFree(v);
		return fail(err, 501, "attribute %s too long", (const char *)a->name);
	}
	*out = strdup((const char *)v);
	xmlFree(v);
	if (*out == NULL)
		return fail(err, 451, "out of memory");
	return 0;
}

static int
parse_u31(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] == '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > 2147483647u)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
parse_code(const char *s, unsigned *out)
{
	if (strlen(s) != 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return -1;
	*out = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	return 0;
}

static bool
valid_uri(const char *s)
{
	xmlURIPtr u;
	const char *p;

	if (s[0] == '\0')
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	if ((u = xmlParseURI(s)) == NULL)
		return false;
	xmlFreeURI(u);
	return true;
}

/* Text content of an element whose DTD content is (#PCDATA): only text
 * (CDATA merged by NOCDATA) and comments are allowed as children.
 * *out NULL when there is none or it is all white space. */
static int
pcdata(xmlNodePtr el, size_t max, xmlChar **out, struct beep_xml_error *err)
{
	xmlNodePtr c;
	xmlChar *v;

	*out = NULL;
	for (c = el->children; c != NULL; c = c->next) {
		switch (c->type) {
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
		case XML_COMMENT_NODE:
		case XML_PI_NODE:
			break;
		case XML_ELEMENT_NODE:
			return fail(err, 500, "element %s not allowed in %s",
			            (const char *)c->name, (const char *)el->name);
		default:
			return fail(err, 500, "unexpected content in %s", (const char *)el->name);
		}
	}
	if (el->children == NULL)
		return 0;
	if ((v = xmlNodeGetContent(el)) == NULL)
		return fail(err, 451, "out of memory");
	if (strlen((const char *)v) > max) {
		xmlFree(v);
		return fail(err, 500, "content of %s too long", (const char *)el->name);
	}
	if (is_blank(v)) {
		xmlFree(v);
		return 0;
	}
	*out = v;
	return 0;
}

/* Element content (DTD: child elements only): text must be white space. */
static int
element_only(xmlNodePtr el, struct beep_xml_error *err)
{
	xmlNodePtr c;

	for (c = el->children; c != NULL; c = c->next) {
		switch (c->type) {
		case XML_ELEMENT_NODE:
		case XML_COMMENT_NODE:
		case XML_PI_NODE:
			break;
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			if (c->content != NULL && !is_blank(c->content))
				return fail(err, 500, "text not allowed in %s", (const char *)el->name);
			break;
		default:
			return fail(err, 500, "unexpected content in %s", (const char *)el->name);
		}
	}
	return 0;
}

static bool
is_xml_lang(xmlAttrPtr a)
{
	return a->ns != NULL && a->ns->prefix != NULL &&
	    xmlStrEqual(a->ns->prefix, BAD_CAST "xml") && xmlStrEqual(a->name, BAD_CAST "lang");
}

static int
b64_decode(const char *in, uint8_t **out, size_t *outlen, struct beep_xml_error *err)
{
	EVP_ENCODE_CTX *ctx;
	size_t n = strlen(in);
	uint8_t *buf;
	int l1 = 0, l2 = 0;

	if (n > INT_MAX)
		return fail(err, 501, "base64 content too long");
	if ((buf = malloc(n / 4 * 3 + 4)) == NULL)
		return fail(err, 451, "out of memory");
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL) {
		free(buf);
		return fail(err, 451, "out of memory");
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &l1, (const unsigned char *)in, (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, buf + l1, &l2) != 1) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return fail(err, 501, "bad base64 content");
	}
	EVP_ENCODE_CTX_free(ctx);
	*out = buf;
	*outlen = (size_t)l1 + (size_t)l2;
	return 0;
}

/* One <profile> element (in a greeting, a start, or as a start's reply). */
static int
parse_profile(xmlNodePtr el, bool in_greeting, struct beep_xml_profile *p,
              struct beep_xml_error *err)
{
	xmlAttrPtr a;
	char *enc = NULL;
	xmlChar *txt = NULL;
	bool b64 = false;

	for (a = el->properties; a != NULL; a = a->next) {
		if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "uri")) {
			if (attr_value(a, &p->uri, err) != 0)
				goto bad;
		} else if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "encoding")) {
			if (attr_value(a, &enc, err) != 0)
				goto bad;
		} else {
			fail(err, 501, "unknown attribute %s in profile", (const char *)a->name);
			goto bad;
		}
	}
	if (p->uri == NULL) {
		fail(err, 501, "profile without uri");
		goto bad;
	}
	if (!valid_uri(p->uri)) {
		fail(err, 501, "profile uri not valid");
		goto bad;
	}
	if (enc != NULL) {
		if (strcmp(enc, "base64") == 0)
			b64 = true;
		else if (strcmp(enc, "none") != 0) {
			fail(err, 501, "profile encoding must be none or base64");
			goto bad;
		}
	}
	/* base64 inflates by 4/3: allow for it (and line breaks) here, check
	 * the decoded length below */
	if (pcdata(el, BEEP_XML_DOC_MAX, &txt, err) != 0)
		goto bad;
	if (txt != NULL && in_greeting) {
		fail(err, 501, "profile in greeting with content");
		goto bad;
	}
	if (txt != NULL) {
		p->has_content = true;
		if (b64) {
			if (b64_decode((const char *)txt, &p->content, &p->content_len, err) != 0)
				goto bad;
		} else {
			p->content_len = strlen((const char *)txt);
			if ((p->content = malloc(p->content_len + 1)) == NULL) {
				fail(err, 451, "out of memory");
				goto bad;
			}
			memcpy(p->content, txt, p->content_len + 1);
		}
		if (p->content_len > BEEP_XML_CONTENT_MAX) {
			fail(err, 500, "profile content over %u octets", BEEP_XML_CONTENT_MAX);
			goto bad;
		}
		if (b64) {
			uint8_t *t = realloc(p->content, p->content_len + 1);
			if (t == NULL) {
				fail(err, 451, "out of memory");
				goto bad;
			}
			p->content = t;
			p->content[p->content_len] = '\0';
		}
	}
	xmlFree(txt);
	free(enc);
	return 0;
bad:
	xmlFree(txt);
	free(enc);
	return -1;
}

static int
parse_profiles(xmlNodePtr el, bool in_greeting, struct beep_xml_doc *doc,
               struct beep_xml_error *err)
{
	xmlNodePtr c;
	size_t n = 0;

	if (element_only(el, err) != 0)
		return -1;
	for (c = el->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (c->ns != NULL || !xmlStrEqual(c->name, BAD_CAST "profile"))
			return fail(err, 500, "element %s not allowed in %s",
			            (const char *)c->name, (const char *)el->name);
		n++;
	}
	if (n > BEEP_XML_PROFILES_MAX)
		return fail(err, 500, "more than %u profiles", BEEP_XML_PROFILES_MAX);
	if (n == 0)
		return 0;
	if ((doc->profiles = calloc(n, sizeof(*doc->profiles))) == NULL)
		return fail(err, 451, "out of memory");
	for (c = el->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		doc->nprofiles++;
		if (parse_profile(c, in_greeting, &doc->profiles[doc->nprofiles - 1], err) != 0)
			return -1;
	}
	return 0;
}

static int
parse_greeting(xmlNodePtr el, struct beep_xml_doc *doc, struct beep_xml_error *err)
{
	xmlAttrPtr a;

	doc->kind = BEEP_XML_GREETING;
	for (a = el->properties; a != NULL; a = a->next) {
		if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "features")) {
			if (attr_value(a, &doc->features, err) != 0)
				return -1;
		} else if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "localize")) {
			if (attr_value(a, &doc->localize, err) != 0)
				return -1;
		} else
			return fail(err, 501, "unknown attribute %s in greeting",
			            (const char *)a->name);
	}
	return parse_profiles(el, true, doc, err);
}

static int
parse_start(xmlNodePtr el, struct beep_xml_doc *doc, struct beep_xml_error *err)
{
	xmlAttrPtr a;
	char *num = NULL;
	int rc;

	doc->kind = BEEP_XML_START;
	for (a = el->properties; a != NULL; a = a->next) {
		if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "number")) {
			if (attr_value(a, &num, err) != 0)
				return -1;
		} else if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "serverName")) {
			if (attr_value(a, &doc->server_name, err) != 0)
				goto bad;
		} else {
			fail(err, 501, "unknown attribute %s in start", (const char *)a->name);
			goto bad;
		}
	}
	if (num == NULL) {
		fail(err, 501, "start without number");
		goto bad;
	}
	if (parse_u31(num, &doc->number) != 0 || doc->number == 0) {
		fail(err, 501, "start number not in 1..2147483647");
		goto bad;
	}
	free(num);
	num = NULL;
	if ((rc = parse_profiles(el, false, doc, err)) != 0)
		return rc;
	if (doc->nprofiles == 0)
		return fail(err, 501, "start without profile");
	return 0;
bad:
	free(num);
	return -1;
}

/* <close> and <error>: code, xml:lang, optional diagnostic. */
static int
parse_coded(xmlNodePtr el, bool is_close, struct beep_xml_doc *doc,
            struct beep_xml_error *err)
{
	xmlAttrPtr a;
	char *v;
	xmlChar *txt;
	bool have_code = false;

	doc->kind = is_close ? BEEP_XML_CLOSE : BEEP_XML_ERROR;
	for (a = el->properties; a != NULL; a = a->next) {
		if (is_xml_lang(a)) {
			if (attr_value(a, &doc->lang, err) != 0)
				return -1;
			continue;
		}
		if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "code")) {
			if (attr_value(a, &v, err) != 0)
				return -1;
			if (parse_code(v, &doc->code) != 0) {
				free(v);
				return fail(err, 501, "code must be three digits");
			}
			free(v);
			have_code = true;
		} else if (is_close && a->ns == NULL && xmlStrEqual(a->name, BAD_CAST "number")) {
			if (attr_value(a, &v, err) != 0)
				return -1;
			if (parse_u31(v, &doc->number) != 0) {
				free(v);
				return fail(err, 501, "close number not in 0..2147483647");
			}
			free(v);
		} else
			return fail(err, 501, "unknown attribute %s in %s", (const char *)a->name,
			            (const char *)el->name);
	}
	if (!have_code)
		return fail(err, 501, "%s without code", (const char *)el->name);
	if (pcdata(el, BEEP_XML_TEXT_MAX, &txt, err) != 0)
		return -1;
	if (txt != NULL) {
		doc->text = strdup((const char *)txt);
		xmlFree(txt);
		if (doc->text == NULL)
			return fail(err, 451, "out of memory");
	}
	return 0;
}

static int
parse_root(xmlNodePtr el, struct beep_xml_doc *doc, struct beep_xml_error *err)
{
	if (el->ns != NULL)
		return fail(err, 500, "namespaced element not allowed");
	if (xmlStrEqual(el->name, BAD_CAST "greeting"))
		return parse_greeting(el, doc, err);
	if (xmlStrEqual(el->name, BAD_CAST "start"))
		return parse_start(el, doc, err);
	if (xmlStrEqual(el->name, BAD_CAST "close"))
		return parse_coded(el, true, doc, err);
	if (xmlStrEqual(el->name, BAD_CAST "error"))
		return parse_coded(el, false, doc, err);
	if (xmlStrEqual(el->name, BAD_CAST "ok")) {
		doc->kind = BEEP_XML_OK;
		if (el->properties != NULL)
			return fail(err, 501, "ok takes no attributes");
		if (element_only(el, err) != 0)
			return -1;
		if (xmlFirstElementChild(el) != NULL)
			return fail(err, 500, "ok takes no content");
		return 0;
	}
	if (xmlStrEqual(el->name, BAD_CAST "profile")) {
		doc->kind = BEEP_XML_PROFILE;
		if ((doc->profiles = calloc(1, sizeof(*doc->profiles))) == NULL)
			return fail(err, 451, "out of memory");
		doc->nprofiles = 1;
		return parse_profile(el, false, &doc->profiles[0], err);
	}
	return fail(err, 500, "unknown element %.40s", (const char *)el->name);
}

int
beep_xml_parse(const uint8_t *buf, size_t len, struct beep_xml_doc *doc,
               struct beep_xml_error *err)
{
	xmlDocPtr x;
	xmlNodePtr root, n;
	int rc;

	memset(doc, 0, sizeof(*doc));
	if (len == 0)
		return fail(err, 500, "empty document");
	if (len > BEEP_XML_DOC_MAX)
		return fail(err, 500, "document over %u octets", BEEP_XML_DOC_MAX);
	/* A fresh parser context for every document (xmlReadMemory makes one),
	 * so no option can leak from one parse into the next. */
	x = xmlReadMemory((const char *)buf, (int)len, NULL, NULL, BEEP_XML_OPTIONS);
	if (x == NULL)
		return fail(err, 500, "poorly formed XML");
	if (x->intSubset != NULL || x->extSubset != NULL) {
		xmlFreeDoc(x);
		return fail(err, 500, "DOCTYPE not allowed");
	}
	for (n = x->children; n != NULL; n = n->next)
		if (n->type != XML_ELEMENT_NODE && n->type != XML_COMMENT_NODE &&
		    n->type != XML_PI_NODE) {
			xmlFreeDoc(x);
			return fail(err, 500, "unexpected node at top level");
		}
	if ((root = xmlDocGetRootElement(x)) == NULL) {
		xmlFreeDoc(x);
		return fail(err, 500, "no element");
	}
	if (check_depth(root) != 0) {
		xmlFreeDoc(x);
		return fail(err, 500, "nesting deeper than %u", BG_XML_DEPTH_MAX);
	}
	rc = parse_root(root, doc, err);
	xmlFreeDoc(x);
	if (rc != 0)
		beep_xml_doc_clear(doc);
	return rc;
}

/* ---- generation --------------------------------------------------------- */

static bool
ok_string(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return true;
	n = strlen(s);
	return n <= max && beep_xml_valid_text((const uint8_t *)s, n);
}

static int
set_attr(xmlNodePtr el, const char *name, const char *value)
{
	/* xmlNewProp stores the value as text: it is escaped on output and
	 * never interpreted as entity references */
	return xmlNewProp(el, BAD_CAST name, BAD_CAST value) == NULL ? -1 : 0;
}

static int
add_text(xmlNodePtr el, const uint8_t *s, size_t len)
{
	xmlNodePtr t;

	if (len > INT_MAX)
		return -1;
	if ((t = xmlNewTextLen(s, (int)len)) == NULL)
		return -1;
	if (xmlAddChild(el, t) == NULL) {
		xmlFreeNode(t);
		return -1;
	}
	return 0;
}

static int
add_profile(xmlNodePtr parent, const struct beep_xml_profile *p, bool content_ok)
{
	xmlNodePtr el;
	char *b64;
	int n;

	if (p->uri == NULL || !valid_uri(p->uri) || strlen(p->uri) > BEEP_XML_ATTR_MAX ||
	    !ok_string(p->uri, BEEP_XML_ATTR_MAX))
		return -1;
	if (parent->type == XML_DOCUMENT_NODE) {
		if ((el = xmlNewDocNode((xmlDocPtr)parent, NULL, BAD_CAST "profile", NULL)) == NULL)
			return -1;
		xmlDocSetRootElement((xmlDocPtr)parent, el);
	} else if ((el = xmlNewChild(parent, NULL, BAD_CAST "profile", NULL)) == NULL)
		return -1;
	if (set_attr(el, "uri", p->uri) != 0)
		return -1;
	if (!p->has_content)
		return 0;
	if (!content_ok || p->content_len > BEEP_XML_CONTENT_MAX ||
	    (p->content == NULL && p->content_len != 0))
		return -1;
	if (p->content_len == 0)
		return 0;
	if (beep_xml_valid_text(p->content, p->content_len))
		return add_text(el, p->content, p->content_len);
	/* not XML text: base64 */
	if ((b64 = malloc((p->content_len + 2) / 3 * 4 + 1)) == NULL)
		return -1;
	n = EVP_EncodeBlock((unsigned char *)b64, p->content, (int)p->content_len);
	if (n < 0 || set_attr(el, "encoding", "base64") != 0 ||
	    add_text(el, (const uint8_t *)b64, (size_t)n) != 0) {
		free(b64);
		return -1;
	}
	free(b64);
	return 0;
}

static int
build(xmlDocPtr x, const struct beep_xml_doc *d)
{
	xmlNodePtr el;
	char num[16];
	size_t i;

	if (d->kind == BEEP_XML_PROFILE)
		return d->nprofiles == 1 ? add_profile((xmlNodePtr)x, &d->profiles[0], true) : -1;
	if ((el = xmlNewDocNode(x, NULL, BAD_CAST beep_xml_kind_name(d->kind), NULL)) == NULL)
		return -1;
	xmlDocSetRootElement(x, el);
	switch (d->kind) {
	case BEEP_XML_GREETING:
		if (!ok_string(d->features, BEEP_XML_ATTR_MAX) ||
		    !ok_string(d->localize, BEEP_XML_ATTR_MAX) ||
		    d->nprofiles > BEEP_XML_PROFILES_MAX)
			return -1;
		if (d->features != NULL && set_attr(el, "features", d->features) != 0)
			return -1;
		if (d->localize != NULL && set_attr(el, "localize", d->localize) != 0)
			return -1;
		for (i = 0; i < d->nprofiles; i++)
			if (add_profile(el, &d->profiles[i], false) != 0)
				return -1;
		return 0;
	case BEEP_XML_START:
		if (d->number == 0 || d->number > 2147483647u || d->nprofiles == 0 ||
		    d->nprofiles > BEEP_XML_PROFILES_MAX ||
		    !ok_string(d->server_name, BEEP_XML_ATTR_MAX))
			return -1;
		snprintf(num, sizeof(num), "%u", (unsigned)d->number);
		if (set_attr(el, "number", num) != 0)
			return -1;
		if (d->server_name != NULL && set_attr(el, "serverName", d->server_name) != 0)
			return -1;
		for (i = 0; i < d->nprofiles; i++)
			if (add_profile(el, &d->profiles[i], true) != 0)
				return -1;
		return 0;
	case BEEP_XML_CLOSE:
	case BEEP_XML_ERROR:
		if (d->code < 100 || d->code > 599 || !ok_string(d->text, BEEP_XML_TEXT_MAX) ||
		    !ok_string(d->lang, BEEP_XML_ATTR_MAX))
			return -1;
		if (d->kind == BEEP_XML_CLOSE) {
			if (d->number > 2147483647u)
				return -1;
			snprintf(num, sizeof(num), "%u", (unsigned)d->number);
			if (set_attr(el, "number", num) != 0)
				return -1;
		}
		snprintf(num, sizeof(num), "%03u", d->code);
		if (set_attr(el, "code", num) != 0)
			return -1;
		if (d->lang != NULL)
			xmlNodeSetLang(el, BAD_CAST d->lang);
		if (d->text != NULL && d->text[0] != '\0' &&
		    add_text(el, (const uint8_t *)d->text, strlen(d->text)) != 0)
			return -1;
		return 0;
	case BEEP_XML_OK:
		return 0;
	case BEEP_XML_PROFILE:
		break;
	}
	return -1;
}

int
beep_xml_write(const struct beep_xml_doc *d, uint8_t **out, size_t *outlen)
{
	xmlDocPtr x;
	xmlBufferPtr b = NULL;
	int rc = -1;
	size_t n;

	*out = NULL;
	*outlen = 0;
	if ((x = xmlNewDoc(BAD_CAST "1.0")) == NULL)
		return -1;
	if (build(x, d) != 0)
		goto done;
	if ((b = xmlBufferCreate()) == NULL)
		goto done;
	if (xmlNodeDump(b, x, xmlDocGetRootElement(x), 0, 0) < 0)
		goto done;
	n = (size_t)xmlBufferLength(b);
	if (n > BEEP_XML_DOC_MAX) {
		errno = EMSGSIZE;
		goto done;
	}
	if ((*out = malloc(n + 1)) == NULL)
		goto done;
	memcpy(*out, xmlBufferContent(b), n);
	(*out)[n] = '\0';
	*outlen = n;
	rc = 0;
done:
	if (b != NULL)
		xmlBufferFree(b);
	xmlFreeDoc(x);
	if (rc != 0 && errno != EMSGSIZE)
		errno = EINVAL;
	return rc;
}

static int
write_profiles(enum beep_xml_kind kind, uint32_t number, const char *server_name,
               const char *const *uris, size_t n, const uint8_t *content, size_t clen,
               bool has_content, const char *features, const char *localize,
               uint8_t **out, size_t *outlen)
{
	struct beep_xml_doc d;
	struct beep_xml_profile *p = NULL;
	size_t i;
	int rc;

	memset(&d, 0, sizeof(d));
	if (n > BEEP_XML_PROFILES_MAX) {
		*out = NULL;
		errno = EINVAL;
		return -1;
	}
	if (n > 0 && (p = calloc(n, sizeof(*p))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		p[i].uri = (char *)(uintptr_t)uris[i];
	if (n > 0 && has_content) {
		p[0].has_content = true;
		p[0].content = (uint8_t *)(uintptr_t)content;
		p[0].content_len = clen;
	}
	d.kind = kind;
	d.number = number;
	d.server_name = (char *)(uintptr_t)server_name;
	d.features = (char *)(uintptr_t)features;
	d.localize = (char *)(uintptr_t)localize;
	d.profiles = p;
	d.nprofiles = n;
	rc = beep_xml_write(&d, out, outlen);
	free(p);
	return rc;
}

int
beep_xml_greeting(const char *const *uris, size_t n, const char *features,
                  const char *localize, uint8_t **out, size_t *outlen)
{
	return write_profiles(BEEP_XML_GREETING, 0, NULL, uris, n, NULL, 0, false,
	                      features, localize, out, outlen);
}

int
beep_xml_start(uint32_t number, const char *server_name, const char *const *uris,
               size_t n, const uint8_t *content, size_t clen, bool has_content,
               uint8_t **out, size_t *outlen)
{
	return write_profiles(BEEP_XML_START, number, server_name, uris, n, content, clen,
	                      has_content, NULL, NULL, out, outlen);
}

int
beep_xml_profile(const char *uri, const uint8_t *content, size_t clen, bool has_content,
                 uint8_t **out, size_t *outlen)
{
	return write_profiles(BEEP_XML_PROFILE, 0, NULL, &uri, 1, content, clen,
	                      has_content, NULL, NULL, out, outlen);
}

static int
write_coded(enum beep_xml_kind kind, uint32_t number, unsigned code, const char *text,
            uint8_t **out, size_t *outlen)
{
	struct beep_xml_doc d;

	memset(&d, 0, sizeof(d));
	d.kind = kind;
	d.number = number;
	d.code = code;
	d.text = (char *)(uintptr_t)text;
	return beep_xml_write(&d, out, outlen);
}

int
beep_xml_close(uint32_t number, unsigned code, const char *text, uint8_t **out,
               size_t *outlen)
{
	return write_coded(BEEP_XML_CLOSE, number, code, text, out, outlen);
}

int
beep_xml_ok(uint8_t **out, size_t *outlen)
{
	return write_coded(BEEP_XML_OK, 0, 0, NULL, out, outlen);
}

int
beep_xml_error(unsigned code, const char *text, uint8_t **out, size_t *outlen)
{
	return write_coded(BEEP_XML_ERROR, 0, code, text, out, outlen);
}
