/* srvrec: DNS SRV records (RFC 2782) for TUNNEL's fqdn+srv routing.  Pure
 * code: the query is built and the answer parsed with libresolv (no wire
 * format written here); srvrec_order applies RFC 2782's priority and weight
 * rules with a random source the caller supplies (tests inject one). */
#ifndef RELAY_SRVREC_H
#define RELAY_SRVREC_H
#include <stddef.h>
#include <stdint.h>

#define SRVREC_TARGETS_MAX 16      /* records used from one answer */
#define SRVREC_NAME_MAX    256     /* a domain name in text form, with NUL */
#define SRVREC_MSG_MAX     512     /* a UDP DNS message without EDNS */

struct srv_target {
	uint16_t prio;
	uint16_t weight;
	uint16_t port;
	char     host[SRVREC_NAME_MAX];   /* no trailing dot */
};

enum srvrec_status {
	SRVREC_OK = 0,      /* targets found */
	SRVREC_NONE,        /* NXDOMAIN, or no SRV record for the name */
	SRVREC_NOSERVICE,   /* one record with target ".": decidedly not available */
	SRVREC_SERVFAIL,    /* the server failed or refused (try another) */
	SRVREC_TRUNCATED,   /* the answer does not fit a UDP message */
	SRVREC_FOREIGN,     /* not the answer to our query (wrong id/question): ignore */
	SRVREC_BAD,         /* a malformed message */
};

/* Builds the query for SRV records of qname ("_idxp._tcp.example.net") with
 * the given id into buf.  Returns its length, or -1 (name too long/invalid). */
int srvrec_query(const char *qname, uint16_t id, uint8_t *buf, size_t size);

/* Parses an answer to srvrec_query(qname, id).  Fills up to max targets
 * (records past max are ignored) and *n.  err gets a short reason for
 * everything but SRVREC_OK. */
enum srvrec_status srvrec_parse(const uint8_t *msg, size_t len, uint16_t id,
                                const char *qname, struct srv_target *out,
                                size_t max, size_t *n, char *err, size_t errlen);

/* Orders targets as RFC 2782 says clients must try them: ascending
 * priority; within one priority, a weighted random order (a record of
 * weight w is picked first with probability w / sum, weight-0 records
 * placed first in the running list so they are rarely picked first).
 * rnd returns a uniform 32-bit value. */
typedef uint32_t srvrec_rand_fn(void *arg);
void srvrec_order(struct srv_target *t, size_t n, srvrec_rand_fn *rnd, void *arg);

const char *srvrec_status_str(enum srvrec_status st);
#endif
