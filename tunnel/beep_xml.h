/* beep_xml: the channel-0 documents of RFC 3080 sec. 2.3 (greeting, start,
 * profile, close, ok, error) parsed with libxml2 into plain C structures,
 * and generated from them.
 *
 * Parsing is hardened: one fresh parser per document, no network, no entity
 * substitution, no DTD loading, any DOCTYPE rejected, document size capped at
 * BG_BEEP_CH0_MAX octets and element nesting at BG_XML_DEPTH_MAX, elements
 * and attributes checked against RFC 3080's DTD (sec. 7.1).  Every failure
 * comes back as a reply code and a short text fit for an <error> reply.
 *
 * Generation escapes every attribute and text (libxml2 serializer); strings
 * that are not valid UTF-8 XML characters are refused, and piggybacked
 * content that is not valid XML text is sent base64-encoded. */
#ifndef TUNNEL_BEEP_XML_H
#define TUNNEL_BEEP_XML_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/limits.h"

#define BEEP_XML_DOC_MAX       BG_BEEP_CH0_MAX  /* fixed: one channel-0 document */
#define BEEP_XML_CONTENT_MAX   BG_BEEP_CH0_MAX  /* fixed: piggybacked content, decoded */
#define BEEP_XML_PROFILES_MAX  64               /* fixed: <profile>s in a greeting/start */
#define BEEP_XML_ATTR_MAX      1024             /* fixed: one attribute value, octets */
#define BEEP_XML_TEXT_MAX      1024             /* fixed: <close>/<error> diagnostic */
#define BEEP_XML_ERRTEXT_MAX   128              /* size of beep_xml_error.text */

enum beep_xml_kind {
	BEEP_XML_GREETING,     /* RPY 0 0: profiles offered */
	BEEP_XML_START,        /* MSG: start a channel */
	BEEP_XML_PROFILE,      /* RPY to start: the profile chosen (+ content) */
	BEEP_XML_CLOSE,        /* MSG: close a channel (number 0: the session) */
	BEEP_XML_OK,           /* RPY to close */
	BEEP_XML_ERROR,        /* ERR to anything, or instead of a greeting */
};

struct beep_xml_profile {
	char    *uri;
	bool     has_content;  /* content present (even if empty) */
	uint8_t *content;      /* decoded octets (base64 undone); NUL-terminated */
	size_t   content_len;  /* <= BEEP_XML_CONTENT_MAX */
};

struct beep_xml_doc {
	enum beep_xml_kind kind;
	/* GREETING */
	char   *features;      /* or NULL */
	char   *localize;      /* or NULL (DTD default "i-default") */
	/* START (number, server_name, profiles 1..), GREETING (profiles 0..,
	 * no content), PROFILE (exactly one profile) */
	uint32_t number;       /* START: 1..2^31-1; CLOSE: 0..2^31-1 (default 0) */
	char   *server_name;   /* START: or NULL */
	struct beep_xml_profile *profiles;
	size_t  nprofiles;
	/* CLOSE, ERROR */
	unsigned code;         /* 100..599, three digits */
	char   *text;          /* diagnostic, or NULL */
	char   *lang;          /* xml:lang, or NULL */
};

/* A failure: the reply code (500 syntax, 501 parameter, 550 action not
 * taken) and a short static-or-formatted text for an <error> reply. */
struct beep_xml_error {
	unsigned code;
	char     text[BEEP_XML_ERRTEXT_MAX];
};

/* Parses one channel-0 document (the body after the MIME headers).
 * Returns 0 and fills *doc (release it with beep_xml_doc_clear), or -1 with
 * *err set and *doc left empty.  A document of any kind is accepted; the
 * caller checks doc->kind against what it expects. */
int  beep_xml_parse(const uint8_t *buf, size_t len, struct beep_xml_doc *doc,
                    struct beep_xml_error *err);
/* Frees what *doc owns and zeroes it; safe on a zeroed or cleared doc. */
void beep_xml_doc_clear(struct beep_xml_doc *doc);

/* Serializes *doc (same field rules as parsing) into a malloc'd buffer
 * (*out, *outlen; NUL-terminated, not counted).  Returns 0, or -1 when a
 * field is invalid (bad number or code, string not valid UTF-8 XML text,
 * too long) or memory runs out; *out is then NULL. */
int  beep_xml_write(const struct beep_xml_doc *doc, uint8_t **out, size_t *outlen);

/* Shortcuts over beep_xml_write.  uris: n profile URIs. */
int  beep_xml_greeting(const char *const *uris, size_t n, const char *features,
                       const char *localize, uint8_t **out, size_t *outlen);
int  beep_xml_start(uint32_t number, const char *server_name, const char *const *uris,
                    size_t n, const uint8_t *content, size_t clen, bool has_content,
                    uint8_t **out, size_t *outlen);
int  beep_xml_profile(const char *uri, const uint8_t *content, size_t clen,
                      bool has_content, uint8_t **out, size_t *outlen);
int  beep_xml_close(uint32_t number, unsigned code, const char *text,
                    uint8_t **out, size_t *outlen);
int  beep_xml_ok(uint8_t **out, size_t *outlen);
int  beep_xml_error(unsigned code, const char *text, uint8_t **out, size_t *outlen);

/* True when s (len octets) is valid UTF-8 made only of XML 1.0 Chars. */
bool beep_xml_valid_text(const uint8_t *s, size_t len);

const char *beep_xml_kind_name(enum beep_xml_kind k);
#endif
