/* srvquery: one asynchronous SRV look-up over UDP on the event loop, asking
 * the nameservers of the configuration in turn (never the machine's
 * resolv.conf).  libevent's evdns has no SRV queries; the messages are built
 * and parsed by relay/srvrec (libresolv). */
#ifndef RELAY_SRVQUERY_H
#define RELAY_SRVQUERY_H
#include <stddef.h>

#include "relay/srvrec.h"

#define SRVQUERY_TRY_MS   2000     /* per server and attempt */
#define SRVQUERY_ATTEMPTS 2        /* rounds over the servers */

struct event_base;
struct srvquery;

/* Called exactly once (never from inside srvquery_start): st is SRVREC_OK
 * with n ordered targets (RFC 2782), or the reason of the failure with a
 * text.  The targets are valid during the call only.  The query is freed
 * before the call: forget the pointer, do not cancel it. */
typedef void srvquery_done_fn(void *arg, enum srvrec_status st,
                              const struct srv_target *t, size_t n, const char *why);

/* servers: "ADDR" or "ADDR:PORT" ("[v6]:PORT") strings, as in the
 * configuration; at least one.  Returns NULL when nothing could be sent
 * (no usable server, out of memory). */
struct srvquery *srvquery_start(struct event_base *base, char *const *servers,
                                size_t nservers, const char *qname,
                                srvquery_done_fn *done, void *arg);
/* Stops; done is not called after this.  NULL is a no-op. */
void srvquery_cancel(struct srvquery *q);
#endif
