#include "relay/metrics.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "policy/limits.h"
#include "policy/policy.h"
#include "relay/config.h"
#include "relay/limits.h"
#include "relay/log.h"
#include "relay/pump.h"
#include "relay/server.h"
#include "relay/session.h"
#include "tunnel/beep_session.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CODES        1000     /* BEEP reply codes are three digits */

/* Tunnel set-up latency buckets, microseconds (1 ms ... 5 s). */
static const uint64_t metrics_buckets_us[] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000
};
#define METRICS_NBUCKETS (sizeof(metrics_buckets_us) / sizeof(metrics_buckets_us[0]))

/* One label value (or a file:line pair) with up to two counts. */
struct metrics_entry {
	char     *key;
	int       line;
	uint64_t  n[2];
};

/* A bounded family: past BG_METRICS_LABELS_MAX values, counts go to
 * `overflow` (shown with the label value "other"). */
struct metrics_table {
	struct metrics_entry *v;
	size_t                n, cap;
	uint64_t              overflow[2];
};

struct metrics {
	struct server        *srv;
	struct evhttp        *http;
	struct addr           addr;       /* where the admin listener is bound */
	uint16_t              port;
	time_t                started;
	struct metrics_table  rules;      /* key file, line; n[action] */
	struct metrics_table  implicit;   /* key reason; n[0] */
	struct metrics_table  auth;       /* key mechanism; n[0] ok, n[1] failed */
	struct metrics_table  tcpmux;     /* key service; n[0] accepted, n[1] refused */
	uint64_t              tcpmux_unknown;
	uint64_t              refused[METRICS_CODES];
	uint64_t              tunnels_total, tunnels_active;
	uint64_t              latency[METRICS_NBUCKETS + 1];
	uint64_t              latency_sum_us;
	uint64_t              user_limit;
	uint64_t              admin_requests;
};

/* ---- counters ------------------------------------------------------------- */

uint64_t
metrics_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The entry for key/line, created on first use; NULL when the table is full
 * (or out of memory): the caller counts into overflow. */
static struct metrics_entry *
metrics_table_get(struct metrics_table *t, const char *key, int line)
{
	struct metrics_entry *e;
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].line == line && strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	if (t->n >= BG_METRICS_LABELS_MAX)
		return NULL;
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;

		if ((e = realloc(t->v, ncap * sizeof(*e))) == NULL)
			return NULL;
		t->v = e;
		t->cap = ncap;
	}
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	if ((e->key = strdup(key)) == NULL)
		return NULL;
	e->line = line;
	t->n++;
	return e;
}

static void
metrics_table_count(struct metrics_table *t, const char *key, int line, int which)
{
	struct metrics_entry *e = metrics_table_get(t, key, line);

	if (e != NULL)
		e->n[which]++;
	else
		t->overflow[which]++;
}

static void
metrics_table_free(struct metrics_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].key);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

void
metrics_auth(struct server *srv, const char *mech, bool ok)
{
	if (srv->metrics == NULL)
		return;
	metrics_table_count(&srv->metrics->auth, mech != NULL && *mech ? mech : "-", 0,
	                    ok ? 0 : 1);
}

void
metrics_policy(struct server *srv, const struct policy_decision *dec)
{
	if (srv->metrics == NULL)
		return;
	if (dec->rule != NULL)
		metrics_table_count(&srv->metrics->rules,
		                    dec->rule->file != NULL ? dec->rule->file : "-",
		                    dec->rule->line, dec->action == POLICY_PASS ? 1 : 0);
	else
		metrics_table_count(&srv->metrics->implicit,
		                    dec->reason != NULL ? dec->reason : "-", 0, 0);
}

void
metrics_tunnel_refused(struct server *srv, unsigned code)
{
	if (srv->metrics == NULL)
		return;
	srv->metrics->refused[code < METRICS_CODES ? code : 0]++;
}

void
metrics_tunnel_up(struct server *srv, uint64_t started)
{
	struct metrics *m = srv->metrics;
	uint64_t now = metrics_clock(), us = now > started ? now - started : 0;
	size_t i;

	if (m == NULL)
		return;
	m->tunnels_total++;
	m->tunnels_active++;
	m->latency_sum_us += us;
	for (i = 0; i < METRICS_NBUCKETS && us > metrics_buckets_us[i]; i++)
		;
	m->latency[i]++;
}

void
metrics_tunnel_down(struct server *srv)
{
	if (srv->metrics != NULL && srv->metrics->tunnels_active > 0)
		srv->metrics->tunnels_active--;
}

void
metrics_tcpmux(struct server *srv, const char *service, bool accepted)
{
	if (srv->metrics == NULL)
		return;
	if (service == NULL)
		srv->metrics->tcpmux_unknown++;
	else
		metrics_table_count(&srv->metrics->tcpmux, service, 0, accepted ? 0 : 1);
}

void
metrics_user_limit(struct server *srv)
{
	if (srv->metrics != NULL)
		srv->metrics->user_limit++;
}

/* ---- the exposition format ---------------------------------------------- */

size_t
metrics_escape_label(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	const char *rep;
	char one[2] = { 0, 0 };

	for (; *in != '\0'; in++) {
		switch (*in) {
		case '\\': rep = "\\\\"; break;
		case '"':  rep = "\\\""; break;
		case '\n': rep = "\\n"; break;
		default:   one[0] = *in; rep = one; break;
		}
		for (; *rep != '\0'; rep++, n++)
			if (cap > 0 && n < cap - 1)
				out[n] = *rep;
	}
	if (cap > 0)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

/* A label value, escaped, appended to out. */
static void
metrics_label(struct evbuffer *out, const char *v)
{
	char buf[512];
	size_t n = metrics_escape_label(v, buf, sizeof(buf));

	if (n < sizeof(buf)) {
		evbuffer_add(out, buf, n);
		return;
	} else {
		char *big = malloc(n + 1);

		if (big == NULL)
			return;
		metrics_escape_label(v, big, n + 1);
		evbuffer_add(out, big, n);
		free(big);
	}
}

static void
metrics_head(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_one(struct evbuffer *out, const char *name, const char *type, const char *help,
            uint64_t v)
{
	metrics_head(out, name, type, help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

/* name{label="value"} v */
static void
metrics_labelled(struct evbuffer *out, const char *name, const char *label, const char *value,
                 uint64_t v)
{
	evbuffer_add_printf(out, "%s{%s=\"", name, label);
	metrics_label(out, value);
	evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)v);
}

static const char *
metrics_fail_name(enum beep_fail f)
{
	switch (f) {
	case BEEP_FAIL_NONE:     return "none";
	case BEEP_FAIL_FRAME:    return "frame";
	case BEEP_FAIL_SEQNO:    return "seqno";
	case BEEP_FAIL_WINDOW:   return "window";
	case BEEP_FAIL_CHANNEL:  return "channel";
	case BEEP_FAIL_MSGNO:    return "msgno";
	case BEEP_FAIL_REPLY:    return "reply";
	case BEEP_FAIL_SEQUENCE: return "sequence";
	case BEEP_FAIL_GREETING: return "greeting";
	case BEEP_FAIL_CH0:      return "channel0";
	case BEEP_FAIL_PARITY:   return "parity";
	case BEEP_FAIL_SIZE:     return "size";
	case BEEP_FAIL_MIME:     return "mime";
	case BEEP_FAIL_LIMIT:    return "limit";
	case BEEP_FAIL_REFUSED:  return "refused";
	case BEEP_FAIL_TIMEOUT:  return "timeout";
	case BEEP_FAIL_LOCAL:    return "local";
	case BEEP_FAIL_COUNT:    break;
	}
	return "?";
}

/* What the live pumps hold: the largest queue per direction, heap in all. */
struct metrics_pumps {
	uint64_t queued_max[2];         /* c2s, s2c */
	uint64_t memory;
};

/* Sessions per state, and the bytes of the live ones. */
static void
metrics_census(struct server *srv, uint64_t *per_state, uint64_t *c2s, uint64_t *s2c,
               struct metrics_pumps *pumps)
{
	struct session *s;
	struct pump_stats st;

	*c2s = srv->stats.bytes_c2s;
	*s2c = srv->stats.bytes_s2c;
	memset(pumps, 0, sizeof(*pumps));
	TAILQ_FOREACH(s, &srv->sessions, entry) {
		per_state[s->state]++;
		if (s->pump != NULL) {
			pump_get_stats(s->pump, &st);
			*c2s += st.bytes_c2s;
			*s2c += st.bytes_s2c;
			if (st.buffered_c2s > pumps->queued_max[0])
				pumps->queued_max[0] = st.buffered_c2s;
			if (st.buffered_s2c > pumps->queued_max[1])
				pumps->queued_max[1] = st.buffered_s2c;
			pumps->memory += st.memory;
		}
	}
}

static void
metrics_render_table(struct evbuffer *out, const char *name, const struct metrics_table *t,
                     const char *label, const char *label2, const char *v0, const char *v1,
                     bool rules)
{
	size_t i;
	int k;
	const char *vals[2] = { v0, v1 };

	for (i = 0; i <= t->n; i++) {
		for (k = 0; k < 2; k++) {
			uint64_t n = i < t->n ? t->v[i].n[k] : t->overflow[k];

			/* a rule decides one way only: no zero series for the other */
			if (vals[k] == NULL || ((i == t->n || rules) && n == 0))
				continue;
			evbuffer_add_printf(out, "%s{%s=\"", name, label);
			if (i == t->n)
				evbuffer_add_printf(out, "other");
			else {
				metrics_label(out, t->v[i].key);
				if (rules)
					evbuffer_add_printf(out, ":%d", t->v[i].line);
			}
			if (label2 != NULL)
				evbuffer_add_printf(out, "\",%s=\"%s", label2, vals[k]);
			evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)n);
		}
	}
}

void
metrics_render(struct server *srv, struct evbuffer *out)
{
	struct metrics *m = srv->metrics;
	const struct server_stats *st = &srv->stats;
	uint64_t per_state[SESSION_CLOSED + 1], c2s, s2c, cum;
	struct metrics_pumps pumps;
	size_t i;
	int k;

	memset(per_state, 0, sizeof(per_state));
	metrics_census(srv, per_state, &c2s, &s2c, &pumps);

	metrics_head(out, "beepgate_sessions", "gauge", "Live sessions by state.");
	for (k = SESSION_ACCEPTED; k < SESSION_CLOSED; k++)
		metrics_labelled(out, "beepgate_sessions", "state",
		                 session_state_name((enum session_state)k), per_state[k]);
	metrics_one(out, "beepgate_sessions_accepted_total", "counter",
	            "Connections accepted on the listeners.", st->accepted);
	metrics_one(out, "beepgate_sessions_closed_total", "counter",
	            "Sessions that ended.", st->sessions_closed);
	metrics_head(out, "beepgate_limit_hits_total", "counter",
	             "Connections or requests refused by a limit.");
	metrics_labelled(out, "beepgate_limit_hits_total", "limit", "max-sessions",
	                 st->refused_global);
	metrics_labelled(out, "beepgate_limit_hits_total", "limit", "max-sessions-per-source",
	                 st->refused_source);
	metrics_labelled(out, "beepgate_limit_hits_total", "limit", "connection-rate",
	                 st->refused_rate);
	metrics_labelled(out, "beepgate_limit_hits_total", "limit", "max-tunnels-per-user",
	                 m != NULL ? m->user_limit : 0);
	metrics_one(out, "beepgate_accept_pauses_total", "counter",
	            "Times accepting was paused for want of descriptors.", st->accept_paused);
	metrics_head(out, "beepgate_bytes_total", "counter",
	             "Octets relayed (c2s: client to destination).");
	metrics_labelled(out, "beepgate_bytes_total", "direction", "c2s", c2s);
	metrics_labelled(out, "beepgate_bytes_total", "direction", "s2c", s2c);
	metrics_head(out, "beepgate_pump_queued_bytes_max", "gauge",
	             "The largest queue of one live tunnel, per direction (bound: limits buffer).");
	metrics_labelled(out, "beepgate_pump_queued_bytes_max", "direction", "c2s",
	                 pumps.queued_max[0]);
	metrics_labelled(out, "beepgate_pump_queued_bytes_max", "direction", "s2c",
	                 pumps.queued_max[1]);
	metrics_one(out, "beepgate_pump_memory_bytes", "gauge",
	            "Heap held by the live tunnels' pumps.", pumps.memory);
	metrics_one(out, "beepgate_reloads_total", "counter",
	            "Configuration reloads that took effect.", st->reloads);
	metrics_one(out, "beepgate_reload_failures_total", "counter",
	            "Configuration reloads refused (the old generation stayed).",
	            st->reload_failures);
	metrics_one(out, "beepgate_config_generation", "gauge",
	            "Configuration generation in use.", srv->conf->generation);
	metrics_one(out, "beepgate_draining", "gauge", "1 while stopping gracefully.",
	            srv->draining ? 1 : 0);
	metrics_one(out, "beepgate_worker", "gauge",
	            "The worker process serving these figures (workers N: worker 0).", srv->worker);
	if (srv->limits != NULL)
		metrics_one(out, "beepgate_sessions_all_workers", "gauge",
		            "Live sessions of every worker (what max-sessions counts).",
		            limits_global_count(srv->limits));

	if (m != NULL) {
		metrics_one(out, "beepgate_tunnels_active", "gauge",
		            "Established tunnels still open.", m->tunnels_active);
		metrics_one(out, "beepgate_tunnels_total", "counter",
		            "Tunnels established (<ok/> sent).", m->tunnels_total);
		metrics_head(out, "beepgate_tunnel_setup_seconds", "histogram",
		             "Time from a TUNNEL request to its <ok/>.");
		for (i = 0, cum = 0; i < METRICS_NBUCKETS; i++) {
			cum += m->latency[i];
			evbuffer_add_printf(out, "beepgate_tunnel_setup_seconds_bucket{le=\"%g\"} "
			                    "%llu\n", (double)metrics_buckets_us[i] / 1e6,
			                    (unsigned long long)cum);
		}
		cum += m->latency[METRICS_NBUCKETS];
		evbuffer_add_printf(out, "beepgate_tunnel_setup_seconds_bucket{le=\"+Inf\"} %llu\n"
		                    "beepgate_tunnel_setup_seconds_sum %.6f\n"
		                    "beepgate_tunnel_setup_seconds_count %llu\n",
		                    (unsigned long long)cum, (double)m->latency_sum_us / 1e6,
		                    (unsigned long long)cum);
		metrics_head(out, "beepgate_tunnel_refusals_total", "counter",
		             "TUNNEL requests refused, by the BEEP reply code sent.");
		for (i = 0; i < METRICS_CODES; i++)
			if (m->refused[i] != 0)
				evbuffer_add_printf(out, "beepgate_tunnel_refusals_total{code=\"%03zu\"} "
				                    "%llu\n", i, (unsigned long long)m->refused[i]);
		metrics_head(out, "beepgate_auth_total", "counter",
		             "SASL authentications by mechanism and result.");
		metrics_render_table(out, "beepgate_auth_total", &m->auth, "mechanism", "result",
		                     "success", "failure", false);
		metrics_head(out, "beepgate_policy_decisions_total", "counter",
		             "Policy decisions made by a rule (file:line).");
		metrics_render_table(out, "beepgate_policy_decisions_total", &m->rules, "rule",
		                     "decision", "block", "pass", true);
		metrics_head(out, "beepgate_policy_implicit_blocks_total", "counter",
		             "Policy blocks not made by a rule (no match, guards), by reason.");
		metrics_render_table(out, "beepgate_policy_implicit_blocks_total", &m->implicit,
		                     "reason", NULL, "", NULL, false);
		metrics_head(out, "beepgate_tcpmux_requests_total", "counter",
		             "TCPMUX requests for catalog services, by outcome.");
		metrics_render_table(out, "beepgate_tcpmux_requests_total", &m->tcpmux, "service",
		                     "outcome", "accepted", "refused", false);
		metrics_one(out, "beepgate_tcpmux_unknown_total", "counter",
		            "TCPMUX requests naming no catalog service.", m->tcpmux_unknown);
		metrics_one(out, "beepgate_admin_requests_total", "counter",
		            "HTTP requests to the admin listener.", m->admin_requests);
	}

	metrics_one(out, "beepgate_beep_sessions_total", "counter",
	            "BEEP sessions created (clients and next hops).",
	            beep_session_counters.sessions);
	metrics_head(out, "beepgate_beep_failures_total", "counter",
	             "BEEP sessions that failed, by category.");
	for (k = BEEP_FAIL_NONE + 1; k < BEEP_FAIL_COUNT; k++)
		metrics_labelled(out, "beepgate_beep_failures_total", "reason",
		                 metrics_fail_name((enum beep_fail)k), beep_session_counters.fail[k]);
}

void
metrics_render_status(struct server *srv, struct evbuffer *out)
{
	struct metrics *m = srv->metrics;
	const struct server_stats *st = &srv->stats;
	uint64_t per_state[SESSION_CLOSED + 1], c2s, s2c, now = metrics_clock();
	struct metrics_pumps pumps;
	struct session *s;
	char a[64], src[LOG_ADDRSTRLEN];
	size_t q1, q2;
	size_t i, listed = 0;
	int k;

	memset(per_state, 0, sizeof(per_state));
	metrics_census(srv, per_state, &c2s, &s2c, &pumps);
	evbuffer_add_printf(out, "beepgated pid %ld, up %llds, configuration generation %u (%s)%s\n",
	                    (long)getpid(), m != NULL ? (long long)(time(NULL) - m->started) : 0LL,
	                    srv->conf->generation, srv->conf->file ? srv->conf->file : "-",
	                    srv->draining ? ", stopping" : "");
	for (i = 0; i < srv->nlisteners; i++) {
		const struct listener *l = srv->listeners[i];

		if (l->fd < 0)
			continue;
		evbuffer_add_printf(out, "listening on %s%s%s port %u (%s)\n",
		                    l->addr.family == AF_INET6 ? "[" : "",
		                    addr_str(&l->addr, a, sizeof(a)),
		                    l->addr.family == AF_INET6 ? "]" : "", l->port,
		                    l->kind == LISTEN_FORWARD ? "forward" :
		                    l->kind == LISTEN_TUNNEL ? "tunnel" : "tcpmux");
	}
	if (m != NULL && m->http != NULL)
		evbuffer_add_printf(out, "admin on %s%s%s port %u\n",
		                    m->addr.family == AF_INET6 ? "[" : "",
		                    addr_str(&m->addr, a, sizeof(a)),
		                    m->addr.family == AF_INET6 ? "]" : "", m->port);
	evbuffer_add_printf(out, "sessions: %u live (limit %u);", srv->nsessions,
	                    srv->conf->limits.max_sessions);
	for (k = SESSION_ACCEPTED; k < SESSION_CLOSED; k++)
		evbuffer_add_printf(out, " %s %llu", session_state_name((enum session_state)k),
		                    (unsigned long long)per_state[k]);
	evbuffer_add_printf(out, "\nsessions: %llu accepted, %llu closed; refused: "
	                    "max-sessions %llu, per-source %llu, connection-rate %llu\n",
	                    (unsigned long long)st->accepted, (unsigned long long)st->sessions_closed,
	                    (unsigned long long)st->refused_global,
	                    (unsigned long long)st->refused_source,
	                    (unsigned long long)st->refused_rate);
	evbuffer_add_printf(out, "bytes: %llu client to destination, %llu back\n",
	                    (unsigned long long)c2s, (unsigned long long)s2c);
	if (m != NULL) {
		uint64_t ok = 0, bad = 0, refused = 0;

		for (i = 0; i < m->auth.n; i++) {
			ok += m->auth.v[i].n[0];
			bad += m->auth.v[i].n[1];
		}
		ok += m->auth.overflow[0];
		bad += m->auth.overflow[1];
		for (i = 0; i < METRICS_CODES; i++)
			refused += m->refused[i];
		evbuffer_add_printf(out, "tunnels: %llu active, %llu established, %llu refused\n",
		                    (unsigned long long)m->tunnels_active,
		                    (unsigned long long)m->tunnels_total,
		                    (unsigned long long)refused);
		evbuffer_add_printf(out, "authentication: %llu succeeded, %llu failed\n",
		                    (unsigned long long)ok, (unsigned long long)bad);
	}
	evbuffer_add_printf(out, "reloads: %llu (%llu failed); accept pauses: %llu%s\n",
	                    (unsigned long long)st->reloads, (unsigned long long)st->reload_failures,
	                    (unsigned long long)st->accept_paused,
	                    srv->accept_paused ? " (paused now)" : "");
	TAILQ_FOREACH(s, &srv->sessions, entry) {
		uint64_t b1 = s->bytes_c2s, b2 = s->bytes_s2c, t0;

		if (listed++ == BG_METRICS_STATUS_SESSIONS) {
			evbuffer_add_printf(out, "... and %u more\n",
			                    srv->nsessions - BG_METRICS_STATUS_SESSIONS);
			break;
		}
		q1 = q2 = 0;
		if (s->pump != NULL) {
			struct pump_stats ps;

			pump_get_stats(s->pump, &ps);
			b1 = ps.bytes_c2s;
			b2 = ps.bytes_s2c;
			q1 = ps.buffered_c2s;
			q2 = ps.buffered_s2c;
		}
		t0 = (uint64_t)s->started.tv_sec * 1000000 + (uint64_t)s->started.tv_nsec / 1000;
		evbuffer_add_printf(out, "session %llx %s %s user=", (unsigned long long)s->id,
		                    session_state_name(s->state), session_src(s, src, sizeof(src)));
		metrics_label(out, s->user != NULL ? s->user : "-");
		evbuffer_add_printf(out, " dst=");
		metrics_label(out, s->dst);
		evbuffer_add_printf(out, " in=%llu out=%llu queued=%zu/%zu age=%.1fs\n",
		                    (unsigned long long)b1, (unsigned long long)b2, q1, q2,
		                    (double)(now - t0) / 1e6);
	}
}

/* ---- the admin listener -------------------------------------------------- */

static void
metrics_reply(struct evhttp_request *req, struct metrics *m, bool prom)
{
	struct evbuffer *body;

	m->admin_requests++;
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (prom)
		metrics_render(m->srv, body);
	else
		metrics_render_status(m->srv, body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  prom ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void
metrics_http_metrics(struct evhttp_request *req, void *arg)
{
	metrics_reply(req, arg, true);
}

static void
metrics_http_status(struct evhttp_request *req, void *arg)
{
	metrics_reply(req, arg, false);
}

static void
metrics_http_other(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *body = evbuffer_new();

	m->admin_requests++;
	if (body != NULL)
		evbuffer_add_printf(body, "not found: try /metrics or /status\n");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; charset=utf-8");
	evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", body);
	if (body != NULL)
		evbuffer_free(body);
}

int
metrics_admin_socket(const struct conf_admin *ad)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_to_sockaddr(&ad->addr, ad->port, &ss);
	char buf[LOG_ADDRSTRLEN];
	int fd, one = 1;

	log_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	fd = socket(ad->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("admin listener %s: socket: %s", buf, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ad->addr.family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		log_err("admin listener %s: %s", buf, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
metrics_bind(struct metrics *m, const struct conf_admin *ad, int fd)
{
	struct sockaddr_storage ss;
	char buf[LOG_ADDRSTRLEN];

	(void)addr_to_sockaddr(&ad->addr, ad->port, &ss);
	log_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	if (fd < 0 && (fd = metrics_admin_socket(ad)) < 0)
		return -1;
	if ((m->http = evhttp_new(m->srv->base)) == NULL) {
		close(fd);
		log_err("admin listener: out of memory");
		return -1;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(m->http, BG_METRICS_HTTP_TIMEOUT);
	evhttp_set_max_headers_size(m->http, BG_METRICS_HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, 0);
	if (evhttp_set_cb(m->http, "/metrics", metrics_http_metrics, m) != 0 ||
	    evhttp_set_cb(m->http, "/status", metrics_http_status, m) != 0 ||
	    evhttp_accept_socket_with_handle(m->http, fd) == NULL) {
		close(fd);
		log_err("admin listener: out of memory");
		return -1;
	}
	evhttp_set_gencb(m->http, metrics_http_other, m);
	m->addr = ad->addr;
	m->port = ad->port;
	log_info("listening on %s (admin: /metrics, /status)", buf);
	return 0;
}

int
metrics_start(struct server *srv)
{
	struct metrics *m;

	if (srv->metrics != NULL)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_err("metrics: out of memory");
		return -1;
	}
	m->srv = srv;
	m->started = time(NULL);
	srv->metrics = m;
	/* With workers, worker 0 serves the admin listener the parent bound. */
	if (srv->conf->admin.enabled && srv->worker == 0 &&
	    metrics_bind(m, &srv->conf->admin, srv->admin_fd) != 0) {
		metrics_stop(srv);
		return -1;
	}
	return 0;
}

void
metrics_stop(struct server *srv)
{
	struct metrics *m = srv->metrics;

	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);       /* closes the socket and its connections */
	metrics_table_free(&m->rules);
	metrics_table_free(&m->implicit);
	metrics_table_free(&m->auth);
	metrics_table_free(&m->tcpmux);
	free(m);
	srv->metrics = NULL;
}

void
metrics_reload(struct server *srv, const struct config *next)
{
	struct metrics *m = srv->metrics;
	const struct conf_admin *ad = &next->admin;
	bool now = m != NULL && m->http != NULL;

	if (m == NULL || srv->worker != 0)
		return;
	if (now != ad->enabled ||
	    (now && (m->port != ad->port || !addr_equal(&m->addr, &ad->addr))))
		log_warn("reload: the admin listener changed in the configuration; "
		            "it stays as it was until the next start");
}

/* ---- beepgated -s ---------------------------------------------------------- */

struct metrics_client {
	struct event_base *base;
	int                code;
	struct evbuffer   *body;
	bool               done;
};

static void
metrics_client_done(struct evhttp_request *req, void *arg)
{
	struct metrics_client *mc = arg;

	mc->done = true;
	if (req != NULL) {
		mc->code = evhttp_request_get_response_code(req);
		evbuffer_add_buffer(mc->body, evhttp_request_get_input_buffer(req));
	}
	event_base_loopexit(mc->base, NULL);
}

int
metrics_client_status(const struct config *c, FILE *out, char *err, size_t errlen)
{
	struct metrics_client mc;
	struct evhttp_connection *conn = NULL;
	struct evhttp_request *req;
	char host[64], hdr[80];
	int rc = -1;
	size_t n;

	if (!c->admin.enabled) {
		snprintf(err, errlen, "no admin listener is configured in %s "
		         "(admin on 127.0.0.1 port N)", c->file ? c->file : "the configuration");
		return -1;
	}
	addr_str(&c->admin.addr, host, sizeof(host));
	if (addr_classify(&c->admin.addr) == ADDR_UNSPECIFIED)
		snprintf(host, sizeof(host), "%s",
		         c->admin.addr.family == AF_INET6 ? "::1" : "127.0.0.1");
	memset(&mc, 0, sizeof(mc));
	if ((mc.base = event_base_new()) == NULL || (mc.body = evbuffer_new()) == NULL ||
	    (conn = evhttp_connection_base_new(mc.base, NULL, host, c->admin.port)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	evhttp_connection_set_timeout(conn, BG_METRICS_CLIENT_TIMEOUT);
	evhttp_connection_set_max_body_size(conn, BG_METRICS_STATUS_MAX);
	evhttp_connection_set_retries(conn, 0);
	if ((req = evhttp_request_new(metrics_client_done, &mc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(hdr, sizeof(hdr), "%s%s%s:%u", c->admin.addr.family == AF_INET6 ? "[" : "",
	         host, c->admin.addr.family == AF_INET6 ? "]" : "", c->admin.port);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", hdr);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/status") != 0) {
		snprintf(err, errlen, "cannot send a request to the admin listener %s", hdr);
		goto out;
	}
	event_base_dispatch(mc.base);
	if (!mc.done || mc.code == 0) {
		snprintf(err, errlen, "the admin listener %s does not answer (is beepgated "
		         "running with this configuration?)", hdr);
		goto out;
	}
	if (mc.code != HTTP_OK) {
		snprintf(err, errlen, "the admin listener %s answered HTTP %d", hdr, mc.code);
		goto out;
	}
	n = evbuffer_get_length(mc.body);
	if (n > 0 && fwrite(evbuffer_pullup(mc.body, -1), 1, n, out) != n) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (conn != NULL)
		evhttp_connection_free(conn);
	if (mc.body != NULL)
		evbuffer_free(mc.body);
	if (mc.base != NULL)
		event_base_free(mc.base);
	return rc;
}
