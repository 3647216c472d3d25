/* connector: resolve a host (without blocking) and connect to the first
 * address that policy allows and that answers, trying every address in turn.
 * Policy is asked about each resolved address right before connect(), so what
 * is checked is exactly what is connected to (no DNS-rebinding bypass). */
#ifndef RELAY_CONNECTOR_H
#define RELAY_CONNECTOR_H
#include <stdbool.h>
#include <stdint.h>

#include "policy/addr.h"

struct event_base;
struct evdns_base;
struct connector;

enum connector_result {
	CONNECTOR_OK = 0,
	CONNECTOR_RESOLVE,      /* name does not resolve (450) */
	CONNECTOR_REFUSED,      /* every address was refused by policy */
	CONNECTOR_UNREACHABLE,  /* connection refused / unreachable (450) */
	CONNECTOR_TIMEOUT,      /* no address answered in time (450) */
	CONNECTOR_RESOURCE,     /* out of descriptors or memory (421) */
	CONNECTOR_TLS,          /* connected, but TLS with it failed (a TLS route; 450) */
};

/* Return false to refuse this address (it is then skipped, never connected). */
typedef bool connector_check_fn(void *arg, const struct addr *a, uint16_t port);
/* Called exactly once, never from inside connector_start().  On success fd is
 * a connected non-blocking socket now owned by the callee; otherwise -1. */
typedef void connector_done_fn(void *arg, enum connector_result res, int fd,
                               const struct addr *a, uint16_t port);

/* host: an address literal or a name (names need a dns base).  timeout_ms
 * bounds each connection attempt.  Returns NULL only when out of memory. */
struct connector *connector_start(struct event_base *base, struct evdns_base *dns,
                                  const char *host, uint16_t port, unsigned timeout_ms,
                                  connector_check_fn *check, connector_done_fn *done,
                                  void *arg);
/* Stops; the done callback is not called after this.  NULL is a no-op. */
void connector_cancel(struct connector *c);

const char *connector_result_str(enum connector_result r);
#endif
