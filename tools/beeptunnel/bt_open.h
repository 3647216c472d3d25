/* bt_open: opens one tunnel through the first relay, on libevent: resolve
 * and connect (relay/connector), optionally name a service at the relay's
 * TCPMUX door ("service\r\n", expect "+"), then run the BEEP initiator
 * (relay/nexthop: greeting, SASL, TUNNEL start with the element).  The whole
 * handshake shares one total deadline. */
#ifndef BEEPTUNNEL_BT_OPEN_H
#define BEEPTUNNEL_BT_OPEN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_exit.h"

struct event_base;
struct evdns_base;
struct catalog_route;
struct tunnel_elem;
struct bt_open;

#define BT_OPEN_TCPMUX_REPLY_MAX 512   /* fixed: octets of the TCPMUX reply line */
#define BT_OPEN_TEXT_MAX         600   /* fixed: failure text buffer */

struct bt_open_target {
	const char                 *host;      /* the first relay */
	uint16_t                    port;
	const char                 *tcpmux;    /* service at its TCPMUX door, or NULL */
	const struct catalog_route *route;     /* credentials (user NULL: none) */
	const struct tunnel_elem   *elem;      /* what to send in <start> */
	unsigned                    timeout_ms; /* the whole handshake */
};

struct bt_open_result {
	bool           ok;
	enum bt_exit   status;   /* !ok: what the failure means */
	unsigned       code;     /* !ok: reply code, 0 when there was none */
	const char    *text;     /* !ok: printable text (the relay's or ours) */
	int            fd;       /* ok: the socket, non-blocking, now the callee's */
	const uint8_t *rest;     /* ok: bytes read after <ok/>, valid during the call */
	size_t         nrest;
};

/* Called once, from the event loop; the bt_open is freed right after it
 * returns (do not call bt_open_cancel on it from the callback). */
typedef void bt_open_done_fn(void *arg, const struct bt_open_result *r);

/* NULL when out of memory.  The target's strings, route and element must
 * outlive the attempt. */
struct bt_open *bt_open_start(struct event_base *base, struct evdns_base *dns,
                              const struct bt_open_target *t, bt_open_done_fn *done,
                              void *arg);
/* Stops the attempt without a callback; NULL is a no-op. */
void bt_open_cancel(struct bt_open *op);
#endif
