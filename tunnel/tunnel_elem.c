/* tunnel_elem: the <tunnel> element of RFC 3620, parsed with libxml2 into a
 * validated tree, written back in one canonical form.  See tunnel_elem.h for
 * the exact rules and reply codes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "policy/addr.h"
#include "tunnel/tunnel_elem.h"

/* Attribute bits, in canonical output order. */
enum {
	ATT_FQDN = 1 << 0,
	ATT_IP4 = 1 << 1,
	ATT_IP6 = 1 << 2,
	ATT_SRV = 1 << 3,
	ATT_PORT = 1 << 4,
	ATT_PROFILE = 1 << 5,
	ATT_ENDPOINT = 1 << 6,
};
#define ATT_COUNT 7
static const char *const att_names[ATT_COUNT] = {
	"fqdn", "ip4", "ip6", "srv", "port", "profile", "endpoint",
};

#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
                     XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA)

static void err_set(struct tunnel_elem_error *err, unsigned code, unsigned elem,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
err_set(struct tunnel_elem_error *err, unsigned code, unsigned elem, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (err == NULL)
		return;
	err->code = code;
	err->elem = elem;
	va_start(ap, fmt);
	(void)vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	i = strlen(err->text);
	while (i > 0 && (err->text[i - 1] == '\n' || err->text[i - 1] == ' '))
		err->text[--i] = '\0';      /* libxml2 messages end in "\n" */
	/* texts may quote the peer's input (libxml2 messages): keep them
	 * printable ASCII for logs and the <error> element */
	for (i = 0; err->text[i] != '\0'; i++)
		if ((unsigned char)err->text[i] < 0x20 || (unsigned char)err->text[i] > 0x7e)
			err->text[i] = '?';
}

static void
err_clear(struct tunnel_elem_error *err)
{
	if (err != NULL) {
		err->code = 0;
		err->elem = 0;
		err->text[0] = '\0';
	}
}

static int
nomem(struct tunnel_elem_error *err, unsigned elem)
{
	err_set(err, 421, elem, "out of memory");
	return -1;
}

/* ---- attribute values ---- */

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_ldh(int c)
{
	return is_alpha(c) || is_digit(c) || c == '-';
}

static bool
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
port_parse(const char *s, uint16_t *out, struct tunnel_elem_error *err, unsigned elem)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!is_digit(s[i]) || i >= 5)
			break;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || s[0] == '0' || v > 65535) {
		err_set(err, 501, elem, "attribute 'port' must be 1-65535");
		return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

static char *
lower_dup(const char *s)
{
	size_t n = strlen(s), i;
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (i = 0; i <= n; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	return d;
}

/* A DNS host name; *out the lower-case copy. */
static int
fqdn_canon(const char *s, char **out, struct tunnel_elem_error *err, unsigned elem)
{
	size_t n = strlen(s), i, start, lab;
	bool digits = true;
	char tmp[TUNNEL_ELEM_FQDN_MAX + 1];
	struct addr a;

	if (n > 0 && s[n - 1] == '.')
		n--;                         /* the optional root dot */
	if (n == 0) {
		err_set(err, 501, elem, "attribute 'fqdn' is empty");
		return -1;
	}
	if (n > TUNNEL_ELEM_FQDN_MAX) {
		err_set(err, 501, elem, "attribute 'fqdn' longer than %d octets",
		    TUNNEL_ELEM_FQDN_MAX);
		return -1;
	}
	for (start = 0; start <= n; start = i + 1) {
		digits = true;
		for (i = start; i < n && s[i] != '.'; i++) {
			if (!is_ldh(s[i])) {
				err_set(err, 501, elem,
				    "attribute 'fqdn': character not allowed in a host name");
				return -1;
			}
			if (!is_digit(s[i]))
				digits = false;
		}
		lab = i - start;
		if (lab == 0) {
			err_set(err, 501, elem, "attribute 'fqdn': empty label");
			return -1;
		}
		if (lab > TUNNEL_ELEM_LABEL_MAX) {
			err_set(err, 501, elem, "attribute 'fqdn': label longer than %d octets",
			    TUNNEL_ELEM_LABEL_MAX);
			return -1;
		}
		if (s[start] == '-' || s[i - 1] == '-') {
			err_set(err, 501, elem,
			    "attribute 'fqdn': label begins or ends with '-'");
			return -1;
		}
	}
	/* digits now describes the last label; a resolver would take an
	 * all-numeric name, or an inet_aton(3) spelling, for an address */
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (digits || addr_parse_loose(tmp, &a)) {
		err_set(err, 501, elem, "attribute 'fqdn' is a numeric address (use 'ip4')");
		return -1;
	}
	if ((*out = lower_dup(s)) == NULL)
		return nomem(err, elem);
	return 0;
}

/* One SRV label after its underscore: 1-63 letter/digit/hyphen, no hyphen
 * at either end.  Returns its length, or 0. */
static size_t
srv_label(const char *s)
{
	size_t i;

	for (i = 0; is_ldh(s[i]); i++)
		;
	if (i == 0 || i > TUNNEL_ELEM_LABEL_MAX || s[0] == '-' || s[i - 1] == '-')
		return 0;
	return i;
}

static int
srv_canon(const char *s, char **out, struct tunnel_elem_error *err, unsigned elem)
{
	size_t a, b;

	if (s[0] != '_' || (a = srv_label(s + 1)) == 0 || s[1 + a] != '.' ||
	    s[2 + a] != '_' || (b = srv_label(s + 3 + a)) == 0 || s[3 + a + b] != '\0') {
		err_set(err, 501, elem,
		    "attribute 'srv' must be '_service._proto' (e.g. '_beep._tcp')");
		return -1;
	}
	if (b != 3 || strncasecmp(s + 3 + a, "tcp", 3) != 0) {
		err_set(err, 504, elem,
		    "attribute 'srv': only the '_tcp' protocol is implemented");
		return -1;
	}
	if ((*out = lower_dup(s)) == NULL)
		return nomem(err, elem);
	return 0;
}

/* ip4 (want == 4) or ip6 (want == 6) text; *family says what it is after
 * canonicalisation (a mapped IPv6 address is IPv4). */
static int
ip_canon(const char *s, int want, char **out, int *family, struct tunnel_elem_error *err,
         unsigned elem)
{
	struct addr a;
	char buf[64];

	if (want == 4 && !addr_parse_ip4(s, &a)) {
		err_set(err, 501, elem, "attribute 'ip4' must be a dotted quad (a.b.c.d)");
		return -1;
	}
	if (want == 6 && !addr_parse_ip6(s, &a)) {
		err_set(err, 501, elem, "attribute 'ip6' is not an IPv6 address");
		return -1;
	}
	*family = a.family;
	addr_str(&a, buf, sizeof(buf));
	if ((*out = strdup(buf)) == NULL)
		return nomem(err, elem);
	return 0;
}

/* RFC 3986 characters other than '%' (unreserved, gen-delims, sub-delims) */
static bool
is_uri_char(int c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=", c) != NULL);
}

static int
uri_check(const char *s, struct tunnel_elem_error *err, unsigned elem)
{
	size_t n = strlen(s), i;

	if (n == 0) {
		err_set(err, 501, elem, "attribute 'profile' is empty");
		return -1;
	}
	if (n > TUNNEL_ELEM_URI_MAX) {
		err_set(err, 501, elem, "attribute 'profile' longer than %d octets",
		    TUNNEL_ELEM_URI_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
				err_set(err, 501, elem, "attribute 'profile': bad %%-escape");
				return -1;
			}
		} else if (!is_uri_char(s[i])) {
			err_set(err, 501, elem,
			    "attribute 'profile': character not allowed in a URI");
			return -1;
		}
	}
	/* scheme ":" and something after it */
	for (i = 0; i < n && (is_alpha(s[i]) || (i > 0 && (is_digit(s[i]) ||
	    s[i] == '+' || s[i] == '-' || s[i] == '.'))); i++)
		;
	if (i == 0 || s[i] != ':' || i + 1 == n) {
		err_set(err, 501, elem, "attribute 'profile' must be a URI with a scheme");
		return -1;
	}
	return 0;
}

static int
endpoint_check(const char *s, struct tunnel_elem_error *err, unsigned elem)
{
	size_t n = strlen(s), i;

	if (n == 0) {
		err_set(err, 501, elem, "attribute 'endpoint' is empty");
		return -1;
	}
	if (n > TUNNEL_ELEM_ENDPOINT_MAX) {
		err_set(err, 501, elem, "attribute 'endpoint' longer than %d octets",
		    TUNNEL_ELEM_ENDPOINT_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
			err_set(err, 501, elem,
			    "attribute 'endpoint': only printable ASCII is allowed");
			return -1;
		}
	}
	if (s[0] == ' ' || s[n - 1] == ' ') {
		err_set(err, 501, elem, "attribute 'endpoint': leading or trailing space");
		return -1;
	}
	return 0;
}

static int
str_dup_check(const char *s, char **out, int (*check)(const char *, struct tunnel_elem_error *,
              unsigned), struct tunnel_elem_error *err, unsigned elem)
{
	if (check(s, err, elem) != 0)
		return -1;
	if ((*out = strdup(s)) == NULL)
		return nomem(err, elem);
	return 0;
}

/* ---- element construction (shared by the parser and the builders) ---- */

static void
elem_free_one(struct tunnel_elem *e)
{
	free(e->fqdn);
	free(e->srv);
	free(e->ip4);
	free(e->ip6);
	free(e->profile);
	free(e->endpoint);
	free(e);
}

void
tunnel_elem_free(struct tunnel_elem *e)
{
	struct tunnel_elem *next;

	for (; e != NULL; e = next) {
		next = e->inner;
		elem_free_one(e);
	}
}

/* Which kind an attribute set makes, or -1 with the reason. */
static int
kind_of(unsigned m, struct tunnel_elem_error *err, unsigned elem)
{
	unsigned addrs = m & (ATT_FQDN | ATT_IP4 | ATT_IP6);

	if (m & ATT_PROFILE) {
		if (m != ATT_PROFILE) {
			err_set(err, 501, elem,
			    "'profile' cannot be combined with other attributes");
			return -1;
		}
		return TUN_PROFILE;
	}
	if (m & ATT_ENDPOINT) {
		if (m != ATT_ENDPOINT) {
			err_set(err, 501, elem,
			    "'endpoint' cannot be combined with other attributes");
			return -1;
		}
		return TUN_ENDPOINT;
	}
	if (m == 0)
		return TUN_EMPTY;
	if (addrs != ATT_FQDN && addrs != ATT_IP4 && addrs != ATT_IP6) {
		if (addrs != 0)
			err_set(err, 501, elem,
			    "only one of 'fqdn', 'ip4' and 'ip6' is allowed");
		else if (m & ATT_SRV)
			err_set(err, 501, elem, "'srv' needs 'fqdn'");
		else
			err_set(err, 501, elem, "'port' needs 'fqdn', 'ip4' or 'ip6'");
		return -1;
	}
	if (addrs == ATT_FQDN) {
		if (m & ATT_SRV)
			return TUN_FQDN_SRV;
		if (m & ATT_PORT)
			return TUN_FQDN_PORT;
		err_set(err, 501, elem, "'fqdn' needs 'port' or 'srv'");
		return -1;
	}
	if (m & ATT_SRV) {
		err_set(err, 501, elem, "'srv' is only allowed with 'fqdn'");
		return -1;
	}
	if (!(m & ATT_PORT)) {
		err_set(err, 501, elem, "'%s' needs 'port'", addrs == ATT_IP4 ? "ip4" : "ip6");
		return -1;
	}
	return addrs == ATT_IP4 ? TUN_IP4 : TUN_IP6;
}

/* Builds one element from attribute values (vals[i] for bit i, NULL when
 * absent).  Returns NULL with err set. */
static struct tunnel_elem *
elem_from_values(const char *const vals[ATT_COUNT], struct tunnel_elem_error *err,
                 unsigned elem)
{
	struct tunnel_elem *e;
	unsigned m = 0, i;
	int kind, fam;

	for (i = 0; i < ATT_COUNT; i++)
		if (vals[i] != NULL)
			m |= 1u << i;
	if ((kind = kind_of(m, err, elem)) < 0)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		(void)nomem(err, elem);
		return NULL;
	}
	e->kind = (enum tunnel_kind)kind;
	e->depth = 1;
	if (vals[0] != NULL && fqdn_canon(vals[0], &e->fqdn, err, elem) != 0)
		goto fail;
	if (vals[1] != NULL && ip_canon(vals[1], 4, &e->ip4, &fam, err, elem) != 0)
		goto fail;
	if (vals[2] != NULL) {
		if (ip_canon(vals[2], 6, &e->ip6, &fam, err, elem) != 0)
			goto fail;
		if (fam == AF_INET) {        /* ::ffff:a.b.c.d is a.b.c.d */
			e->ip4 = e->ip6;
			e->ip6 = NULL;
			e->kind = TUN_IP4;
		}
	}
	if (vals[3] != NULL && srv_canon(vals[3], &e->srv, err, elem) != 0)
		goto fail;
	if (vals[4] != NULL) {
		if (port_parse(vals[4], &e->port, err, elem) != 0)
			goto fail;
		e->has_port = true;
	}
	if (vals[5] != NULL && str_dup_check(vals[5], &e->profile, uri_check, err, elem) != 0)
		goto fail;
	if (vals[6] != NULL &&
	    str_dup_check(vals[6], &e->endpoint, endpoint_check, err, elem) != 0)
		goto fail;
	return e;
fail:
	elem_free_one(e);
	return NULL;
}

/* An element with a child must be an address element. */
static int
check_nesting(enum tunnel_kind kind, bool has_inner, struct tunnel_elem_error *err,
              unsigned elem)
{
	if (!has_inner)
		return 0;
	switch (kind) {
	case TUN_FQDN_PORT:
	case TUN_FQDN_SRV:
	case TUN_IP4:
	case TUN_IP6:
		return 0;
	case TUN_PROFILE:
		err_set(err, 501, elem, "'profile' only allowed on the innermost element");
		return -1;
	case TUN_ENDPOINT:
		err_set(err, 501, elem, "'endpoint' only allowed on the innermost element");
		return -1;
	case TUN_EMPTY:
		err_set(err, 501, elem,
		    "an element without attributes must be the innermost");
		return -1;
	}
	err_set(err, 501, elem, "unknown element kind");
	return -1;
}

static unsigned
depth_limit(unsigned max_depth)
{
	if (max_depth == 0)
		return TUNNEL_ELEM_DEPTH_DEFAULT;
	if (max_depth > TUNNEL_ELEM_DEPTH_CEILING)
		return TUNNEL_ELEM_DEPTH_CEILING;
	return max_depth;
}

/* ---- the parser ---- */

struct parse_state {
	bool doctype;
	int  line;               /* of the first fatal error */
	char first[120];         /* its message; "" when none */
};

/* Structured error hook (printing is off with NOERROR): keeps the first
 * fatal error, which says more than the last ("Extra content..."). */
static void
on_error(void *ctx, xmlErrorPtr xe)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *ps = ctxt->_private;

	if (xe == NULL || xe->level != XML_ERR_FATAL || ps->first[0] != '\0' ||
	    xe->message == NULL)
		return;
	ps->line = xe->line;
	(void)snprintf(ps->first, sizeof(ps->first), "%s", xe->message);
}

/* SAX hook: a DOCTYPE stops the parser before libxml2 reads any
 * declaration in it (no entity is ever defined, let alone expanded). */
static void
on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *ps = ctxt->_private;

	(void)name;
	(void)ext;
	(void)sys;
	ps->doctype = true;
	xmlStopParser(ctxt);
}

static bool
is_tunnel_node(const xmlNode *n)
{
	return n->type == XML_ELEMENT_NODE && n->ns == NULL &&
	    strcmp((const char *)n->name, "tunnel") == 0;
}

static bool
is_blank(const xmlChar *s)
{
	if (s == NULL)
		return true;
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* The attributes of one element into a new tunnel_elem. */
static struct tunnel_elem *
elem_from_node(xmlNode *node, struct tunnel_elem_error *err, unsigned elem)
{
	xmlChar *vals[ATT_COUNT] = { NULL };
	struct tunnel_elem *e = NULL;
	xmlAttr *a;
	unsigned i;

	if (node->nsDef != NULL) {
		err_set(err, 501, elem, "namespace declarations not allowed");
		return NULL;
	}
	for (a = node->properties; a != NULL; a = a->next) {
		for (i = 0; i < ATT_COUNT; i++)
			if (strcmp((const char *)a->name, att_names[i]) == 0)
				break;
		if (a->ns != NULL || i == ATT_COUNT) {
			err_set(err, 501, elem, "unknown attribute '%s%s%.40s'",
			    a->ns != NULL && a->ns->prefix != NULL ? (const char *)a->ns->prefix : "",
			    a->ns != NULL && a->ns->prefix != NULL ? ":" : "",
			    (const char *)a->name);
			goto out;
		}
		if (vals[i] != NULL) {          /* libxml2 refuses this already */
			err_set(err, 501, elem, "attribute '%s' given twice", att_names[i]);
			goto out;
		}
		if ((vals[i] = xmlNodeGetContent((xmlNode *)a)) == NULL) {
			(void)nomem(err, elem);
			goto out;
		}
	}
	e = elem_from_values((const char *const *)vals, err, elem);
out:
	for (i = 0; i < ATT_COUNT; i++)
		xmlFree(vals[i]);
	return e;
}

/* The one nested element of node, or NULL; -1 on bad content. */
static int
child_of(xmlNode *node, xmlNode **child, struct tunnel_elem_error *err, unsigned elem)
{
	xmlNode *c;

	*child = NULL;
	for (c = node->children; c != NULL; c = c->next) {
		switch (c->type) {
		case XML_ELEMENT_NODE:
			if (*child != NULL) {
				err_set(err, 501, elem, "at most one nested element is allowed");
				return -1;
			}
			if (!is_tunnel_node(c)) {
				err_set(err, 501, elem, "nested element must be <tunnel>");
				return -1;
			}
			*child = c;
			break;
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			if (!is_blank(c->content)) {
				err_set(err, 501, elem, "text content not allowed in <tunnel>");
				return -1;
			}
			break;
		case XML_COMMENT_NODE:
			break;
		case XML_PI_NODE:
			err_set(err, 500, elem, "processing instructions not allowed");
			return -1;
		case XML_ENTITY_REF_NODE:
			err_set(err, 501, elem, "entity references not allowed");
			return -1;
		default:
			err_set(err, 501, elem, "unexpected content in <tunnel>");
			return -1;
		}
	}
	return 0;
}

static int
tree_from_doc(xmlDoc *doc, unsigned max_depth, struct tunnel_elem **out,
              struct tunnel_elem_error *err)
{
	struct tunnel_elem *root = NULL, **link = &root, *e, *p;
	xmlNode *node, *child, *n;
	unsigned idx, total;

	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		err_set(err, 500, 0, "DOCTYPE not allowed");
		return -1;
	}
	for (n = doc->children; n != NULL; n = n->next) {
		if (n->type == XML_PI_NODE) {
			err_set(err, 500, 0, "processing instructions not allowed");
			return -1;
		}
	}
	if ((node = xmlDocGetRootElement(doc)) == NULL) {
		err_set(err, 500, 0, "no root element");
		return -1;
	}
	if (node->type != XML_ELEMENT_NODE || strcmp((const char *)node->name, "tunnel") != 0) {
		err_set(err, 501, 1, "root element must be <tunnel>");
		return -1;
	}
	if (node->ns != NULL) {
		err_set(err, 501, 1, "namespaces not allowed on <tunnel>");
		return -1;
	}
	for (idx = 1; node != NULL; idx++, node = child) {
		if (idx > max_depth) {
			err_set(err, 501, idx, "nesting deeper than %u", max_depth);
			goto fail;
		}
		if ((e = elem_from_node(node, err, idx)) == NULL)
			goto fail;
		*link = e;
		link = &e->inner;
		if (child_of(node, &child, err, idx) != 0)
			goto fail;
		if (check_nesting(e->kind, child != NULL, err, idx) != 0)
			goto fail;
	}
	total = idx - 1;
	for (p = root, idx = 0; p != NULL; p = p->inner, idx++)
		p->depth = total - idx;
	*out = root;
	return 0;
fail:
	tunnel_elem_free(root);
	return -1;
}

int
tunnel_elem_parse(const uint8_t *xml, size_t len, unsigned max_depth,
                  struct tunnel_elem **out, struct tunnel_elem_error *err)
{
	struct parse_state ps = { false, 0, "" };
	xmlParserCtxtPtr ctxt;
	xmlDoc *doc;
	int rc;

	*out = NULL;
	err_clear(err);
	max_depth = depth_limit(max_depth);
	if (xml == NULL || len == 0) {
		err_set(err, 500, 0, "empty document");
		return -1;
	}
	if (len > TUNNEL_ELEM_DOC_MAX) {
		err_set(err, 500, 0, "tunnel element larger than %d octets",
		    TUNNEL_ELEM_DOC_MAX);
		return -1;
	}
	xmlInitParser();
	/* A fresh context per document: options never leak between parses. */
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return nomem(err, 0);
	ctxt->_private = &ps;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->serror = on_error;
	doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)len, NULL, "UTF-8",
	    XML_OPTIONS);
	if (ps.doctype) {
		err_set(err, 500, 0, "DOCTYPE not allowed");
		rc = -1;
	} else if (doc == NULL || !ctxt->wellFormed) {
		const xmlError *xe = &ctxt->lastError;

		if (xe->code == XML_ERR_NO_MEMORY)
			(void)nomem(err, 0);
		else if (ps.first[0] != '\0')
			err_set(err, 500, 0, "not well-formed XML (line %d): %s", ps.line,
			    ps.first);
		else if (xe->message != NULL)
			err_set(err, 500, 0, "not well-formed XML (line %d): %.100s",
			    xe->line, xe->message);
		else
			err_set(err, 500, 0, "not well-formed XML");
		rc = -1;
	} else if (!ctxt->nsWellFormed) {
		err_set(err, 501, 0, "namespace error");
		rc = -1;
	} else {
		rc = tree_from_doc(doc, max_depth, out, err);
	}
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}

/* ---- validation of a tree built by hand ---- */

static int
canon_same(const char *have, int (*canon)(const char *, char **, struct tunnel_elem_error *,
           unsigned), const char *name, struct tunnel_elem_error *err, unsigned elem)
{
	char *c = NULL;
	int rc;

	if (have == NULL) {
		err_set(err, 501, elem, "attribute '%s' missing", name);
		return -1;
	}
	if (canon(have, &c, err, elem) != 0)
		return -1;
	rc = strcmp(c, have) == 0 ? 0 : -1;
	free(c);
	if (rc != 0)
		err_set(err, 501, elem, "attribute '%s' not in canonical form", name);
	return rc;
}

static int
ip_canon4(const char *s, char **out, struct tunnel_elem_error *err, unsigned elem)
{
	int fam;

	return ip_canon(s, 4, out, &fam, err, elem);
}

static int
ip_canon6(const char *s, char **out, struct tunnel_elem_error *err, unsigned elem)
{
	int fam;

	if (ip_canon(s, 6, out, &fam, err, elem) != 0)
		return -1;
	if (fam != AF_INET6) {
		free(*out);
		*out = NULL;
		err_set(err, 501, elem, "attribute 'ip6' holds an IPv4 address");
		return -1;
	}
	return 0;
}

/* Fields that a kind does not use must be empty. */
static int
check_fields(const struct tunnel_elem *e, unsigned want, bool port,
             struct tunnel_elem_error *err, unsigned elem)
{
	const char *v[ATT_COUNT] = { e->fqdn, e->ip4, e->ip6, e->srv, NULL, e->profile,
	    e->endpoint };
	unsigned i;

	for (i = 0; i < ATT_COUNT; i++) {
		if (v[i] != NULL && !(want & (1u << i))) {
			err_set(err, 501, elem, "attribute '%s' not allowed on a %s element",
			    att_names[i], tunnel_elem_kind_name(e->kind));
			return -1;
		}
	}
	if (port && (!e->has_port || e->port == 0)) {
		err_set(err, 501, elem, "attribute 'port' must be 1-65535");
		return -1;
	}
	if (!port && e->has_port && e->kind != TUN_FQDN_SRV) {
		err_set(err, 501, elem, "attribute 'port' not allowed on a %s element",
		    tunnel_elem_kind_name(e->kind));
		return -1;
	}
	return 0;
}

static int
check_one(const struct tunnel_elem *e, struct tunnel_elem_error *err, unsigned elem)
{
	switch (e->kind) {
	case TUN_FQDN_PORT:
		if (check_fields(e, ATT_FQDN, true, err, elem) != 0)
			return -1;
		return canon_same(e->fqdn, fqdn_canon, "fqdn", err, elem);
	case TUN_FQDN_SRV:
		if (check_fields(e, ATT_FQDN | ATT_SRV, e->has_port, err, elem) != 0 ||
		    canon_same(e->fqdn, fqdn_canon, "fqdn", err, elem) != 0)
			return -1;
		return canon_same(e->srv, srv_canon, "srv", err, elem);
	case TUN_IP4:
		if (check_fields(e, ATT_IP4, true, err, elem) != 0)
			return -1;
		return canon_same(e->ip4, ip_canon4, "ip4", err, elem);
	case TUN_IP6:
		if (check_fields(e, ATT_IP6, true, err, elem) != 0)
			return -1;
		return canon_same(e->ip6, ip_canon6, "ip6", err, elem);
	case TUN_PROFILE:
		if (check_fields(e, ATT_PROFILE, false, err, elem) != 0)
			return -1;
		if (e->profile == NULL) {
			err_set(err, 501, elem, "attribute 'profile' missing");
			return -1;
		}
		return uri_check(e->profile, err, elem);
	case TUN_ENDPOINT:
		if (check_fields(e, ATT_ENDPOINT, false, err, elem) != 0)
			return -1;
		if (e->endpoint == NULL) {
			err_set(err, 501, elem, "attribute 'endpoint' missing");
			return -1;
		}
		return endpoint_check(e->endpoint, err, elem);
	case TUN_EMPTY:
		return check_fields(e, 0, false, err, elem);
	}
	err_set(err, 501, elem, "unknown element kind");
	return -1;
}

int
tunnel_elem_validate(const struct tunnel_elem *e, unsigned max_depth,
                     struct tunnel_elem_error *err)
{
	const struct tunnel_elem *p;
	unsigned idx, n = 0;

	err_clear(err);
	max_depth = depth_limit(max_depth);
	if (e == NULL) {
		err_set(err, 501, 0, "no element");
		return -1;
	}
	for (p = e; p != NULL; p = p->inner) {
		if (++n > max_depth) {
			err_set(err, 501, n, "nesting deeper than %u", max_depth);
			return -1;
		}
	}
	for (p = e, idx = 1; p != NULL; p = p->inner, idx++) {
		if (check_one(p, err, idx) != 0 || check_nesting(p->kind, p->inner != NULL, err, idx) != 0)
			return -1;
		if (p->depth != n - idx + 1) {
			err_set(err, 501, idx, "depth %u does not match the nesting", p->depth);
			return -1;
		}
	}
	return 0;
}

/* ---- output ---- */

struct sink {
	char  *buf;
	size_t len;              /* capacity of buf (0 when only counting) */
	size_t pos;              /* octets produced, even past len */
};

static void
sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->pos < s->len) {
		size_t room = s->len - s->pos;

		memcpy(s->buf + s->pos, p, n < room ? n : room);
	}
	s->pos += n;
}

static void
sink_str(struct sink *s, const char *p)
{
	sink_put(s, p, strlen(p));
}

static void
sink_xml_value(struct sink *s, const char *v)
{
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '&': sink_str(s, "&amp;"); break;
		case '<': sink_str(s, "&lt;"); break;
		case '>': sink_str(s, "&gt;"); break;
		case '\'': sink_str(s, "&apos;"); break;
		case '"': sink_str(s, "&quot;"); break;
		default: sink_put(s, v, 1); break;
		}
	}
}

static void
sink_attr(struct sink *s, const char *name, const char *v)
{
	if (v == NULL)
		return;
	sink_str(s, " ");
	sink_str(s, name);
	sink_str(s, "='");
	sink_xml_value(s, v);
	sink_str(s, "'");
}

static void
sink_xml(struct sink *s, const struct tunnel_elem *e)
{
	const struct tunnel_elem *p;
	char port[8];
	unsigned n = 0;

	for (p = e; p != NULL; p = p->inner, n++) {
		sink_str(s, "<tunnel");
		sink_attr(s, "fqdn", p->fqdn);
		sink_attr(s, "ip4", p->ip4);
		sink_attr(s, "ip6", p->ip6);
		sink_attr(s, "srv", p->srv);
		if (p->has_port) {
			(void)snprintf(port, sizeof(port), "%u", (unsigned)p->port);
			sink_attr(s, "port", port);
		}
		sink_attr(s, "profile", p->profile);
		sink_attr(s, "endpoint", p->endpoint);
		sink_str(s, p->inner != NULL ? ">" : "/>");
	}
	for (; n > 1; n--)
		sink_str(s, "</tunnel>");
}

size_t
tunnel_elem_write_len(const struct tunnel_elem *e)
{
	struct sink s = { NULL, 0, 0 };

	if (tunnel_elem_validate(e, TUNNEL_ELEM_DEPTH_CEILING, NULL) != 0)
		return 0;
	sink_xml(&s, e);
	return s.pos;
}

size_t
tunnel_elem_write(const struct tunnel_elem *e, char *buf, size_t len)
{
	struct sink s = { buf, len, 0 };

	if (buf == NULL || len == 0)
		return 0;
	if (tunnel_elem_validate(e, TUNNEL_ELEM_DEPTH_CEILING, NULL) != 0) {
		buf[0] = '\0';
		return 0;
	}
	sink_xml(&s, e);
	if (s.pos >= len) {
		buf[0] = '\0';
		return 0;
	}
	buf[s.pos] = '\0';
	return s.pos;
}

static void
sink_log_value(struct sink *s, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', 0, 0 };
	unsigned char c;

	if (v == NULL) {
		sink_str(s, "?");
		return;
	}
	for (; *v != '\0'; v++) {
		c = (unsigned char)*v;
		if (c < 0x21 || c > 0x7e || strchr("\\>,\"'=", c) != NULL) {
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			sink_put(s, esc, 4);
		} else {
			sink_put(s, v, 1);
		}
	}
}

static void
sink_port(struct sink *s, const char *prefix, const struct tunnel_elem *e)
{
	char port[8];

	if (!e->has_port)
		return;
	(void)snprintf(port, sizeof(port), "%u", (unsigned)e->port);
	sink_str(s, prefix);
	sink_str(s, port);
}

const char *
tunnel_elem_describe(const struct tunnel_elem *e, char *buf, size_t len)
{
	struct sink s = { buf, len, 0 };
	const struct tunnel_elem *p;
	unsigned n = 0;

	if (buf == NULL || len == 0)
		return buf;
	if (e == NULL)
		sink_str(&s, "(none)");
	for (p = e; p != NULL && n <= TUNNEL_ELEM_DEPTH_CEILING; p = p->inner, n++) {
		if (p != e)
			sink_str(&s, ">");
		switch (p->kind) {
		case TUN_FQDN_PORT:
			sink_str(&s, "fqdn=");
			sink_log_value(&s, p->fqdn);
			sink_port(&s, ":", p);
			break;
		case TUN_FQDN_SRV:
			sink_str(&s, "fqdn=");
			sink_log_value(&s, p->fqdn);
			sink_str(&s, ",srv=");
			sink_log_value(&s, p->srv);
			sink_port(&s, ",port=", p);
			break;
		case TUN_IP4:
			sink_str(&s, "ip4=");
			sink_log_value(&s, p->ip4);
			sink_port(&s, ":", p);
			break;
		case TUN_IP6:
			sink_str(&s, "ip6=[");
			sink_log_value(&s, p->ip6);
			sink_str(&s, "]");
			sink_port(&s, ":", p);
			break;
		case TUN_PROFILE:
			sink_str(&s, "profile=");
			sink_log_value(&s, p->profile);
			break;
		case TUN_ENDPOINT:
			sink_str(&s, "endpoint=");
			sink_log_value(&s, p->endpoint);
			break;
		case TUN_EMPTY:
			sink_str(&s, "empty");
			break;
		}
	}
	if (p != NULL)
		sink_str(&s, ">...");
	if (s.pos < len) {
		buf[s.pos] = '\0';
	} else {
		buf[len - 1] = '\0';
		if (len >= 4)
			memcpy(buf + len - 4, "...", 3);
	}
	return buf;
}

/* ---- builders and helpers ---- */

static struct tunnel_elem *
build(const char *const vals[ATT_COUNT], struct tunnel_elem *inner,
      struct tunnel_elem_error *err)
{
	struct tunnel_elem *e;

	err_clear(err);
	if ((e = elem_from_values(vals, err, 0)) == NULL)
		return NULL;
	if (inner != NULL) {
		e->inner = inner;
		if (check_nesting(e->kind, true, err, 0) != 0 ||
		    inner->depth + 1 > TUNNEL_ELEM_DEPTH_CEILING) {
			if (err != NULL && err->code == 0)
				err_set(err, 501, 0, "nesting deeper than %u",
				    TUNNEL_ELEM_DEPTH_CEILING);
			e->inner = NULL;
			elem_free_one(e);
			return NULL;
		}
		e->depth = inner->depth + 1;
	}
	return e;
}

struct tunnel_elem *
tunnel_elem_new_empty(struct tunnel_elem_error *err)
{
	const char *vals[ATT_COUNT] = { NULL };

	return build(vals, NULL, err);
}

struct tunnel_elem *
tunnel_elem_new_fqdn(const char *fqdn, const char *srv, uint16_t port,
                     struct tunnel_elem *inner, struct tunnel_elem_error *err)
{
	const char *vals[ATT_COUNT] = { NULL };
	char pbuf[8];

	if (fqdn == NULL) {
		err_set(err, 501, 0, "attribute 'fqdn' missing");
		return NULL;
	}
	vals[0] = fqdn;
	vals[3] = srv;
	if (port != 0) {
		(void)snprintf(pbuf, sizeof(pbuf), "%u", (unsigned)port);
		vals[4] = pbuf;
	}
	return build(vals, inner, err);
}

struct tunnel_elem *
tunnel_elem_new_ip(const char *ip, uint16_t port, struct tunnel_elem *inner,
                   struct tunnel_elem_error *err)
{
	const char *vals[ATT_COUNT] = { NULL };
	char pbuf[8];

	if (ip == NULL) {
		err_set(err, 501, 0, "attribute 'ip4' missing");
		return NULL;
	}
	vals[strchr(ip, ':') != NULL ? 2 : 1] = ip;
	(void)snprintf(pbuf, sizeof(pbuf), "%u", (unsigned)port);
	vals[4] = pbuf;           /* "0" gives the port error */
	return build(vals, inner, err);
}

struct tunnel_elem *
tunnel_elem_new_profile(const char *uri, struct tunnel_elem_error *err)
{
	const char *vals[ATT_COUNT] = { NULL };

	if (uri == NULL) {
		err_set(err, 501, 0, "attribute 'profile' missing");
		return NULL;
	}
	vals[5] = uri;
	return build(vals, NULL, err);
}

struct tunnel_elem *
tunnel_elem_new_endpoint(const char *name, struct tunnel_elem_error *err)
{
	const char *vals[ATT_COUNT] = { NULL };

	if (name == NULL) {
		err_set(err, 501, 0, "attribute 'endpoint' missing");
		return NULL;
	}
	vals[6] = name;
	return build(vals, NULL, err);
}

static int
dup_str(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = strdup(s)) == NULL ? -1 : 0;
}

struct tunnel_elem *
tunnel_elem_dup(const struct tunnel_elem *e)
{
	struct tunnel_elem *root = NULL, **link = &root, *c;

	for (; e != NULL; e = e->inner) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			goto fail;
		*link = c;
		link = &c->inner;
		c->kind = e->kind;
		c->port = e->port;
		c->has_port = e->has_port;
		c->depth = e->depth;
		if (dup_str(e->fqdn, &c->fqdn) != 0 || dup_str(e->srv, &c->srv) != 0 ||
		    dup_str(e->ip4, &c->ip4) != 0 || dup_str(e->ip6, &c->ip6) != 0 ||
		    dup_str(e->profile, &c->profile) != 0 ||
		    dup_str(e->endpoint, &c->endpoint) != 0)
			goto fail;
	}
	return root;
fail:
	tunnel_elem_free(root);
	return NULL;
}

struct tunnel_elem *
tunnel_elem_take_inner(struct tunnel_elem *e)
{
	struct tunnel_elem *in;

	if (e == NULL)
		return NULL;
	in = e->inner;
	e->inner = NULL;
	e->depth = 1;
	return in;
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool
tunnel_elem_equal(const struct tunnel_elem *a, const struct tunnel_elem *b)
{
	for (; a != NULL && b != NULL; a = a->inner, b = b->inner) {
		if (a->kind != b->kind || a->has_port != b->has_port ||
		    (a->has_port && a->port != b->port) || a->depth != b->depth ||
		    !str_eq(a->fqdn, b->fqdn) || !str_eq(a->srv, b->srv) ||
		    !str_eq(a->ip4, b->ip4) || !str_eq(a->ip6, b->ip6) ||
		    !str_eq(a->profile, b->profile) || !str_eq(a->endpoint, b->endpoint))
			return false;
	}
	return a == NULL && b == NULL;
}

const struct tunnel_elem *
tunnel_elem_innermost(const struct tunnel_elem *e)
{
	if (e == NULL)
		return NULL;
	while (e->inner != NULL)
		e = e->inner;
	return e;
}

bool
tunnel_elem_is_address(const struct tunnel_elem *e)
{
	if (e == NULL)
		return false;
	switch (e->kind) {
	case TUN_FQDN_PORT:
	case TUN_FQDN_SRV:
	case TUN_IP4:
	case TUN_IP6:
		return true;
	case TUN_PROFILE:
	case TUN_ENDPOINT:
	case TUN_EMPTY:
		return false;
	}
	return false;
}

const char *
tunnel_elem_kind_name(enum tunnel_kind k)
{
	switch (k) {
	case TUN_FQDN_PORT: return "fqdn+port";
	case TUN_FQDN_SRV:  return "fqdn+srv";
	case TUN_IP4:       return "ip4";
	case TUN_IP6:       return "ip6";
	case TUN_PROFILE:   return "profile";
	case TUN_ENDPOINT:  return "endpoint";
	case TUN_EMPTY:     return "empty";
	}
	return "unknown";
}
