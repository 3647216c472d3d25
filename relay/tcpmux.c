/* tcpmux: the TCPMUX front door (RFC 1078) on port 1.
 *
 * A client names a service and gets "+" and a connection, or "-" and a
 * reason, never a bare reset.  What inetd and xinetd get wrong is handled:
 * one total deadline for the name (a trickle does not keep the connection
 * open), every byte pipelined after the CRLF reaches the service first,
 * HELP is governed by policy (off by default), and unknown and forbidden
 * names get the same answer so the port cannot be used to probe. */
#include "relay/tcpmux.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/catalog.h"
#include "policy/policy.h"
#include "relay/connector.h"
#include "relay/beep_conn.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/nexthop.h"
#include "relay/server.h"
#include "relay/session.h"
#include "relay/tcpmux_line.h"
#include "relay/tlsconn.h"
#include "tunnel/tunnel_elem.h"

#define TCPMUX_NOT_AVAILABLE "-Service not available\r\n"
#define TCPMUX_READ_CHUNK    512

struct tcpmux {
	struct session     *s;
	struct event       *ev;
	struct tcpmux_line  line;
	uint8_t            *rest;      /* bytes pipelined after the line */
	size_t              nrest;
	const struct catalog_service *svc;
	const struct catalog_route   *route;
	struct nexthop     *nh;
	uint8_t            *nh_rest;
	size_t              nh_nrest;
};

static struct log_ratelimit rl_probe = { .interval = 1 };

static void
tcpmux_free(void *arg)
{
	struct tcpmux *t = arg;

	if (t == NULL)
		return;
	if (t->ev != NULL)
		event_free(t->ev);
	nexthop_cancel(t->nh);
	free(t->nh_rest);
	free(t->rest);
	free(t);
}

/* Hands both sockets to the pump; pre: what goes to the client first.  The
 * pump copies t->rest (pipelined after the line) and pre: the TCPMUX state
 * has nothing left to do and goes now, not when the tunnel closes. */
static int
tcpmux_pump(struct session *s, const uint8_t *pre, size_t npre)
{
	struct tcpmux *t = s->proto;

	if (session_start_pump(s, t->rest, t->nrest, pre, npre) != 0)
		return -1;
	s->proto_free = NULL;
	s->proto = NULL;
	tcpmux_free(t);
	return 0;
}

/* Best effort: the socket is fresh and the reply is short. */
static void
tcpmux_reply(struct session *s, const char *text)
{
	session_write(s, 0, (const uint8_t *)text, strlen(text));
}

static void
tcpmux_refuse(struct session *s, const char *reply, const char *reason)
{
	tcpmux_reply(s, reply);
	session_close(s, reason);
}

static bool
tcpmux_allowed(struct session *s, const char *name)
{
	struct policy_request req;
	struct policy_decision dec;

	memset(&req, 0, sizeof(req));
	req.source = &s->src;
	req.kind = PREQ_SERVICE;
	req.via = POBJ_TCPMUX;
	req.service = name;
	policy_decide(&s->conf->policy, &req, &dec);
	session_audit(s, &req, &dec);
	return dec.action == POLICY_PASS;
}

static void
tcpmux_help(struct session *s)
{
	const struct catalog *c = &s->conf->catalog;
	size_t i;

	if (s->conf->tcpmux_help == HELP_OFF) {
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "tcpmux help refused");
		return;
	}
	for (i = 0; i < c->nservices; i++) {
		const struct catalog_service *svc = &c->services[i];
		char line[300];

		if (!svc->as_tcpmux)
			continue;
		if (s->conf->tcpmux_help == HELP_ALLOWED && !tcpmux_allowed(s, svc->name))
			continue;
		snprintf(line, sizeof(line), "%s\r\n", svc->name);
		tcpmux_reply(s, line);
	}
	session_close(s, "tcpmux help");
}

static void
tcpmux_connected(struct session *s, int fd, int result)
{
	struct tcpmux *t = s->proto;
	static const uint8_t plus[] = "+\r\n";
	bool relay_ack = t->svc->ack == ACK_RELAY;

	(void)fd;
	if (result != CONNECTOR_OK) {
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE,
		              connector_result_str((enum connector_result)result));
		return;
	}
	/* "+" only now that the service is connected; it goes out ahead of
	 * anything the service says, and the pipelined bytes go to the service
	 * ahead of anything else the client sends. */
	if (tcpmux_pump(s, relay_ack ? plus : NULL, relay_ack ? sizeof(plus) - 1 : 0) != 0)
		session_close(s, "out of memory");
}

static void
tcpmux_nexthop_done(void *arg, const struct nexthop_result *r)
{
	struct session *s = arg;
	struct tcpmux *t = s->proto;
	static const uint8_t plus[] = "+\r\n";
	uint8_t *pre;

	t->nh = NULL;
	if (!r->ok) {
		log_info("session=%llx tcpmux %s: next hop refused: %u %s",
		         (unsigned long long)s->id, t->svc->name, r->code, r->text);
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "next hop refused the tunnel");
		return;
	}
	s->sfd = r->fd;
	/* "+" first, then whatever the far side already sent */
	if ((pre = malloc(sizeof(plus) - 1 + r->nrest)) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	memcpy(pre, plus, sizeof(plus) - 1);
	if (r->nrest > 0)
		memcpy(pre + sizeof(plus) - 1, r->rest, r->nrest);
	if (tcpmux_pump(s, pre, sizeof(plus) - 1 + r->nrest) != 0)
		session_close(s, "out of memory");
	free(pre);
}

static void
tcpmux_route_connected(struct session *s, int fd, int result)
{
	struct tcpmux *t = s->proto;
	const struct catalog_service *svc = t->svc;
	struct tunnel_elem_error err;
	struct tunnel_elem *inner = NULL;
	char line[TCPMUX_LINE_CEILING + 3];
	int n;

	if (result != CONNECTOR_OK) {
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE,
		              connector_result_str((enum connector_result)result));
		return;
	}
	if (t->route->tcpmux) {
		/* the next relay's own TCPMUX door: name the service there; its
		 * "+" or "-" reaches the client through the pump */
		n = snprintf(line, sizeof(line), "%s\r\n", svc->next.value ? svc->next.value : svc->name);
		if (n < 0 || (size_t)n >= sizeof(line)) {
			tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "next hop write failed");
			return;
		}
		session_write(s, 1, (const uint8_t *)line, (size_t)n);
		if (tcpmux_pump(s, NULL, 0) != 0)
			session_close(s, "out of memory");
		return;
	}
	memset(&err, 0, sizeof(err));
	switch (svc->next.kind) {
	case NEXT_ENDPOINT: inner = tunnel_elem_new_endpoint(svc->next.value, &err); break;
	case NEXT_PROFILE:  inner = tunnel_elem_new_profile(svc->next.value, &err); break;
	case NEXT_EMPTY:    inner = tunnel_elem_new_empty(&err); break;
	case NEXT_HOST: {
		struct addr a;
		struct tunnel_elem *fin = svc->next.beep ? tunnel_elem_new_empty(&err) : NULL;

		inner = addr_parse(svc->next.value, &a) ?
		        tunnel_elem_new_ip(svc->next.value, svc->next.port, fin, &err) :
		        tunnel_elem_new_fqdn(svc->next.value, NULL, svc->next.port, fin, &err);
		if (inner == NULL)
			tunnel_elem_free(fin);
		break;
	}
	case NEXT_TCPMUX:
		break;
	}
	if (inner == NULL) {
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "service route is not usable");
		return;
	}
	session_set_state(s, SESSION_NEXTHOP);
	s->sfd = -1;
	t->nh = nexthop_start(s->srv->base, fd, t->route->host, t->route, inner, s->id,
	                      tcpmux_nexthop_done, s);
	tunnel_elem_free(inner);
	if (t->nh == NULL) {
		close(fd);
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "out of memory");
		return;
	}
	if (s->tls[1] != NULL)
		nexthop_set_endpoint(t->nh, &tlsconn_pump_ops, s->tls[1], tlsconn_bits(s->tls[1]));
}

static void
tcpmux_route(struct session *s, const struct catalog_service *svc)
{
	struct tcpmux *t = s->proto;

	t->route = catalog_find_route(&s->conf->catalog, svc->route);
	if (t->route == NULL) {
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "service route missing");
		return;
	}
	if (session_connect_tls(s, t->route->host, t->route->port, t->route->tls,
	                        t->route->tls != NULL && t->route->tls->verify_name != NULL ?
	                        t->route->tls->verify_name : t->route->host, NULL,
	                        tcpmux_route_connected) != 0)
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "out of memory");
}

static void
tcpmux_service(struct session *s, const char *name)
{
	struct tcpmux *t = s->proto;
	const struct catalog_service *svc = catalog_find_tcpmux(&s->conf->catalog, name);

	/* unknown and forbidden get the same answer */
	if (svc == NULL || !tcpmux_allowed(s, svc->name)) {
		metrics_tcpmux(s->srv, svc != NULL ? svc->name : NULL, false);
		tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, svc == NULL ? "tcpmux unknown service" :
		              "tcpmux service refused by policy");
		return;
	}
	metrics_tcpmux(s->srv, svc->name, true);
	t->svc = svc;
	snprintf(s->dst, sizeof(s->dst), "tcpmux:%s", svc->name);
	switch (svc->kind) {
	case SVC_CONNECT:
		if (session_connect(s, svc->host, svc->port, tcpmux_connected) != 0)
			tcpmux_refuse(s, TCPMUX_NOT_AVAILABLE, "out of memory");
		return;
	case SVC_BEEP: {
		/* the relay's own BEEP/TUNNEL engine on this connection */
		uint8_t *rest = t->rest;
		size_t nrest = t->nrest;

		tcpmux_reply(s, "+\r\n");
		t->rest = NULL;
		session_clear_deadline(s);
		/* beep_conn takes over s->proto: free ours first */
		s->proto_free = NULL;
		tcpmux_free(t);
		s->proto = NULL;
		beep_conn_start(s, rest, nrest);
		free(rest);
		return;
	}
	case SVC_ROUTE:
		tcpmux_route(s, svc);
		return;
	}
}

static void
tcpmux_readable(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct tcpmux *t = s->proto;
	uint8_t buf[TCPMUX_READ_CHUNK];
	size_t used = 0;
	ssize_t n;
	short want;
	enum tcpmux_line_status st;

	(void)fd;
	(void)what;
again:
	n = session_read(s, 0, buf, sizeof(buf), &want);
	if (n == 0) {
		session_close(s, "client closed before naming a service");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		session_close(s, "client reset before naming a service");
		return;
	}
	st = tcpmux_line_feed(&t->line, buf, (size_t)n, &used);
	if (t->line.probe != TCPMUX_PROBE_NONE) {
		char src[LOG_ADDRSTRLEN];

		log_limited(&rl_probe, LOG_NOTICE, "tcpmux: %s spoke %s on the TCPMUX port",
		            session_src(s, src, sizeof(src)), tcpmux_line_probe_name(t->line.probe));
	}
	switch (st) {
	case TCPMUX_LINE_NEED_MORE:
		/* TLS may hold more than one read took; a socket wakes us again */
		if (s->tls[0] != NULL)
			goto again;
		return;
	case TCPMUX_LINE_ERROR: {
		char reply[160];

		snprintf(reply, sizeof(reply), "-%s\r\n", t->line.error);
		tcpmux_refuse(s, reply, t->line.error);
		return;
	}
	case TCPMUX_LINE_DONE:
		break;
	}
	event_free(t->ev);
	t->ev = NULL;
	if ((size_t)n > used) {
		t->nrest = (size_t)n - used;
		if ((t->rest = malloc(t->nrest)) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		memcpy(t->rest, buf + used, t->nrest);
	}
	if (t->line.help)
		tcpmux_help(s);
	else
		tcpmux_service(s, t->line.name);
}

/* The total deadline for the name: a "-" line, never a bare reset. */
static void
tcpmux_deadline(struct session *s)
{
	if (s->state == SESSION_TCPMUX)
		tcpmux_reply(s, "-Timeout waiting for a service name\r\n");
}

void
tcpmux_start(struct session *s)
{
	struct tcpmux *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	t->s = s;
	s->proto = t;
	s->proto_free = tcpmux_free;
	tcpmux_line_init(&t->line, s->conf->limits.tcpmux_line);
	session_set_state(s, SESSION_TCPMUX);
	s->on_deadline = tcpmux_deadline;
	session_arm_deadline(s, s->conf->timeouts.handshake);
	t->ev = event_new(s->srv->base, s->cfd, EV_READ | EV_PERSIST, tcpmux_readable, s);
	if (t->ev == NULL || event_add(t->ev, NULL) != 0)
		session_close(s, "out of memory");
}
