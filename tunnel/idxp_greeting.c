/* idxp_greeting: IDXP-Greeting, Option, ok/error and IDMEF-Message checks. */
#include "tunnel/idxp_greeting.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#define IDXP_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
                          XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA)

static int
idxp_fail(struct idxp_greeting_error *err, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
idxp_fail(struct idxp_greeting_error *err, unsigned code, const char *fmt, ...)
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

/* A document with no DTD; NULL and *err set otherwise. */
static xmlDocPtr
idxp_read(const uint8_t *buf, size_t len, struct idxp_greeting_error *err)
{
	xmlDocPtr doc;

	if (len == 0 || len > INT_MAX) {
		idxp_fail(err, 500, "empty or oversized document");
		return NULL;
	}
	doc = xmlReadMemory((const char *)buf, (int)len, NULL, NULL, IDXP_XML_OPTIONS);
	if (doc == NULL) {
		idxp_fail(err, 500, "poorly formed XML");
		return NULL;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		idxp_fail(err, 500, "a DOCTYPE is not allowed");
		return NULL;
	}
	if (xmlDocGetRootElement(doc) == NULL) {
		xmlFreeDoc(doc);
		idxp_fail(err, 500, "no element");
		return NULL;
	}
	return doc;
}

static bool
idxp_name_is(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns == NULL &&
	    strcmp((const char *)n->name, name) == 0;
}

/* Copies attribute name of n into out (size).  1 present, 0 absent, -1 too long. */
static int
idxp_attr(xmlNodePtr n, const char *name, char *out, size_t size)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	size_t l;

	if (v == NULL)
		return 0;
	l = strlen((const char *)v);
	if (l >= size) {
		xmlFree(v);
		return -1;
	}
	memcpy(out, v, l + 1);
	xmlFree(v);
	return 1;
}

/* An element with nothing but whitespace text inside. */
static bool
idxp_only_elements(xmlNodePtr n)
{
	xmlNodePtr c;
	const xmlChar *p;

	for (c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_ELEMENT_NODE || c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_TEXT_NODE)
			return false;
		for (p = c->content; p != NULL && *p != '\0'; p++)
			if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				return false;
	}
	return true;
}

static int
idxp_option(xmlNodePtr o, struct idxp_greeting *g, struct idxp_greeting_error *err)
{
	char internal[64], external[IDXP_URI_MAX], must[8], val[32];
	int hi, he, hm;
	bool mu = false;
	xmlNodePtr c;
	char *end;
	long p;

	hi = idxp_attr(o, "internal", internal, sizeof(internal));
	he = idxp_attr(o, "external", external, sizeof(external));
	hm = idxp_attr(o, "mustUnderstand", must, sizeof(must));
	if (hi < 0 || he < 0 || hm < 0)
		return idxp_fail(err, 501, "Option attribute too long");
	if ((hi == 1) == (he == 1))
		return idxp_fail(err, 501, "an Option has exactly one of 'internal' and 'external'");
	if (hm == 1) {
		if (strcmp(must, "true") == 0)
			mu = true;
		else if (strcmp(must, "false") != 0)
			return idxp_fail(err, 501, "mustUnderstand is 'true' or 'false'");
	}
	for (c = o->children; c != NULL && c->type != XML_ELEMENT_NODE; c = c->next)
		;
	if (hi == 1 && strcmp(internal, "channelPriority") == 0) {
		if (!idxp_name_is(c, "channelPriority") ||
		    idxp_attr(c, "priority", val, sizeof(val)) != 1)
			return idxp_fail(err, 501, "channelPriority option needs "
			    "<channelPriority priority='N'/>");
		errno = 0;
		p = strtol(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || val[0] == '+' ||
		    val[0] == '-' || p > INT32_MAX)
			return idxp_fail(err, 501, "channelPriority priority is 0..2147483647");
		g->has_priority = true;
		g->priority = (int32_t)p;
		return 0;
	}
	if (hi == 1 && strcmp(internal, "streamType") == 0) {
		if (!idxp_name_is(c, "streamType") || idxp_attr(c, "type", val, sizeof(val)) != 1)
			return idxp_fail(err, 501, "streamType option needs <streamType type='...'/>");
		if (strcmp(val, "alert") == 0)
			g->stream = IDXP_STREAM_ALERT;
		else if (strcmp(val, "heartbeat") == 0)
			g->stream = IDXP_STREAM_HEARTBEAT;
		else if (strcmp(val, "config") == 0)
			g->stream = IDXP_STREAM_CONFIG;
		else
			return idxp_fail(err, 501, "streamType is alert, heartbeat or config");
		return 0;
	}
	if (mu)
		return idxp_fail(err, 504, "'%s' option was unrecognized",
		    hi == 1 ? internal : external);
	g->ignored_options++;
	return 0;
}

int
idxp_greeting_parse(const uint8_t *buf, size_t len, struct idxp_greeting *g,
                    struct idxp_greeting_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr root, c;
	xmlURIPtr u;
	char role[16];
	int r, rc = -1;

	memset(g, 0, sizeof(*g));
	if (len > IDXP_GREETING_MAX)
		return idxp_fail(err, 500, "IDXP-Greeting over %d octets", IDXP_GREETING_MAX);
	if ((doc = idxp_read(buf, len, err)) == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (!idxp_name_is(root, "IDXP-Greeting")) {
		idxp_fail(err, 500, "expected <IDXP-Greeting>");
		goto out;
	}
	if (!idxp_only_elements(root)) {
		idxp_fail(err, 500, "text inside <IDXP-Greeting>");
		goto out;
	}
	if ((r = idxp_attr(root, "uri", g->uri, sizeof(g->uri))) != 1) {
		idxp_fail(err, 501, r == 0 ? "IDXP-Greeting needs 'uri'" : "'uri' too long");
		goto out;
	}
	if ((u = xmlParseURI(g->uri)) == NULL || u->scheme == NULL) {
		xmlFreeURI(u);
		idxp_fail(err, 501, "'uri' is not an absolute URI");
		goto out;
	}
	xmlFreeURI(u);
	if (idxp_attr(root, "role", role, sizeof(role)) != 1) {
		idxp_fail(err, 501, "IDXP-Greeting needs role='client' or 'server'");
		goto out;
	}
	if (strcmp(role, "client") == 0)
		g->role = IDXP_ROLE_CLIENT;
	else if (strcmp(role, "server") == 0)
		g->role = IDXP_ROLE_SERVER;
	else {
		idxp_fail(err, 501, "role is 'client' or 'server'");
		goto out;
	}
	if (idxp_attr(root, "fqdn", g->fqdn, sizeof(g->fqdn)) < 0) {
		idxp_fail(err, 501, "'fqdn' too long");
		goto out;
	}
	for (c = root->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!idxp_name_is(c, "Option")) {
			idxp_fail(err, 500, "unexpected <%s> in IDXP-Greeting", (const char *)c->name);
			goto out;
		}
		if (idxp_option(c, g, err) != 0)
			goto out;
	}
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}

/* Appends s escaped for a single-quoted attribute. */
static bool
idxp_put_attr(char *out, size_t size, size_t *n, const char *s)
{
	const char *rep;
	size_t l;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':  rep = "&amp;"; break;
		case '<':  rep = "&lt;"; break;
		case '>':  rep = "&gt;"; break;
		case '\'': rep = "&apos;"; break;
		case '"':  rep = "&quot;"; break;
		default:   rep = NULL; break;
		}
		if ((unsigned char)*s < 0x20)
			return false;
		l = rep != NULL ? strlen(rep) : 1;
		if (*n + l >= size)
			return false;
		memcpy(out + *n, rep != NULL ? rep : s, l);
		*n += l;
	}
	return true;
}

static bool
idxp_put(char *out, size_t size, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + l >= size)
		return false;
	memcpy(out + *n, s, l);
	*n += l;
	return true;
}

size_t
idxp_greeting_write(const struct idxp_greeting *g, char *out, size_t size)
{
	char num[16];
	size_t n = 0;
	bool ok;

	if (g->uri[0] == '\0' || size == 0)
		return 0;
	ok = idxp_put(out, size, &n, "<IDXP-Greeting uri='") &&
	    idxp_put_attr(out, size, &n, g->uri) &&
	    idxp_put(out, size, &n, g->role == IDXP_ROLE_CLIENT ? "' role='client'" :
	    "' role='server'");
	if (ok && g->fqdn[0] != '\0')
		ok = idxp_put(out, size, &n, " fqdn='") &&
		    idxp_put_attr(out, size, &n, g->fqdn) && idxp_put(out, size, &n, "'");
	if (!ok)
		return 0;
	if (!g->has_priority && g->stream == IDXP_STREAM_NONE && g->must_understand[0] == '\0')
		ok = idxp_put(out, size, &n, "/>");
	else {
		ok = idxp_put(out, size, &n, ">");
		if (ok && g->has_priority) {
			if (g->priority < 0)
				return 0;
			snprintf(num, sizeof(num), "%ld", (long)g->priority);
			ok = idxp_put(out, size, &n, "<Option internal='channelPriority'>"
			    "<channelPriority priority='") && idxp_put(out, size, &n, num) &&
			    idxp_put(out, size, &n, "'/></Option>");
		}
		if (ok && g->stream != IDXP_STREAM_NONE)
			ok = idxp_put(out, size, &n, "<Option internal='streamType'>"
			    "<streamType type='") &&
			    idxp_put(out, size, &n, idxp_stream_name(g->stream)) &&
			    idxp_put(out, size, &n, "'/></Option>");
		if (ok && g->must_understand[0] != '\0')
			ok = idxp_put(out, size, &n, "<Option internal='") &&
			    idxp_put_attr(out, size, &n, g->must_understand) &&
			    idxp_put(out, size, &n, "' mustUnderstand='true'/>");
		ok = ok && idxp_put(out, size, &n, "</IDXP-Greeting>");
	}
	if (!ok)
		return 0;
	out[n] = '\0';
	return n;
}

int
idxp_answer_parse(const uint8_t *buf, size_t len, unsigned *code, char *text,
                  size_t textlen)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	char c[8];
	xmlChar *t;
	int rc = -1;

	*code = 0;
	if (textlen > 0)
		text[0] = '\0';
	if ((doc = idxp_read(buf, len, NULL)) == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (idxp_name_is(root, "ok"))
		rc = 1;
	else if (idxp_name_is(root, "error") && idxp_attr(root, "code", c, sizeof(c)) == 1 &&
	    strlen(c) == 3 && c[0] >= '1' && c[0] <= '5' && c[1] >= '0' && c[1] <= '9' &&
	    c[2] >= '0' && c[2] <= '9') {
		*code = (unsigned)atoi(c);
		if (textlen > 0 && (t = xmlNodeGetContent(root)) != NULL) {
			snprintf(text, textlen, "%s", (const char *)t);
			xmlFree(t);
		}
		rc = 0;
	}
	xmlFreeDoc(doc);
	return rc;
}

int
idxp_idmef_check(const uint8_t *buf, size_t len, struct idxp_greeting_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	int rc = 0;

	if ((doc = idxp_read(buf, len, err)) == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	/* IDMEF (RFC 4765) elements are in a namespace or prefixed; the local
	 * name is what identifies the message */
	if (root->type != XML_ELEMENT_NODE ||
	    strcmp((const char *)root->name, "IDMEF-Message") != 0)
		rc = idxp_fail(err, 501, "a text/xml message must be an IDMEF-Message");
	xmlFreeDoc(doc);
	return rc;
}

bool
idxp_xml_root_is(const uint8_t *buf, size_t len, const char *name)
{
	xmlDocPtr doc = idxp_read(buf, len, NULL);
	bool yes;

	if (doc == NULL)
		return false;
	yes = idxp_name_is(xmlDocGetRootElement(doc), name);
	xmlFreeDoc(doc);
	return yes;
}

const char *
idxp_stream_name(enum idxp_stream s)
{
	switch (s) {
	case IDXP_STREAM_NONE:      return "-";
	case IDXP_STREAM_ALERT:     return "alert";
	case IDXP_STREAM_HEARTBEAT: return "heartbeat";
	case IDXP_STREAM_CONFIG:    return "config";
	}
	return "-";
}
