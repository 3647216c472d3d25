#include "relay/session.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy/limits.h"
#include "policy/policy.h"
#include "relay/beep_conn.h"
#include "relay/connector.h"
#include "relay/tcpmux.h"
#include "relay/forward.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/pump.h"
#include "relay/server.h"
#include "relay/tlsconn.h"

const char *
session_src(const struct session *s, char *buf, size_t len)
{
	char a[64];

	snprintf(buf, len, "%s%s%s:%u", s->src.family == AF_INET6 ? "[" : "",
	         addr_str(&s->src, a, sizeof(a)), s->src.family == AF_INET6 ? "]" : "",
	         s->sport);
	return buf;
}

void
session_audit(const struct session *s, const struct policy_request *req,
              const struct policy_decision *dec)
{
	char line[1024];

	policy_audit_format(req, dec, line, sizeof(line));
	log_info("audit session=%llx %s", (unsigned long long)s->id, line);
	metrics_policy(s->srv, dec);
}

const char *
session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_ACCEPTED:   return "accepted";
	case SESSION_TCPMUX:     return "tcpmux";
	case SESSION_BEEP:       return "beep";
	case SESSION_CONNECTING: return "connecting";
	case SESSION_NEXTHOP:    return "next-hop";
	case SESSION_PUMPING:    return "pumping";
	case SESSION_CLOSED:     return "closed";
	}
	return "?";
}

void
session_set_state(struct session *s, enum session_state st)
{
	if (s->state == st)
		return;
	log_debug("session=%llx state %s -> %s", (unsigned long long)s->id,
	          session_state_name(s->state), session_state_name(st));
	s->state = st;
}

/* The configured listener this connection came in on (from the session's
 * own generation), or NULL. */
static const struct conf_listener *
session_listener_conf(struct session *s, const struct listener *l)
{
	size_t i;

	for (i = 0; i < s->conf->nlisteners; i++) {
		const struct conf_listener *c = &s->conf->listeners[i];

		if (c->kind == l->kind && c->port == l->port && addr_equal(&c->addr, &l->addr))
			return c;
	}
	return NULL;
}

/* The protocol of the listener, once the connection is ready for it. */
static void
session_begin(struct session *s)
{
	struct listener l;

	switch (s->kind) {
	case LISTEN_FORWARD:
		if (s->lconf == NULL) {
			session_close(s, "listener no longer configured");
			return;
		}
		memset(&l, 0, sizeof(l));
		l.kind = s->lconf->kind;
		l.addr = s->lconf->addr;
		l.port = s->lconf->port;
		forward_start(s, &l);
		break;
	case LISTEN_TUNNEL:
		beep_conn_start(s, NULL, 0);
		break;
	case LISTEN_TCPMUX:
		tcpmux_start(s);
		break;
	}
}

static void
session_tls_accepted(void *arg, struct tlsconn *t, const char *err)
{
	struct session *s = arg;
	char why[TLSCONN_ERR_MAX + 32], desc[128];

	if (err != NULL) {
		snprintf(why, sizeof(why), "%s", err);
		session_close(s, why);
		return;
	}
	session_clear_deadline(s);
	if (tlsconn_peer_id(t) != NULL && (s->cert = strdup(tlsconn_peer_id(t))) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	log_info("session=%llx tls %s cert=%s", (unsigned long long)s->id,
	         tlsconn_describe(t, desc, sizeof(desc)), s->cert ? s->cert : "-");
	session_begin(s);
}

ssize_t
session_read(struct session *s, int side, uint8_t *buf, size_t len, short *want)
{
	ssize_t n;

	if (s->tls[side] != NULL)
		return tlsconn_read(s->tls[side], buf, len, want);
	*want = EV_READ;
	while ((n = read(side == 0 ? s->cfd : s->sfd, buf, len)) < 0 && errno == EINTR)
		;
	return n;
}

void
session_write(struct session *s, int side, const uint8_t *buf, size_t len)
{
	short want;
	ssize_t n;

	while (len > 0) {
		if (s->tls[side] != NULL)
			n = tlsconn_write(s->tls[side], buf, len, &want);
		else
			n = write(side == 0 ? s->cfd : s->sfd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

const struct pump_endpoint_ops *
session_endpoint(struct session *s, int side, void **ctx)
{
	*ctx = s->tls[side];
	return s->tls[side] != NULL ? &tlsconn_pump_ops : NULL;
}

struct session *
session_new(struct server *srv, struct listener *l, int fd, const struct sockaddr *sa)
{
	struct session *s;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int one = 1;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		return NULL;
	}
	s->srv = srv;
	s->conf = config_ref(srv->conf);
	s->id = srv->next_id++;
	s->state = SESSION_ACCEPTED;
	s->kind = l->kind;
	s->cfd = fd;
	s->sfd = -1;
	addr_from_sockaddr(sa, &s->src);
	s->sport = ntohs(sa->sa_family == AF_INET6 ?
	                 ((const struct sockaddr_in6 *)sa)->sin6_port :
	                 ((const struct sockaddr_in *)sa)->sin_port);
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
		addr_from_sockaddr((struct sockaddr *)&local, &s->local);
		s->lport = ntohs(local.ss_family == AF_INET6 ?
		                 ((struct sockaddr_in6 *)&local)->sin6_port :
		                 ((struct sockaddr_in *)&local)->sin_port);
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	snprintf(s->dst, sizeof(s->dst), "-");
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->nsessions++;
	if (srv->limits != NULL) {
		struct conf_limits *lim = &s->conf->limits;
		uint64_t now = (uint64_t)s->started.tv_sec * 1000 +
		               (uint64_t)s->started.tv_nsec / 1000000;

		/* every worker's sessions count against max-sessions */
		if (limits_global_acquire(srv->limits, lim->max_sessions) != LIMITS_OK) {
			srv->stats.refused_global++;
			session_close(s, "max-sessions reached");
			return NULL;
		}
		s->counted_global = true;
		switch (limits_source_acquire(srv->limits, &s->src, now,
		                              lim->max_sessions_per_source, lim->rate_per_source,
		                              lim->rate_interval)) {
		case LIMITS_OK:
			s->counted_source = true;
			break;
		case LIMITS_CONCURRENCY:
			srv->stats.refused_source++;
			session_close(s, "max-sessions-per-source reached");
			return NULL;
		case LIMITS_RATE:
			srv->stats.refused_rate++;
			session_close(s, "connection-rate exceeded");
			return NULL;
		case LIMITS_RESOURCE:
			session_close(s, "too many sources tracked");
			return NULL;
		}
	}
	log_debug("session=%llx accepted on port %u", (unsigned long long)s->id, l->port);

	s->lconf = session_listener_conf(s, l);
	if (s->lconf != NULL && s->lconf->tls != NULL) {
		/* implicit TLS: the handshake comes before the protocol, within
		 * the set-up deadline */
		if (s->lconf->tls->server_ctx == NULL) {
			session_close(s, "TLS profile not loaded");
			return NULL;
		}
		session_arm_deadline(s, s->conf->timeouts.handshake);
		s->tls[0] = tlsconn_accept(srv->base, fd, s->lconf->tls->server_ctx,
		                           session_tls_accepted, s);
		if (s->tls[0] == NULL) {
			session_close(s, "out of memory");
			return NULL;
		}
		return s;
	}
	session_begin(s);
	return s;
}

static void
session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->on_deadline != NULL)
		s->on_deadline(s);
	session_close(s, "handshake timeout");
}

void
session_arm_deadline(struct session *s, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (s->deadline == NULL)
		s->deadline = evtimer_new(s->srv->base, session_deadline_cb, s);
	if (s->deadline != NULL)
		evtimer_add(s->deadline, &tv);
}

void
session_clear_deadline(struct session *s)
{
	if (s->deadline != NULL) {
		event_free(s->deadline);
		s->deadline = NULL;
	}
}

struct session_connect_ctx {
	struct session       *s;
	session_connected_fn *done;
	connector_check_fn   *check;
	const struct conf_tls *tls;     /* a TLS route, or NULL */
	char                 *name;     /* the name its certificate must carry */
};

/* A TLS route's handshake ended. */
static void
session_tls_connected(void *arg, struct tlsconn *t, const char *err)
{
	struct session *s = arg;
	session_connected_fn *done = s->tls_done;
	char desc[128];

	s->tls_done = NULL;
	if (err != NULL) {
		log_info("session=%llx tls to %s: %s", (unsigned long long)s->id, s->dst, err);
		tlsconn_free(s->tls[1]);
		s->tls[1] = NULL;
		close(s->sfd);
		s->sfd = -1;
		done(s, -1, CONNECTOR_TLS);
		return;
	}
	log_debug("session=%llx tls to %s: %s", (unsigned long long)s->id, s->dst,
	          tlsconn_describe(t, desc, sizeof(desc)));
	done(s, s->sfd, CONNECTOR_OK);
}

static bool
session_connect_check(void *arg, const struct addr *a, uint16_t port)
{
	struct session_connect_ctx *ctx = arg;

	return ctx->check == NULL || ctx->check(ctx->s, a, port);
}


static void
session_connect_done(void *arg, enum connector_result res, int fd,
                     const struct addr *a, uint16_t port)
{
	struct session_connect_ctx *ctx = arg;
	struct session *s = ctx->s;
	session_connected_fn *done = ctx->done;
	char buf[64];

	const struct conf_tls *tls = ctx->tls;
	char name[256];

	snprintf(name, sizeof(name), "%s", ctx->name != NULL ? ctx->name : "");
	free(ctx->name);
	free(ctx);
	s->connector = NULL;
	if (res == CONNECTOR_OK) {
		s->sfd = fd;
		snprintf(s->dst, sizeof(s->dst), "%s%s%s:%u",
		         a->family == AF_INET6 ? "[" : "", addr_str(a, buf, sizeof(buf)),
		         a->family == AF_INET6 ? "]" : "", port);
		if (tls != NULL) {
			s->tls_done = done;
			s->tls[1] = tlsconn_connect(s->srv->base, fd, tls->client_ctx, name,
			                            session_tls_connected, s);
			if (s->tls[1] == NULL) {
				close(fd);
				s->sfd = -1;
				done(s, -1, CONNECTOR_RESOURCE);
			}
			return;
		}
	}
	done(s, fd, (int)res);
}

int
session_connect(struct session *s, const char *host, uint16_t port, session_connected_fn *done)
{
	/* forward targets and catalog services are the administrator's own */
	return session_connect_checked(s, host, port, NULL, done);
}

int
session_connect_checked(struct session *s, const char *host, uint16_t port,
                        connector_check_fn *check, session_connected_fn *done)
{
	return session_connect_tls(s, host, port, NULL, NULL, check, done);
}

int
session_connect_tls(struct session *s, const char *host, uint16_t port,
                    const struct conf_tls *tls, const char *name,
                    connector_check_fn *check, session_connected_fn *done)
{
	struct session_connect_ctx *ctx;

	if (tls != NULL && tls->client_ctx == NULL)
		return -1;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -1;
	ctx->s = s;
	ctx->done = done;
	ctx->check = check;
	ctx->tls = tls;
	if (tls != NULL && (ctx->name = strdup(name != NULL ? name : host)) == NULL) {
		free(ctx);
		return -1;
	}
	/* an earlier attempt's TLS (its socket is gone) */
	tlsconn_free(s->tls[1]);
	s->tls[1] = NULL;
	session_set_state(s, SESSION_CONNECTING);
	s->connector = connector_start(s->srv->base, s->srv->dns, host, port,
	                               s->conf->timeouts.connect, session_connect_check,
	                               session_connect_done, ctx);
	if (s->connector == NULL) {
		free(ctx->name);
		free(ctx);
		return -1;
	}
	s->connector_arg = ctx;
	return 0;
}

static void
session_pump_done(void *arg, const struct pump_result *r)
{
	struct session *s = arg;

	s->bytes_c2s = r->bytes_c2s;
	s->bytes_s2c = r->bytes_s2c;
	s->pump = NULL;          /* the pump has released both descriptors */
	s->cfd = -1;
	s->sfd = -1;
	session_close(s, r->reason);
}

int
session_start_pump(struct session *s, const uint8_t *pre_c2s, size_t n_c2s,
                   const uint8_t *pre_s2c, size_t n_s2c)
{
	struct pump_config pc;

	/* set-up is over: its deadline and the protocol's hook for it go
	 * (the protocol state may be freed once the pump runs) */
	session_clear_deadline(s);
	s->on_deadline = NULL;
	if (s->conf->limits.socket_buffer > 0) {
		/* Bounds what the kernel holds for this tunnel too: a slow
		 * reader otherwise lets the send buffer grow to tcp_wmem's
		 * maximum (4 MiB on Linux) and the receive buffer to tcp_rmem's. */
		int v = (int)s->conf->limits.socket_buffer, i, fds[2] = { s->cfd, s->sfd };

		for (i = 0; i < 2; i++) {
			(void)setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
			(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		}
	}
	pump_config_default(&pc);
	pc.buffer = s->conf->limits.buffer;
	pc.idle_ms = s->conf->timeouts.idle;
	pc.fin_ms = s->conf->timeouts.fin;
	pc.ops[0] = session_endpoint(s, 0, &pc.ctx[0]);
	pc.ops[1] = session_endpoint(s, 1, &pc.ctx[1]);
	s->pump = pump_new(s->srv->base, s->srv->pool, s->cfd, s->sfd, &pc,
	                   pre_c2s, n_c2s, pre_s2c, n_s2c, session_pump_done, s);
	if (s->pump == NULL)
		return -1;
	s->tls[0] = s->tls[1] = NULL;      /* the pump's now */
	session_set_state(s, SESSION_PUMPING);
	/* the caller frees its set-up state next */
	server_heap_churn(s->srv);
	return 0;
}

void
session_close(struct session *s, const char *reason)
{
	struct server *srv = s->srv;
	struct timespec now;
	double secs;
	char src[LOG_ADDRSTRLEN];

	if (s->state == SESSION_CLOSED)
		return;
	session_set_state(s, SESSION_CLOSED);
	session_clear_deadline(s);
	if (s->connector != NULL) {
		connector_cancel(s->connector);
		free(s->connector_arg);
		s->connector = NULL;
	}
	if (s->pump != NULL) {
		struct pump_stats st;

		pump_get_stats(s->pump, &st);
		s->bytes_c2s = st.bytes_c2s;
		s->bytes_s2c = st.bytes_s2c;
		pump_free(s->pump);      /* closes both descriptors */
		s->pump = NULL;
		s->cfd = s->sfd = -1;
	}
	if (s->proto_free != NULL)
		s->proto_free(s->proto);
	tlsconn_free(s->tls[0]);
	tlsconn_free(s->tls[1]);
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->sfd >= 0)
		close(s->sfd);
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - s->started.tv_sec) +
	       (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
	session_src(s, src, sizeof(src));
	log_info("session=%llx src=%s user=%s dst=%s in=%llu out=%llu duration=%.3fs reason=\"%s\"",
	         (unsigned long long)s->id, src, s->user ? s->user : "-", s->dst,
	         (unsigned long long)s->bytes_c2s, (unsigned long long)s->bytes_s2c, secs,
	         reason);
	srv->stats.bytes_c2s += s->bytes_c2s;
	srv->stats.bytes_s2c += s->bytes_s2c;
	if (s->counted_global)
		limits_global_release(srv->limits);
	if (s->counted_source)
		limits_source_release(srv->limits, &s->src,
		                      (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
	TAILQ_REMOVE(&srv->sessions, s, entry);
	srv->nsessions--;
	config_unref(s->conf);
	free(s->cert);
	free(s->user);
	free(s);
	server_session_gone(srv);
}
