/* tunnel_elem: the TUNNEL profile's <tunnel> element (RFC 3620 sec. 3-4) as
 * a validated tree, a parser over the XML bytes, a canonical serializer and
 * builders.  Pure code: libxml2 parses, nothing is resolved or connected.
 *
 * The input is the XML only (the piggybacked content of <start>, or the
 * first MSG on a TUNNEL channel with its MIME headers already stripped).
 *
 * What is accepted (RFC 3620 sec. 3 DTD, <!ELEMENT tunnel (tunnel?)>, and
 * the attribute rules after it):
 *   - exactly one root element <tunnel>, no namespace, no namespace
 *     declarations, no DOCTYPE, no processing instructions; comments are
 *     ignored; an XML declaration is allowed, the bytes are always UTF-8;
 *   - on each element one of the attribute sets fqdn+port, fqdn+srv,
 *     fqdn+srv+port, ip4+port, ip6+port; on the innermost element also
 *     profile alone, endpoint alone, or no attribute at all;
 *   - at most one child element, which is <tunnel>;
 *   - text between the tags only if it is XML white space (space, tab, CR,
 *     LF): the content model (tunnel?) is element content, in which white
 *     space is insignificant, and RFC 3620's own examples 2.4 and 2.6 put a
 *     line break inside an element without a child.  Any other text is 501.
 * Attribute values:
 *   port     1-65535, decimal digits only, no sign, no leading zero;
 *   fqdn     a DNS host name: labels of 1-63 letters, digits and hyphens, no
 *            hyphen first or last, at most 253 octets without the optional
 *            trailing dot; not numeric (the last label is not all digits,
 *            and no spelling a resolver takes for an address, "127.1",
 *            "0x7f000001": use ip4); a single label ("localhost") is
 *            accepted, whether it may be used is policy's decision; stored
 *            in lower case;
 *   srv      "_service._tcp": a service label of 1-63 letters, digits and
 *            hyphens (no hyphen first or last) after the underscore; any
 *            protocol label but "_tcp" is 504 (TCP is the only transport
 *            we relay); stored in lower case;
 *   ip4      a strict dotted quad (policy/addr.h addr_parse_ip4);
 *   ip6      an RFC 4291 text form (addr_parse_ip6); stored canonical.  An
 *            IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 host, so the
 *            element becomes TUN_IP4 with ip4 = "a.b.c.d";
 *   profile  a URI: a scheme ("ALPHA *(ALPHA / DIGIT / + - .) :") then RFC
 *            3986 characters only (no space, no control, no " < > \ ^ ` {
 *            | }), %HH escapes well formed, at most TUNNEL_ELEM_URI_MAX;
 *   endpoint printable ASCII (0x20-0x7e), at most TUNNEL_ELEM_ENDPOINT_MAX,
 *            not empty, no leading or trailing space ("operator console" of
 *            RFC 3620 sec. 2.6 is valid).  Non-ASCII is refused: the service
 *            catalog names endpoints in ASCII.
 * Reply codes (RFC 3620 sec. 6): 500 for bytes that are not a well-formed
 * XML document (and for DOCTYPE, processing instructions, oversize input),
 * 501 for a well-formed document that is not a valid <tunnel> element
 * (unknown attribute, wrong element, bad combination, bad value, too deep),
 * 504 for a well-formed srv naming a transport other than TCP, 421 when
 * memory runs out.  553/554 are policy decisions, never given here. */
#ifndef TUNNEL_TUNNEL_ELEM_H
#define TUNNEL_TUNNEL_ELEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/limits.h"

#define TUNNEL_ELEM_DOC_MAX       BG_BEEP_CH0_MAX /* fixed: octets of XML */
#define TUNNEL_ELEM_DEPTH_DEFAULT BG_MAX_HOPS     /* <tunnel> elements, nested */
#define TUNNEL_ELEM_DEPTH_CEILING BG_XML_DEPTH_MAX /* no caller may allow more */
#define TUNNEL_ELEM_FQDN_MAX      253             /* without the trailing dot */
#define TUNNEL_ELEM_LABEL_MAX     63
#define TUNNEL_ELEM_URI_MAX       512             /* fixed: profile */
#define TUNNEL_ELEM_ENDPOINT_MAX  128             /* fixed: endpoint */
#define TUNNEL_ELEM_ERR_MAX       160             /* error text buffer */
#define TUNNEL_ELEM_DESCRIBE_MAX  1024            /* a good describe buffer */

enum tunnel_kind {
	TUN_FQDN_PORT,           /* fqdn + port */
	TUN_FQDN_SRV,            /* fqdn + srv, port optional (has_port) */
	TUN_IP4,                 /* ip4 + port */
	TUN_IP6,                 /* ip6 + port */
	TUN_PROFILE,             /* profile, innermost only */
	TUN_ENDPOINT,            /* endpoint, innermost only */
	TUN_EMPTY,               /* no attribute, innermost only */
};

struct tunnel_elem {
	enum tunnel_kind    kind;
	char               *fqdn;       /* FQDN_*: lower case */
	char               *srv;        /* FQDN_SRV: "_idxp._tcp" */
	uint16_t            port;       /* valid when has_port */
	bool                has_port;   /* FQDN_PORT, IP4, IP6 always; FQDN_SRV maybe */
	char               *ip4;        /* IP4: canonical dotted quad */
	char               *ip6;        /* IP6: canonical text */
	char               *profile;    /* PROFILE: the URI */
	char               *endpoint;   /* ENDPOINT: the name */
	struct tunnel_elem *inner;      /* the nested element, or NULL */
	unsigned            depth;      /* elements from here inward: 1 + inner's */
};

struct tunnel_elem_error {
	unsigned code;                  /* 421, 500, 501 or 504; 0 when no error */
	unsigned elem;                  /* 1 = outermost element, 0 = document */
	char     text[TUNNEL_ELEM_ERR_MAX]; /* printable ASCII */
};

/* Parses and validates xml[0..len).  max_depth is the most <tunnel> elements
 * allowed in the chain (0: TUNNEL_ELEM_DEPTH_DEFAULT; capped at the
 * ceiling).  Returns 0 and *out (free with tunnel_elem_free), or -1, *out
 * NULL and err filled (err may be NULL). */
int tunnel_elem_parse(const uint8_t *xml, size_t len, unsigned max_depth,
                      struct tunnel_elem **out, struct tunnel_elem_error *err);

/* Checks a tree built or edited by hand against the same rules (0 or -1). */
int tunnel_elem_validate(const struct tunnel_elem *e, unsigned max_depth,
                         struct tunnel_elem_error *err);

/* Canonical XML: '<tunnel' then the attributes in the order fqdn, ip4, ip6,
 * srv, port, profile, endpoint, single-quoted, with & < > ' " escaped; a
 * child as nested element, otherwise '/>'.  No white space, no declaration.
 * Returns the length written (a NUL follows it), or 0 when buf is too small
 * or the tree does not validate (with no depth limit beyond the ceiling). */
size_t tunnel_elem_write(const struct tunnel_elem *e, char *buf, size_t len);
/* Octets tunnel_elem_write needs, without the NUL; 0 for an invalid tree. */
size_t tunnel_elem_write_len(const struct tunnel_elem *e);

/* One line for logs and audit: hops joined by '>':
 *   fqdn=proxy2.example.com:604>fqdn=final.example.com,srv=_beep._tcp,port=10290
 *   >ip4=192.0.2.1:604>ip6=[2001:db8::1]:604>profile=URI>endpoint=NAME>empty
 * Octets outside 0x21-0x7e and any of \ > , " ' = are written as \xHH.
 * Always NUL-terminated (len > 0); a line that does not fit ends in "...".
 * Returns buf. */
const char *tunnel_elem_describe(const struct tunnel_elem *e, char *buf, size_t len);

/* Builders.  Each validates its values as the parser does and returns NULL
 * with err filled on a bad value or no memory.  On success the new element
 * owns inner; on failure inner is left untouched (the caller still owns it).
 *   fqdn: srv NULL and port != 0 -> FQDN_PORT; srv given -> FQDN_SRV with
 *         port optional (0 = none).
 *   ip:   ip4 or ip6 text, stored canonical (mapped IPv6 -> IP4). */
struct tunnel_elem *tunnel_elem_new_empty(struct tunnel_elem_error *err);
struct tunnel_elem *tunnel_elem_new_fqdn(const char *fqdn, const char *srv, uint16_t port,
                                         struct tunnel_elem *inner,
                                         struct tunnel_elem_error *err);
struct tunnel_elem *tunnel_elem_new_ip(const char *ip, uint16_t port,
                                       struct tunnel_elem *inner,
                                       struct tunnel_elem_error *err);
struct tunnel_elem *tunnel_elem_new_profile(const char *uri, struct tunnel_elem_error *err);
struct tunnel_elem *tunnel_elem_new_endpoint(const char *name, struct tunnel_elem_error *err);

/* A deep copy (NULL when out of memory or e is NULL). */
struct tunnel_elem *tunnel_elem_dup(const struct tunnel_elem *e);
/* Detaches and returns e's inner element (NULL if none): the element a
 * proxy writes to the next hop.  e keeps its own values with depth 1 (still
 * a valid element: an address element may be the innermost). */
struct tunnel_elem *tunnel_elem_take_inner(struct tunnel_elem *e);
/* Structural equality of two trees (kinds, values, ports, nesting). */
bool tunnel_elem_equal(const struct tunnel_elem *a, const struct tunnel_elem *b);
/* The innermost element of the chain. */
const struct tunnel_elem *tunnel_elem_innermost(const struct tunnel_elem *e);
/* True for the kinds that name a transport destination (FQDN_*, IP4, IP6). */
bool tunnel_elem_is_address(const struct tunnel_elem *e);
const char *tunnel_elem_kind_name(enum tunnel_kind k);

void tunnel_elem_free(struct tunnel_elem *e);   /* frees the whole chain; NULL ok */
#endif
