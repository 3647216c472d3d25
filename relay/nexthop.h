/* nexthop: the relay as a BEEP initiator toward the next hop of a chained
 * TUNNEL (RFC 3620 sec. 4): send our greeting at once, require the next
 * hop's greeting to offer TUNNEL (else 550 with the start of what it sent),
 * authenticate with the route's credentials (verifying the server's SCRAM
 * signature), start TUNNEL with the re-serialized inner element, and report
 * its answer: <ok/> with every byte that followed it, or its <error>
 * unchanged. */
#ifndef RELAY_NEXTHOP_H
#define RELAY_NEXTHOP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct tunnel_elem;
struct catalog_route;
struct nexthop;

/* Where an attempt failed (a caller that is the first hop, such as a client
 * tool, tells "the relay refused our login" from "the relay refused the
 * tunnel" by it; the relay itself passes code and text on either way). */
enum nexthop_stage {
	NEXTHOP_STAGE_GREETING, /* no BEEP greeting, or TUNNEL not offered */
	NEXTHOP_STAGE_SASL,     /* authenticating to the next hop */
	NEXTHOP_STAGE_TUNNEL,   /* the answer to our TUNNEL start */
};

struct nexthop_result {
	bool           ok;
	enum nexthop_stage stage; /* !ok: the phase the attempt failed in */
	unsigned       code;    /* !ok: reply code to pass back */
	const char    *text;    /* !ok: its text (the next hop's, unchanged) */
	int            fd;      /* ok: the socket, now owned by the callee */
	const uint8_t *rest;    /* ok: bytes read after the <ok/> frame */
	size_t         nrest;
};

typedef void nexthop_done_fn(void *arg, const struct nexthop_result *r);

/* fd: connected, non-blocking; owned by the nexthop until an ok result.
 * route: credentials (NULL or no user: no authentication).  host: the next
 * hop's name for SASL.  Returns NULL on memory failure (fd not taken). */
struct nexthop *nexthop_start(struct event_base *base, int fd, const char *host,
                              const struct catalog_route *route,
                              const struct tunnel_elem *inner, uint64_t session_id,
                              nexthop_done_fn *done, void *arg);
/* The socket carries TLS (a TLS route): I/O goes through ops/ctx (not
 * taken), and ssf (the cipher's bits) lets SASL use PLAIN toward the next
 * hop.  Call right after nexthop_start. */
struct pump_endpoint_ops;
void nexthop_set_endpoint(struct nexthop *nh, const struct pump_endpoint_ops *ops, void *ctx,
                          unsigned ssf);
/* Stops and closes the socket; no callback afterwards.  NULL: no-op. */
void nexthop_cancel(struct nexthop *nh);
#endif
