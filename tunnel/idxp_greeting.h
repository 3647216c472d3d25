/* idxp_greeting: the IDXP profile's XML (RFC 4767 sec. 3.4, 4, 9): the
 * IDXP-Greeting element with its Option elements (channelPriority,
 * streamType), the <ok/> / <error> answers, and the check that a text/xml
 * message is one IDMEF-Message element.  Pure code over bytes (libxml2 with
 * no DTD, no entities, no network). */
#ifndef TUNNEL_IDXP_GREETING_H
#define TUNNEL_IDXP_GREETING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDXP_PROFILE_URI     "http://idxp.org/beep/profile"
#define IDXP_URI_MAX         512      /* fixed: the uri attribute */
#define IDXP_FQDN_MAX        256      /* fixed: the fqdn attribute */
#define IDXP_GREETING_MAX    4096     /* fixed: one greeting document */
#define IDXP_ERRTEXT_MAX     200      /* size of idxp_greeting_error.text */

enum idxp_role { IDXP_ROLE_CLIENT, IDXP_ROLE_SERVER };
enum idxp_stream { IDXP_STREAM_NONE, IDXP_STREAM_ALERT, IDXP_STREAM_HEARTBEAT,
                   IDXP_STREAM_CONFIG };

struct idxp_greeting {
	enum idxp_role   role;
	char             uri[IDXP_URI_MAX];
	char             fqdn[IDXP_FQDN_MAX];       /* "" when absent */
	bool             has_priority;
	int32_t          priority;                  /* channelPriority (0..2^31-1) */
	enum idxp_stream stream;                    /* streamType */
	unsigned         ignored_options;           /* unknown, mustUnderstand false */
	char             must_understand[64];       /* write only: an extra option sent
	                                             * with mustUnderstand='true' ("": none) */
};

/* A refusal: the code and text for an <error> (500 syntax, 501 parameter,
 * 504 an option that must be understood and is not). */
struct idxp_greeting_error {
	unsigned code;
	char     text[IDXP_ERRTEXT_MAX];
};

/* Parses an IDXP-Greeting document.  Returns 0, or -1 with *err set. */
int idxp_greeting_parse(const uint8_t *buf, size_t len, struct idxp_greeting *g,
                        struct idxp_greeting_error *err);
/* Writes g as a document (attributes escaped).  Returns its length (without
 * the NUL), or 0 when it does not fit or a field is invalid. */
size_t idxp_greeting_write(const struct idxp_greeting *g, char *out, size_t size);

/* The answer to a greeting or a message: <ok/> (returns 1), <error> (0,
 * code and text filled), or neither (-1). */
int idxp_answer_parse(const uint8_t *buf, size_t len, unsigned *code, char *text,
                      size_t textlen);

/* Is buf one well-formed IDMEF-Message element (no DTD)?  0, or -1 with a
 * reason in err. */
int idxp_idmef_check(const uint8_t *buf, size_t len, struct idxp_greeting_error *err);

/* Is buf one element named name (no attributes checked), e.g. <ready/>? */
bool idxp_xml_root_is(const uint8_t *buf, size_t len, const char *name);

const char *idxp_stream_name(enum idxp_stream s);   /* "alert", ..., "-" */
#endif
