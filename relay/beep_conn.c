#include "relay/beep_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/auth_sasl.h"
#include "policy/catalog.h"
#include "policy/limits.h"
#include "policy/policy.h"
#include "relay/beepio.h"
#include "relay/connector.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/nexthop.h"
#include "relay/srvquery.h"
#include "relay/server.h"
#include "relay/session.h"
#include "relay/tlsconn.h"
#include "tunnel/beep_blob.h"
#include "tunnel/beep_session.h"
#include "tunnel/tunnel_elem.h"

#define TUNNEL_URI     "http://iana.org/beep/TUNNEL"
#define SASL_URI_PFX   "http://iana.org/beep/SASL/"
#define OK_ELEM        "<ok/>"

/* How the pending TUNNEL request is to be answered. */
enum tun_answer { TUN_VIA_START, TUN_VIA_RPY };

/* What policy said about the pending request, for its audit line. */
enum tun_decision {
	TUN_DEC_NONE,          /* not asked: refused before (syntax, limits) */
	TUN_DEC_PASS,          /* an address or service was allowed */
	TUN_DEC_DENY,          /* refused by policy (rules, guards, catalog) */
};

struct beep_conn {
	struct session          *s;
	struct beep_session     *bs;
	struct beepio           *io;
	struct auth_sasl_server *sasl;
	uint32_t                 sasl_ch;
	bool                     sasl_busy;    /* an exchange is in progress */
	unsigned                 failures;
	bool                     user_slot;    /* holds a per-user tunnel slot */
	/* the TUNNEL request in progress (one at a time) */
	bool                     tun_busy;
	enum tun_answer          tun_via;
	uint32_t                 tun_ch;
	uint32_t                 tun_msgno;
	struct tunnel_elem      *elem;
	const struct catalog_route *route;
	struct nexthop          *nh;
	struct srvquery         *srvq;         /* SRV look-up in progress */
	struct srv_target       *srv_t;        /* its targets, in RFC 2782 order */
	size_t                   srv_n, srv_i;
	bool                     srv_refused;  /* a target was refused by policy */
	uint8_t                 *nh_rest;      /* next hop bytes after its <ok/> */
	size_t                   nh_nrest;
	char                     canon[TUNNEL_ELEM_DESCRIBE_MAX];
	enum tun_decision        decision;
	uint64_t                 tun_t0;       /* metrics_clock() at the request */
	bool                     tunneled;     /* <ok/> sent: counted as active */
	bool                     in_start;     /* inside tun_start: refuse synchronously */
	unsigned                 start_code;
	char                     start_text[512];
	char                     mechs[AUTH_SASL_MECHS_MAX][AUTH_SASL_MECH_NAME_MAX + 1];
	size_t                   nmechs;
};

static void tun_audit(struct beep_conn *, const char *, unsigned, const char *);

static struct log_ratelimit rl_proto = { .interval = 1 };
static struct log_ratelimit rl_auth = { .interval = 1 };

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
beep_conn_free(void *arg)
{
	struct beep_conn *c = arg;

	if (c == NULL)
		return;
	if (c->tun_busy && !c->tunneled && c->bs != NULL)
		/* the session ends (the client left) with a request pending */
		tun_audit(c, "abandoned", 0, "session closed before an answer");
	nexthop_cancel(c->nh);
	srvquery_cancel(c->srvq);
	free(c->srv_t);
	beepio_free(c->io);
	beep_session_free(c->bs);
	auth_sasl_server_free(c->sasl);
	if (c->user_slot && c->s->user != NULL)
		limits_user_release(c->s->srv->limits, c->s->user);
	if (c->tunneled)
		metrics_tunnel_down(c->s->srv);
	tunnel_elem_free(c->elem);
	free(c->nh_rest);
	free(c);
}

/* What a tunnel still holds once it pumps: its per-user slot and its place
 * among the active tunnels, both given back when the session closes.  The
 * argument is the session itself (see beep_conn_handover). */
static void
beep_conn_pumping_free(void *arg)
{
	struct session *s = arg;

	if (s->user != NULL)
		limits_user_release(s->srv->limits, s->user);
	metrics_tunnel_down(s->srv);
}

/* The pump runs (it has copied the bytes read past <ok/>): everything of
 * the BEEP set-up goes now rather than when the tunnel closes, hours later
 * perhaps: the BEEP session (its output buffer, parser, channels, the
 * peer's greeting), the socket's events, the SASL connection, the request.
 * Called from the beepio detached callback, after which beepio touches
 * nothing of itself. */
static void
beep_conn_handover(struct beep_conn *c)
{
	struct session *s = c->s;

	/* tunneled implies user_slot: the request took it before routing;
	 * both now pass to the session (and the request is answered) */
	c->tun_busy = false;
	c->user_slot = false;
	c->tunneled = false;
	s->proto = s;
	s->proto_free = beep_conn_pumping_free;
	beep_conn_free(c);
}

/* ---- answering the TUNNEL request ---------------------------------------- */

static void
tun_reset(struct beep_conn *c)
{
	tunnel_elem_free(c->elem);
	c->elem = NULL;
	c->route = NULL;
	c->tun_busy = false;
	if (c->s->sfd >= 0) {
		close(c->s->sfd);
		c->s->sfd = -1;
	}
	tlsconn_free(c->s->tls[1]);
	c->s->tls[1] = NULL;
	snprintf(c->s->dst, sizeof(c->s->dst), "-");
	session_set_state(c->s, SESSION_BEEP);
}

static const char *
tun_decision_name(enum tun_decision d)
{
	switch (d) {
	case TUN_DEC_NONE: return "-";
	case TUN_DEC_PASS: return "pass";
	case TUN_DEC_DENY: return "deny";
	}
	return "?";
}

/* The one audit line of a TUNNEL request: who asked (session, source,
 * user), what (the canonical element), where it went (dst: the connected
 * address once connected, else the destination asked for), what policy
 * said, and how it ended.  The per-address policy lines ("audit ...")
 * come before it. */
static void
tun_audit_line(struct beep_conn *c, const char *canon, const char *dst,
               enum tun_decision dec, const char *outcome, unsigned code, const char *text)
{
	char src[LOG_ADDRSTRLEN], user[LOG_QUOTE_MAX], qtext[LOG_QUOTE_MAX];

	log_info("tunnel session=%llx src=%s user=%s req=\"%s\" dst=%s decision=%s outcome=%s "
	         "code=%u text=\"%s\"", (unsigned long long)c->s->id,
	         session_src(c->s, src, sizeof(src)),
	         c->s->user ? log_quote(c->s->user, user, sizeof(user)) : "-", canon, dst,
	         tun_decision_name(dec), outcome, code, log_quote(text, qtext, sizeof(qtext)));
}

static void
tun_audit(struct beep_conn *c, const char *outcome, unsigned code, const char *text)
{
	tun_audit_line(c, c->canon, c->s->dst, c->decision, outcome, code, text);
}

/* A request refused before it was read (not authenticated, one already
 * in progress): nothing of it is known. */
static void
tun_audit_early(struct beep_conn *c, unsigned code, const char *text)
{
	tun_audit_line(c, "-", "-", TUN_DEC_NONE, "refused", code, text);
}

/* Refuses the pending request; the session stays usable for another. */
static void
tun_refuse(struct beep_conn *c, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
tun_refuse(struct beep_conn *c, unsigned code, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tun_audit(c, "refused", code, text);
	metrics_tunnel_refused(c->s->srv, code);
	if (c->tun_via == TUN_VIA_START && c->in_start) {
		/* still inside the start callback: answer through its return */
		c->start_code = code;
		snprintf(c->start_text, sizeof(c->start_text), "%s", text);
		tun_reset(c);
		return;
	}
	if (c->tun_via == TUN_VIA_START)
		rc = beep_session_start_refuse(c->bs, c->tun_ch, code, text);
	else {
		char doc[700];
		int n = snprintf(doc, sizeof(doc), "<error code='%03u'>", code);
		size_t i;

		/* escape the text: it may carry the next hop's words */
		for (i = 0; text[i] != '\0' && (size_t)n + 8 < sizeof(doc); i++) {
			switch (text[i]) {
			case '<': n += snprintf(doc + n, sizeof(doc) - (size_t)n, "&lt;"); break;
			case '>': n += snprintf(doc + n, sizeof(doc) - (size_t)n, "&gt;"); break;
			case '&': n += snprintf(doc + n, sizeof(doc) - (size_t)n, "&amp;"); break;
			default: doc[n++] = text[i];
			}
		}
		n += snprintf(doc + n, sizeof(doc) - (size_t)n, "</error>");
		rc = beep_session_reply(c->bs, c->tun_ch, c->tun_msgno, BEEP_ERR, BEEP_CT_BEEPXML,
		                        (const uint8_t *)doc, (size_t)n, 0);
	}
	if (rc != 0)
		beep_session_abort(c->bs, "cannot send a TUNNEL refusal");
	tun_reset(c);
	beepio_kick(c->io);
}

/* The destination is connected (and, for a chain, has said <ok/>): send our
 * <ok/> and detach; beepio hands over once it is written. */
static void
tun_accept(struct beep_conn *c)
{
	int rc;

	if (c->tun_via == TUN_VIA_START)
		rc = beep_session_start_accept(c->bs, c->tun_ch, (const uint8_t *)OK_ELEM,
		                               strlen(OK_ELEM), true, BEEP_REPLY_DETACH);
	else
		rc = beep_session_reply_then_detach(c->bs, c->tun_ch, c->tun_msgno, BEEP_RPY,
		                                    BEEP_CT_BEEPXML, (const uint8_t *)OK_ELEM,
		                                    strlen(OK_ELEM));
	if (rc != 0) {
		session_close(c->s, "cannot send the TUNNEL <ok/>");
		return;
	}
	tun_audit(c, "ok", 200, "tunnel established");
	c->tunneled = true;
	metrics_tunnel_up(c->s->srv, c->tun_t0);
	beepio_kick(c->io);
}

static void
tun_nexthop_done(void *arg, const struct nexthop_result *r)
{
	struct beep_conn *c = arg;

	c->nh = NULL;
	if (!r->ok) {
		tun_refuse(c, r->code, "%s", r->text);
		return;
	}
	c->s->sfd = r->fd;
	if (r->nrest > 0) {
		if ((c->nh_rest = malloc(r->nrest)) == NULL) {
			session_close(c->s, "out of memory");
			return;
		}
		memcpy(c->nh_rest, r->rest, r->nrest);
		c->nh_nrest = r->nrest;
	}
	tun_accept(c);
}

static void tun_match_route(struct beep_conn *c);

static void
tun_connected(struct session *s, int fd, int result)
{
	struct beep_conn *c = s->proto;
	const struct tunnel_elem *inner;

	switch ((enum connector_result)result) {
	case CONNECTOR_OK:
		break;
	case CONNECTOR_REFUSED:
		c->decision = TUN_DEC_DENY;
		tun_refuse(c, 537, "destination not authorized");
		return;
	case CONNECTOR_RESOLVE:
		tun_refuse(c, 450, "destination name does not resolve");
		return;
	case CONNECTOR_UNREACHABLE:
	case CONNECTOR_TIMEOUT:
		tun_refuse(c, 450, "destination not reachable");
		return;
	case CONNECTOR_RESOURCE:
		tun_refuse(c, 421, "relay out of resources");
		return;
	case CONNECTOR_TLS:
		tun_refuse(c, 450, "TLS with the next hop failed");
		return;
	}
	inner = c->elem->inner;
	if (inner == NULL) {
		/* a non-BEEP final hop: <ok/> as soon as it is connected */
		tun_accept(c);
		return;
	}
	tun_match_route(c);
	session_set_state(s, SESSION_NEXTHOP);
	s->sfd = -1;            /* the nexthop owns it until its <ok/> */
	c->nh = nexthop_start(s->srv->base, fd, s->dst, c->route, inner, s->id,
	                      tun_nexthop_done, c);
	if (c->nh == NULL) {
		close(fd);
		tun_refuse(c, 421, "relay out of resources");
		return;
	}
	if (s->tls[1] != NULL)
		nexthop_set_endpoint(c->nh, &tlsconn_pump_ops, s->tls[1], tlsconn_bits(s->tls[1]));
}

/* Source routed toward another relay: the configured route to the same
 * relay, if there is one, gives its credentials and TLS. */
static void
tun_match_route(struct beep_conn *c)
{
	const struct catalog *cat = &c->s->conf->catalog;
	const char *h = c->elem->kind == TUN_IP4 ? c->elem->ip4 :
	                c->elem->kind == TUN_IP6 ? c->elem->ip6 : c->elem->fqdn;
	size_t i;

	if (c->route != NULL || c->elem->inner == NULL || h == NULL)
		return;
	for (i = 0; i < cat->nroutes; i++)
		if (!cat->routes[i].tcpmux && cat->routes[i].port == c->elem->port &&
		    strcasecmp(cat->routes[i].host, h) == 0)
			c->route = &cat->routes[i];
}

static bool
tun_policy_check(void *arg, const struct addr *a, uint16_t port)
{
	struct session *s = arg;
	struct beep_conn *c = s->proto;
	struct policy_request req;
	struct policy_decision dec;

	memset(&req, 0, sizeof(req));
	req.user = s->user;
	req.cert = s->cert;
	req.source = &s->src;
	req.kind = PREQ_ADDRESS;
	req.host = c->elem->kind == TUN_FQDN_PORT || c->elem->kind == TUN_FQDN_SRV ?
	           c->elem->fqdn : NULL;
	req.dest = a;
	req.port = port;
	policy_decide(&s->conf->policy, &req, &dec);
	session_audit(s, &req, &dec);
	if (dec.action == POLICY_PASS)
		c->decision = TUN_DEC_PASS;
	else if (c->decision == TUN_DEC_NONE)
		c->decision = TUN_DEC_DENY;
	return dec.action == POLICY_PASS;
}

static bool
tun_service_allowed(struct beep_conn *c, const struct catalog_service *svc,
                    enum policy_object_kind via)
{
	struct policy_request req;
	struct policy_decision dec;

	memset(&req, 0, sizeof(req));
	req.user = c->s->user;
	req.cert = c->s->cert;
	req.source = &c->s->src;
	req.kind = PREQ_SERVICE;
	req.via = via;
	req.service = svc->name;
	policy_decide(&c->s->conf->policy, &req, &dec);
	session_audit(c->s, &req, &dec);
	c->decision = dec.action == POLICY_PASS ? TUN_DEC_PASS : TUN_DEC_DENY;
	return dec.action == POLICY_PASS;
}

/* Rewrites a catalog service into what to connect and what to send on. */
static int
tun_route_service(struct beep_conn *c, const struct catalog_service *svc,
                  const char **host, uint16_t *port)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *inner = NULL;
	const struct catalog_route *r;

	switch (svc->kind) {
	case SVC_CONNECT:
		*host = svc->host;
		*port = svc->port;
		tunnel_elem_free(c->elem->inner);
		c->elem->inner = NULL;          /* a final hop: no greeting expected */
		return 0;
	case SVC_BEEP:
		return -1;
	case SVC_ROUTE:
		break;
	}
	if ((r = catalog_find_route(&c->s->conf->catalog, svc->route)) == NULL || r->tcpmux)
		return -1;
	memset(&err, 0, sizeof(err));
	switch (svc->next.kind) {
	case NEXT_ENDPOINT:
		inner = tunnel_elem_new_endpoint(svc->next.value, &err);
		break;
	case NEXT_PROFILE:
		inner = tunnel_elem_new_profile(svc->next.value, &err);
		break;
	case NEXT_EMPTY:
		inner = tunnel_elem_new_empty(&err);
		break;
	case NEXT_HOST: {
		struct tunnel_elem *fin = svc->next.beep ? tunnel_elem_new_empty(&err) : NULL;
		struct addr a;

		if (addr_parse(svc->next.value, &a))
			inner = tunnel_elem_new_ip(svc->next.value, svc->next.port, fin, &err);
		else
			inner = tunnel_elem_new_fqdn(svc->next.value, NULL, svc->next.port, fin, &err);
		if (inner == NULL)
			tunnel_elem_free(fin);
		break;
	}
	case NEXT_TCPMUX:
		return -1;
	}
	if (inner == NULL)
		return -1;
	tunnel_elem_free(c->elem->inner);
	c->elem->inner = inner;
	c->route = r;
	*host = r->host;
	*port = r->port;
	return 0;
}

/* The fqdn+port route: for TUN_FQDN_PORT, and for TUN_FQDN_SRV when the SRV
 * look-up failed and the element has a port (RFC 3620 sec. 4). */
static void
tun_connect_fqdn(struct beep_conn *c)
{
	struct session *s = c->s;

	snprintf(s->dst, sizeof(s->dst), "%s:%u", c->elem->fqdn, c->elem->port);
	if (session_connect_checked(s, c->elem->fqdn, c->elem->port, tun_policy_check,
	                            tun_connected) != 0)
		tun_refuse(c, 421, "relay out of resources");
}

static void tun_srv_next(struct beep_conn *c);

/* One SRV target tried: on failure, the next one; after the last, the
 * failure of the whole (policy refusal wins: 537). */
static void
tun_srv_connected(struct session *s, int fd, int result)
{
	struct beep_conn *c = s->proto;

	if (result == CONNECTOR_OK || result == CONNECTOR_RESOURCE) {
		free(c->srv_t);
		c->srv_t = NULL;
		tun_connected(s, fd, result);
		return;
	}
	if (result == CONNECTOR_REFUSED)
		c->srv_refused = true;
	log_debug("session=%llx SRV target %s:%u: %s", (unsigned long long)s->id,
	        c->srv_t[c->srv_i - 1].host, c->srv_t[c->srv_i - 1].port,
	        connector_result_str((enum connector_result)result));
	if (c->srv_i < c->srv_n) {
		tun_srv_next(c);
		return;
	}
	free(c->srv_t);
	c->srv_t = NULL;
	tun_connected(s, -1, c->srv_refused ? CONNECTOR_REFUSED : result);
}

static void
tun_srv_next(struct beep_conn *c)
{
	struct session *s = c->s;
	const struct srv_target *t = &c->srv_t[c->srv_i++];

	/* (a long name is cut in the log, never in the look-up) */
	if ((size_t)snprintf(s->dst, sizeof(s->dst), "%s:%u", t->host, t->port) >= sizeof(s->dst))
		s->dst[sizeof(s->dst) - 2] = '~';
	if (session_connect_checked(s, t->host, t->port, tun_policy_check,
	                            tun_srv_connected) != 0)
		tun_refuse(c, 421, "relay out of resources");
}

static void
tun_srv_done(void *arg, enum srvrec_status st, const struct srv_target *t, size_t n,
             const char *why)
{
	struct beep_conn *c = arg;

	c->srvq = NULL;
	switch (st) {
	case SRVREC_OK:
		if ((c->srv_t = calloc(n, sizeof(*t))) == NULL) {
			tun_refuse(c, 421, "relay out of resources");
			return;
		}
		memcpy(c->srv_t, t, n * sizeof(*t));
		c->srv_n = n;
		c->srv_i = 0;
		c->srv_refused = false;
		tun_srv_next(c);
		return;
	case SRVREC_NOSERVICE:
		/* an answer, not a failure: no fallback to the port */
		tun_refuse(c, 450, "%s.%s: %s", c->elem->srv, c->elem->fqdn, why);
		return;
	case SRVREC_NONE:
	case SRVREC_SERVFAIL:
	case SRVREC_TRUNCATED:
	case SRVREC_FOREIGN:
	case SRVREC_BAD:
		break;
	}
	log_debug("session=%llx SRV look-up of %s.%s: %s%s", (unsigned long long)c->s->id,
	          c->elem->srv,
	        c->elem->fqdn, why, c->elem->has_port ? "; using the port" : "");
	if (c->elem->has_port) {
		tun_connect_fqdn(c);
		return;
	}
	tun_refuse(c, 450, "SRV look-up of %s.%s failed: %s", c->elem->srv, c->elem->fqdn, why);
}

static void
tun_srv_lookup(struct beep_conn *c)
{
	struct session *s = c->s;
	char qname[SRVREC_NAME_MAX];

	snprintf(s->dst, sizeof(s->dst), "%s.%s", c->elem->srv, c->elem->fqdn);
	if (s->conf->nnameservers == 0) {
		if (c->elem->has_port) {
			tun_connect_fqdn(c);
			return;
		}
		tun_refuse(c, 450, "no nameserver is configured for SRV look-ups");
		return;
	}
	if ((size_t)snprintf(qname, sizeof(qname), "%s.%s", c->elem->srv,
	                     c->elem->fqdn) >= sizeof(qname)) {
		tun_refuse(c, 501, "SRV name too long");
		return;
	}
	session_set_state(s, SESSION_CONNECTING);
	c->srvq = srvquery_start(s->srv->base, s->conf->nameservers, s->conf->nnameservers,
	                         qname, tun_srv_done, c);
	if (c->srvq == NULL)
		tun_refuse(c, 421, "relay out of resources");
}

static void
tun_route(struct beep_conn *c)
{
	struct session *s = c->s;
	const struct catalog_service *svc = NULL;
	const char *host = NULL;
	uint16_t port = 0;
	enum policy_object_kind via = POBJ_ENDPOINT;
	const struct conf_tls *tls;

	tunnel_elem_describe(c->elem, c->canon, sizeof(c->canon));
	switch (c->elem->kind) {
	case TUN_FQDN_SRV:
		if (s->conf->policy.catalog_only) {
			c->decision = TUN_DEC_DENY;
			tun_refuse(c, 554, "source routing refused: use a catalog endpoint or profile");
			return;
		}
		tun_srv_lookup(c);
		return;
	case TUN_FQDN_PORT:
	case TUN_IP4:
	case TUN_IP6:
		if (s->conf->policy.catalog_only) {
			c->decision = TUN_DEC_DENY;
			tun_refuse(c, 554, "source routing refused: use a catalog endpoint or profile");
			return;
		}
		host = c->elem->kind == TUN_IP4 ? c->elem->ip4 :
		       c->elem->kind == TUN_IP6 ? c->elem->ip6 : c->elem->fqdn;
		port = c->elem->port;
		break;
	case TUN_PROFILE:
		via = POBJ_PROFILE;
		svc = catalog_find_profile(&s->conf->catalog, c->elem->profile);
		break;
	case TUN_ENDPOINT:
		svc = catalog_find_endpoint(&s->conf->catalog, c->elem->endpoint);
		break;
	case TUN_EMPTY:
		svc = catalog_find_final(&s->conf->catalog);
		if (svc == NULL) {
			tun_refuse(c, 550, "this relay hosts no BEEP service; name a destination");
			return;
		}
		via = POBJ_SERVICE;
		break;
	}
	if (host == NULL) {
		/* unknown and forbidden names get the same answer */
		if (svc == NULL || !tun_service_allowed(c, svc, via) ||
		    tun_route_service(c, svc, &host, &port) != 0) {
			c->decision = TUN_DEC_DENY;
			tun_refuse(c, 537, "no such service, or not authorized");
			return;
		}
		snprintf(s->dst, sizeof(s->dst), "%s:%s", via == POBJ_PROFILE ? "profile" :
		         via == POBJ_SERVICE ? "final" : "endpoint", svc->name);
	} else
		snprintf(s->dst, sizeof(s->dst), "%s:%u", host, port);
	tun_match_route(c);
	tls = c->route != NULL ? c->route->tls : NULL;
	if (session_connect_tls(s, host, port, tls, tls != NULL && tls->verify_name != NULL ?
	                        tls->verify_name : host, svc == NULL ? tun_policy_check : NULL,
	                        tun_connected) != 0)
		tun_refuse(c, 421, "relay out of resources");
}

/* A <tunnel> element arrived (in <start> or as the first MSG). */
static void
tun_request(struct beep_conn *c, const uint8_t *xml, size_t len)
{
	struct tunnel_elem_error err;

	memset(&err, 0, sizeof(err));
	c->tun_t0 = metrics_clock();
	c->decision = TUN_DEC_NONE;
	snprintf(c->canon, sizeof(c->canon), "-");
	if (tunnel_elem_parse(xml, len, c->s->conf->limits.max_hops, &c->elem, &err) != 0) {
		tun_refuse(c, err.code ? err.code : 500, "%s", err.text);
		return;
	}
	if (!c->user_slot) {
		if (limits_user_acquire(c->s->srv->limits, c->s->user,
		                        c->s->conf->limits.max_tunnels_per_user) != LIMITS_OK) {
			tunnel_elem_describe(c->elem, c->canon, sizeof(c->canon));
			metrics_user_limit(c->s->srv);
			tun_refuse(c, 421, "too many tunnels for this user");
			return;
		}
		c->user_slot = true;
	}
	tun_route(c);
}

static void
tun_message(struct beep_session *bs, void *arg, const struct beep_msg *m)
{
	struct beep_conn *c = arg;

	(void)bs;
	if (c->tun_busy) {
		/* the element came in <start>, or one is being served */
		metrics_tunnel_refused(c->s->srv, 550);
		tun_audit_early(c, 550, "a tunnel request is already in progress");
		(void)beep_session_reply(c->bs, m->channel, m->msgno, BEEP_ERR, BEEP_CT_BEEPXML,
		                         (const uint8_t *)"<error code='550'>a tunnel request is "
		                         "already in progress</error>", 66, 0);
		beepio_kick(c->io);
		return;
	}
	c->tun_busy = true;
	c->tun_via = TUN_VIA_RPY;
	c->tun_ch = m->channel;
	c->tun_msgno = m->msgno;
	tun_request(c, m->body, m->len);
}

static enum beep_start_verdict
tun_start(struct beep_session *bs, void *arg, const struct beep_start_req *req,
          struct beep_start_answer *ans)
{
	struct beep_conn *c = arg;

	(void)bs;
	ans->chan_arg = c;
	if (c->s->user == NULL) {
		ans->code = 530;
		ans->text = "authentication required";
		metrics_tunnel_refused(c->s->srv, ans->code);
		tun_audit_early(c, ans->code, ans->text);
		return BEEP_START_ERROR;
	}
	if (!auth_sasl_server_may_tunnel(c->sasl)) {
		ans->code = 537;
		ans->text = "anonymous users may not tunnel";
		metrics_tunnel_refused(c->s->srv, ans->code);
		tun_audit_early(c, ans->code, ans->text);
		return BEEP_START_ERROR;
	}
	if (c->tun_busy) {
		ans->code = 550;
		ans->text = "a tunnel request is already in progress";
		metrics_tunnel_refused(c->s->srv, ans->code);
		tun_audit_early(c, ans->code, ans->text);
		return BEEP_START_ERROR;
	}
	if (!req->has_piggyback)
		return BEEP_START_OK;      /* the element follows as a MSG */
	c->tun_busy = true;
	c->tun_via = TUN_VIA_START;
	c->tun_ch = req->channel;
	c->in_start = true;
	c->start_code = 0;
	tun_request(c, req->piggyback, req->piggyback_len);
	c->in_start = false;
	if (c->start_code != 0) {
		ans->code = c->start_code;
		ans->text = c->start_text;
		return BEEP_START_ERROR;
	}
	return BEEP_START_DEFER;    /* answered when the destination is reached */
}

/* ---- SASL (server side) ---------------------------------------------------- */

static int
sasl_reply_doc(struct beep_conn *c, char *doc, size_t cap, enum auth_sasl_result r,
               const uint8_t *out, size_t outlen)
{
	size_t n = beep_blob_write(r == AUTH_SASL_OK ? BEEP_BLOB_COMPLETE : BEEP_BLOB_CONTINUE,
	                           out, outlen, out != NULL, doc, cap);

	(void)c;
	return n == 0 ? -1 : (int)n;
}

static void
sasl_failed(struct beep_conn *c)
{
	struct session *s = c->s;
	char src[LOG_ADDRSTRLEN];

	c->failures++;
	metrics_auth(s->srv, c->mechs[0], false);
	log_limited(&rl_auth, LOG_NOTICE, "auth session=%llx src=%s mech=%s failed: %s",
	            (unsigned long long)s->id, session_src(s, src, sizeof(src)),
	            c->mechs[0][0] ? c->mechs[0] : "-", auth_sasl_server_reason(c->sasl));
	(void)limits_auth_failure(s->srv->limits, &s->src, now_ms(),
	                          s->conf->sasl.penalty_failures, s->conf->sasl.penalty_seconds,
	                          s->conf->sasl.penalty_seconds);
	auth_sasl_server_free(c->sasl);
	c->sasl = NULL;
	c->sasl_busy = false;
	if (c->failures >= s->conf->sasl.max_failures)
		beepio_close_after_flush(c->io, "too many authentication failures");
}

static void
sasl_succeeded(struct beep_conn *c)
{
	struct session *s = c->s;
	char src[LOG_ADDRSTRLEN];

	c->sasl_busy = false;
	free(s->user);
	s->user = strdup(auth_sasl_server_user(c->sasl));
	log_info("auth session=%llx src=%s user=%s mech=%s ok", (unsigned long long)s->id,
	         session_src(s, src, sizeof(src)), s->user ? s->user : "?",
	         auth_sasl_server_mech(c->sasl));
	metrics_auth(s->srv, auth_sasl_server_mech(c->sasl), true);
	if (s->user == NULL)
		session_close(s, "out of memory");
}

static bool
sasl_new_server(struct beep_conn *c)
{
	char err[AUTH_SASL_ERR_MAX], local[64], remote[64];

	if (c->sasl != NULL)
		return true;
	snprintf(local, sizeof(local), "%s", "");
	session_src(c->s, remote, sizeof(remote));
	/* TLS below BEEP: PLAIN/LOGIN may be offered, and EXTERNAL with a
	 * verified client certificate (its subject CN is the identity) */
	c->sasl = auth_sasl_server_new("beepgate", NULL, NULL, tlsconn_bits(c->s->tls[0]),
	                               c->s->cert, err, sizeof(err));
	if (c->sasl == NULL) {
		log_err("session=%llx SASL: %s", (unsigned long long)c->s->id, err);
		return false;
	}
	(void)local;
	return true;
}

static enum beep_start_verdict
sasl_start(struct beep_session *bs, void *arg, const struct beep_start_req *req,
           struct beep_start_answer *ans)
{
	struct beep_conn *c = arg;
	struct beep_blob blob;
	const char *err = NULL, *mech = req->uri + strlen(SASL_URI_PFX);
	const uint8_t *out = NULL;
	size_t outlen = 0;
	enum auth_sasl_result r;
	static char doc[BEEP_BLOB_DOC_MAX];
	int n;

	(void)bs;
	ans->chan_arg = c;
	if (c->s->user != NULL || c->sasl_busy) {
		ans->code = 550;
		ans->text = c->s->user ? "already authenticated" : "an authentication is in progress";
		return BEEP_START_ERROR;
	}
	if (limits_auth_penalized(c->s->srv->limits, &c->s->src, now_ms(), NULL)) {
		ans->code = 454;
		ans->text = "temporary authentication failure; try later";
		return BEEP_START_ERROR;
	}
	memset(&blob, 0, sizeof(blob));
	if (req->has_piggyback && beep_blob_parse(req->piggyback, req->piggyback_len, &blob,
	                                          &err) != 0) {
		ans->code = 501;
		ans->text = err;
		return BEEP_START_ERROR;
	}
	if (!sasl_new_server(c)) {
		ans->code = 454;
		ans->text = "temporary authentication failure";
		return BEEP_START_ERROR;
	}
	snprintf(c->mechs[0], sizeof(c->mechs[0]), "%s", mech);
	r = auth_sasl_server_start(c->sasl, mech, blob.data, blob.len,
	                           req->has_piggyback && blob.has_data, &out, &outlen);
	if (r == AUTH_SASL_FAIL) {
		ans->code = 535;
		ans->text = "authentication failure";
		sasl_failed(c);
		return BEEP_START_ERROR;
	}
	n = sasl_reply_doc(c, doc, sizeof(doc), r, out, outlen);
	if (n < 0) {
		ans->code = 421;
		ans->text = "SASL data too long";
		return BEEP_START_ERROR;
	}
	ans->has_piggyback = true;
	ans->piggyback = (const uint8_t *)doc;
	ans->piggyback_len = (size_t)n;
	c->sasl_ch = req->channel;
	if (r == AUTH_SASL_OK)
		sasl_succeeded(c);
	else
		c->sasl_busy = true;
	return BEEP_START_OK;
}

static void
sasl_message(struct beep_session *bs, void *arg, const struct beep_msg *m)
{
	struct beep_conn *c = arg;
	struct beep_blob blob;
	const char *err = NULL;
	const uint8_t *out = NULL;
	size_t outlen = 0;
	enum auth_sasl_result r;
	char doc[BEEP_BLOB_DOC_MAX];
	int n;

#define SASL_ERR(code, text) do { \
	static const char e_[] = "<error code='" #code "'>" text "</error>"; \
	(void)beep_session_reply(bs, m->channel, m->msgno, BEEP_ERR, BEEP_CT_BEEPXML, \
	                         (const uint8_t *)e_, sizeof(e_) - 1, 0); \
} while (0)

	if (beep_blob_parse(m->body, m->len, &blob, &err) != 0) {
		SASL_ERR(501, "invalid SASL message");
		goto out;
	}
	if (!c->sasl_busy || c->sasl == NULL) {
		SASL_ERR(550, "no authentication in progress");
		goto out;
	}
	if (blob.status == BEEP_BLOB_ABORT) {
		auth_sasl_server_abort(c->sasl);
		auth_sasl_server_free(c->sasl);
		c->sasl = NULL;
		c->sasl_busy = false;
		n = (int)beep_blob_write(BEEP_BLOB_ABORT, NULL, 0, false, doc, sizeof(doc));
		(void)beep_session_reply(bs, m->channel, m->msgno, BEEP_RPY, BEEP_CT_BEEPXML,
		                         (const uint8_t *)doc, (size_t)n, 0);
		goto out;
	}
	r = auth_sasl_server_step(c->sasl, blob.data, blob.len, &out, &outlen);
	if (r == AUTH_SASL_FAIL) {
		SASL_ERR(535, "authentication failure");
		sasl_failed(c);
		goto out;
	}
	n = sasl_reply_doc(c, doc, sizeof(doc), r, out, outlen);
	if (n < 0) {
		SASL_ERR(421, "SASL data too long");
		goto out;
	}
	(void)beep_session_reply(bs, m->channel, m->msgno, BEEP_RPY, BEEP_CT_BEEPXML,
	                         (const uint8_t *)doc, (size_t)n, 0);
	if (r == AUTH_SASL_OK)
		sasl_succeeded(c);
out:
	beepio_kick(c->io);
#undef SASL_ERR
}

/* ---- the session ------------------------------------------------------------ */

static void
conn_detached(void *arg, const uint8_t *rest, size_t n)
{
	struct beep_conn *c = arg;
	struct session *s = c->s;
	uint8_t *nrest = c->nh_rest;
	size_t nn = c->nh_nrest;

	c->nh_rest = NULL;
	c->nh_nrest = 0;
	if (session_start_pump(s, rest, n, nrest, nn) != 0)
		session_close(s, "cannot start the pump");
	else
		beep_conn_handover(c);      /* frees rest: the pump has its copy */
	free(nrest);
}

static void
conn_ended(void *arg, const char *reason)
{
	struct beep_conn *c = arg;
	char src[LOG_ADDRSTRLEN], why[256];

	if (beep_session_state(c->bs) == BEEP_SS_FAILED &&
	    beep_session_fail_code(c->bs) != BEEP_FAIL_LOCAL)
		log_limited(&rl_proto, LOG_NOTICE, "beep session=%llx src=%s: %s",
		            (unsigned long long)c->s->id, session_src(c->s, src, sizeof(src)),
		            reason);
	/* reason may live in the BEEP session, which session_close frees */
	snprintf(why, sizeof(why), "%s", reason);
	session_close(c->s, why);
}

/* The set-up deadline: a pending request gets its error (RFC 3620 450)
 * before the session is closed, written out at once as far as the socket
 * takes it. */
static void
beep_conn_deadline(struct session *s)
{
	struct beep_conn *c = s->proto;

	if (c == NULL || !c->tun_busy || c->tunneled)
		return;
	tun_refuse(c, 450, "no answer from the destination within the set-up deadline");
	beepio_write_out(c->io);
}

static const struct beepio_ops conn_io_ops = {
	.detached = conn_detached,
	.ended = conn_ended,
};

void
beep_conn_start(struct session *s, const uint8_t *pre, size_t npre)
{
	struct beep_conn *c;
	struct beep_profile profiles[1 + AUTH_SASL_MECHS_MAX];
	struct beep_session_config cfg;
	char uris[AUTH_SASL_MECHS_MAX][sizeof(SASL_URI_PFX) + AUTH_SASL_MECH_NAME_MAX];
	const char *names[AUTH_SASL_MECHS_MAX];
	size_t i, n = 0, np = 0;
	size_t used;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	c->s = s;
	s->proto = c;
	s->proto_free = beep_conn_free;
	session_set_state(s, SESSION_BEEP);
	s->on_deadline = beep_conn_deadline;
	session_arm_deadline(s, s->conf->timeouts.handshake);
	memset(profiles, 0, sizeof(profiles));
	/* Offer exactly the mechanisms that may succeed on this session. */
	if (sasl_new_server(c))
		n = auth_sasl_server_mechs(c->sasl, names, AUTH_SASL_MECHS_MAX);
	for (i = 0; i < n; i++) {
		snprintf(uris[i], sizeof(uris[i]), "%s%s", SASL_URI_PFX, names[i]);
		profiles[np].uri = uris[i];
		profiles[np].advertise = true;
		profiles[np].start = sasl_start;
		profiles[np].ops.message = sasl_message;
		profiles[np].arg = c;
		np++;
	}
	profiles[np].uri = TUNNEL_URI;
	profiles[np].advertise = true;
	profiles[np].start = tun_start;
	profiles[np].ops.message = tun_message;
	profiles[np].arg = c;
	np++;
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = BEEP_LISTENER;
	cfg.profiles = profiles;
	cfg.nprofiles = np;
	cfg.max_message = s->conf->limits.beep_message;
	cfg.max_channels = s->conf->limits.beep_channels;
	if ((c->bs = beep_session_new(&cfg)) == NULL ||
	    (c->io = beepio_new(s->srv->base, s->cfd, c->bs, &conn_io_ops, c)) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	{
		void *ectx;
		const struct pump_endpoint_ops *eops = session_endpoint(s, 0, &ectx);

		if (eops != NULL)
			beepio_set_endpoint(c->io, eops, ectx);
	}
	if (npre > 0) {
		/* bytes that followed the TCPMUX line: BEEP from the client */
		if (beep_session_input(c->bs, pre, npre, &used) != BEEP_IN_OK) {
			beepio_kick(c->io);
			return;
		}
	}
	beepio_kick(c->io);
}
