/* metrics: the daemon's counters and the admin listener that shows them.
 *
 * The counters always run (they cost a few additions per session); the
 * admin listener (`admin on ADDRESS port N`, off by default) serves them
 * over HTTP with libevent's evhttp:
 *   GET /metrics   Prometheus text exposition format (docs/metrics.md)
 *   GET /status    a human-readable summary (what `beepgated -s` prints)
 * Single-threaded like the rest of the daemon. */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct server;
struct config;
struct evbuffer;
struct policy_decision;

#define BG_METRICS_LABELS_MAX       1024   /* fixed: distinct label values per family */
#define BG_METRICS_STATUS_SESSIONS  200    /* fixed: sessions listed by /status */
#define BG_METRICS_HTTP_TIMEOUT     10     /* fixed: seconds, an admin HTTP exchange */
#define BG_METRICS_HTTP_HEADERS_MAX 8192   /* fixed: bytes of request headers */
#define BG_METRICS_STATUS_MAX       (4 * 1024 * 1024) /* fixed: -s reads at most this */
#define BG_METRICS_CLIENT_TIMEOUT   5      /* fixed: seconds, beepgated -s */

/* Creates the counters and, when the configuration says so, binds the admin
 * listener (call before the privilege drop).  Returns 0, or -1 after
 * logging why. */
int metrics_start(struct server *srv);
/* Binds and listens on the admin address: a descriptor, or -1 after
 * logging why.  (The parent of several workers binds it for worker 0.) */
struct conf_admin;
int metrics_admin_socket(const struct conf_admin *ad);
/* Closes the admin listener and frees the counters; safe to call twice. */
void metrics_stop(struct server *srv);
/* At reload: the admin listener stays as it was started; a change to it is
 * logged (it takes effect at the next start). */
void metrics_reload(struct server *srv, const struct config *next);

/* Monotonic microseconds, for set-up latencies. */
uint64_t metrics_clock(void);

/* Counter hooks; each is a no-op while srv has no metrics. */
void metrics_auth(struct server *srv, const char *mech, bool ok);
void metrics_policy(struct server *srv, const struct policy_decision *dec);
/* A TUNNEL request refused with a BEEP reply code. */
void metrics_tunnel_refused(struct server *srv, unsigned code);
/* A tunnel's <ok/> was sent; started: metrics_clock() at the request. */
void metrics_tunnel_up(struct server *srv, uint64_t started);
/* An established tunnel's session ended. */
void metrics_tunnel_down(struct server *srv);
/* A TCPMUX service request: name NULL for an unknown service. */
void metrics_tcpmux(struct server *srv, const char *service, bool accepted);
/* limits { max-tunnels-per-user } refused a request. */
void metrics_user_limit(struct server *srv);

/* Escapes a label value for the exposition format (\\, \" and \n); always
 * NUL-terminates (cap > 0) and returns the length the whole text needs. */
size_t metrics_escape_label(const char *in, char *out, size_t cap);
/* The /metrics and /status texts. */
void metrics_render(struct server *srv, struct evbuffer *out);
void metrics_render_status(struct server *srv, struct evbuffer *out);

/* beepgated -s: GETs /status from the admin listener of configuration c
 * and writes the body to out.  Returns 0, or -1 with a message in err. */
int metrics_client_status(const struct config *c, FILE *out, char *err, size_t errlen);
#endif
