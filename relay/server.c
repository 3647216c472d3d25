#include "relay/server.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/limits.h"
#include "auth/auth_sasl.h"
#include "policy/limits.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/pump.h"
#include "relay/session.h"
#include "relay/tlsconn.h"

static struct log_ratelimit rl_paused = { .interval = 1 };
static struct log_ratelimit rl_refused = { .interval = 1 };

static void server_accept(evutil_socket_t fd, short what, void *arg);

static const char *
listener_kind_name(enum listener_kind k)
{
	switch (k) {
	case LISTEN_FORWARD: return "forward";
	case LISTEN_TUNNEL:  return "tunnel";
	case LISTEN_TCPMUX:  return "tcpmux";
	}
	return "?";
}

int
server_listen_socket(const struct conf_listener *cl, bool reuseport)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_to_sockaddr(&cl->addr, cl->port, &ss);
	int one = 1, fd;
	char buf[LOG_ADDRSTRLEN];

	fd = socket(cl->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("listen %s: socket: %s", log_addr((struct sockaddr *)&ss, buf,
		        sizeof(buf)), strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (cl->addr.family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, BG_LISTEN_BACKLOG) != 0) {
		log_err("listen on %s (%s): %s", log_addr((struct sockaddr *)&ss, buf,
		        sizeof(buf)), listener_kind_name(cl->kind), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* fd: already bound and listening (from the parent), or -1 to bind now. */
static int
listener_bind(struct listener *l, int fd)
{
	struct conf_listener cl = { .kind = l->kind, .addr = l->addr, .port = l->port };
	struct sockaddr_storage ss;
	char buf[LOG_ADDRSTRLEN];

	(void)addr_to_sockaddr(&l->addr, l->port, &ss);
	if (fd < 0 && (fd = server_listen_socket(&cl, l->srv->reuseport)) < 0)
		return -1;
	l->fd = fd;
	l->ev = event_new(l->srv->base, l->fd, EV_READ | EV_PERSIST, server_accept, l);
	if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
		log_err("listen: out of memory");
		return -1;
	}
	log_info("listening on %s (%s)", log_addr((struct sockaddr *)&ss, buf, sizeof(buf)),
	         listener_kind_name(l->kind));
	return 0;
}

static void
listener_close(struct listener *l)
{
	if (l->ev != NULL) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

static void
server_pause_accept(struct server *srv, const char *why)
{
	struct timeval tv = { 0, BG_ACCEPT_PAUSE_MS * 1000 };
	size_t i;

	if (!srv->accept_paused) {
		srv->accept_paused = true;
		srv->stats.accept_paused++;
		for (i = 0; i < srv->nlisteners; i++)
			if (srv->listeners[i]->ev != NULL)
				event_del(srv->listeners[i]->ev);
		log_limited(&rl_paused, LOG_WARNING, "accept paused: %s", why);
	}
	event_add(srv->ev_resume, &tv);
}

/* Heap memory that glibc does not give back by itself.  Idle tunnels are
 * small, long-lived allocations (a session and its pump); each was set up
 * among the much larger, short-lived ones of its handshake (BEEP session,
 * SASL, XML), made concurrently with other handshakes.  Once these are
 * freed the tunnels stay scattered over the heap, and the free chunks
 * between them keep their pages: free() only returns the top of the heap
 * (M_TRIM_THRESHOLD), so raising or lowering that threshold changes
 * nothing here, and with one thread there is one arena.  malloc_trim(0)
 * also returns the whole free pages inside the heap (MADV_DONTNEED).  It
 * walks the free lists, so it runs once after a burst (hand-overs or
 * closes), at most every BG_HEAP_TRIM_MS, never per connection. */
static void
server_heap_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

void
server_heap_churn(struct server *srv)
{
	struct timeval tv = { BG_HEAP_TRIM_MS / 1000, (BG_HEAP_TRIM_MS % 1000) * 1000 };

	if (srv->ev_trim != NULL && !evtimer_pending(srv->ev_trim, NULL))
		evtimer_add(srv->ev_trim, &tv);
}

static void
server_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	size_t i;

	(void)fd;
	(void)what;
	if (srv->draining)
		return;
	if (!server_fd_headroom(srv)) {
		server_pause_accept(srv, "descriptor reserve reached");
		return;
	}
	srv->accept_paused = false;
	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i]->ev != NULL)
			event_add(srv->listeners[i]->ev, NULL);
}

bool
server_fd_headroom(struct server *srv)
{
	/* Each session holds at most two sockets; the pump's pipes come from a
	 * pool that reserves its own.  Leave BG_FD_RESERVE for everything else
	 * (logging, DNS, reload reading the configuration). */
	unsigned long need = 2UL * (srv->nsessions + 1) + BG_FD_RESERVE + 16;

	return srv->fd_limit == 0 || need <= srv->fd_limit;
}

static void
server_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, n;

	(void)what;
	for (n = 0; n < 64; n++) {
		if (!server_fd_headroom(srv)) {
			server_pause_accept(srv, "descriptor reserve reached");
			return;
		}
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				server_pause_accept(srv, strerror(errno));
				return;
			default:
				log_limited(&rl_refused, LOG_WARNING, "accept: %s", strerror(errno));
				return;
			}
		}
		srv->stats.accepted++;
		if (srv->draining) {
			close(fd);
			continue;
		}
		if (limits_global_count(srv->limits) >= srv->conf->limits.max_sessions) {
			char buf[LOG_ADDRSTRLEN];

			srv->stats.refused_global++;
			log_limited(&rl_refused, LOG_NOTICE, "refused %s: max-sessions %u reached",
			            log_addr((struct sockaddr *)&ss, buf, sizeof(buf)),
			            srv->conf->limits.max_sessions);
			close(fd);
			continue;
		}
		(void)session_new(srv, l, fd, (struct sockaddr *)&ss);
	}
}

static void
server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	if (sig == SIGHUP)
		(void)server_reload(srv);
	else
		server_drain(srv);
}

static void
server_hardstop(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s;

	(void)fd;
	(void)what;
	log_notice("hard-stop time reached: closing %u session(s)", srv->nsessions);
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		session_close(s, "shutdown");
	event_base_loopexit(srv->base, NULL);
}

static int
server_setup_listeners(struct server *srv, const int *fds)
{
	struct config *c = srv->conf;
	size_t i;

	srv->listeners = calloc(c->nlisteners ? c->nlisteners : 1, sizeof(*srv->listeners));
	if (srv->listeners == NULL)
		return -1;
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = calloc(1, sizeof(*l));

		if (l == NULL)
			return -1;
		srv->listeners[srv->nlisteners++] = l;
		l->srv = srv;
		l->fd = -1;
		l->kind = c->listeners[i].kind;
		l->addr = c->listeners[i].addr;
		l->port = c->listeners[i].port;
		if (listener_bind(l, fds != NULL ? fds[i] : -1) != 0)
			return -1;
	}
	return 0;
}

struct server *
server_new(struct config *conf, const char *path, const char *name, const char *text)
{
	return server_new_worker(conf, path, name, text, NULL);
}

struct server *
server_new_worker(struct config *conf, const char *path, const char *name, const char *text,
                  const struct server_inherit *inh)
{
	struct server *srv;
	struct rlimit rl;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->admin_fd = -1;
	if (inh != NULL) {
		srv->worker = inh->worker;
		srv->reuseport = true;
		srv->admin_fd = inh->admin_fd;
		srv->limits = inh->limits;
		srv->limits_shared = true;
		limits_set_worker(srv->limits, inh->worker);
	}
	TAILQ_INIT(&srv->sessions);
	srv->conf = conf;
	srv->conf_path = path;
	srv->conf_name = name;
	srv->conf_text = text;
	/* session ids stay unique across workers: worker in the high bits */
	srv->next_id = ((uint64_t)srv->worker << SERVER_ID_WORKER_SHIFT) | 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		srv->fd_limit = rl.rlim_cur;
	if ((srv->base = event_base_new()) == NULL)
		goto fail;
	if ((srv->pool = pump_pool_new(0)) == NULL)
		goto fail;
	if (srv->limits == NULL) {
		uint64_t seed = 0;
		FILE *f = fopen("/dev/urandom", "rb");

		if (f != NULL) {
			if (fread(&seed, sizeof(seed), 1, f) != 1)
				seed = (uint64_t)getpid();
			fclose(f);
		}
		if ((srv->limits = limits_new(0, seed)) == NULL)
			goto fail;
	}
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, server_signal, srv);
	srv->ev_term = evsignal_new(srv->base, SIGTERM, server_signal, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, server_signal, srv);
	srv->ev_hardstop = evtimer_new(srv->base, server_hardstop, srv);
	srv->ev_resume = evtimer_new(srv->base, server_resume_accept, srv);
	srv->ev_trim = evtimer_new(srv->base, server_heap_trim, srv);
	if (srv->ev_hup == NULL || srv->ev_term == NULL || srv->ev_int == NULL ||
	    srv->ev_hardstop == NULL || srv->ev_resume == NULL || srv->ev_trim == NULL)
		goto fail;
	event_add(srv->ev_hup, NULL);
	event_add(srv->ev_term, NULL);
	event_add(srv->ev_int, NULL);
	if (server_setup_listeners(srv, inh != NULL ? inh->fds : NULL) != 0 ||
	    metrics_start(srv) != 0)
		goto fail;
	return srv;
fail:
	server_free(srv);
	return NULL;
}

int
server_setup_dns(struct server *srv)
{
	struct config *c = srv->conf;
	size_t i;

	if (srv->dns != NULL) {
		evdns_base_free(srv->dns, 1);
		srv->dns = NULL;
	}
	/* Never the machine's resolv.conf: only what the configuration says,
	 * plus the hosts file. */
	srv->dns = evdns_base_new(srv->base, 0);
	if (srv->dns == NULL)
		return -1;
	(void)evdns_base_load_hosts(srv->dns, "/etc/hosts");
	for (i = 0; i < c->nnameservers; i++) {
		if (evdns_base_nameserver_ip_add(srv->dns, c->nameservers[i]) != 0) {
			log_err("nameserver %s: cannot use it", c->nameservers[i]);
			return -1;
		}
	}
	if (c->nnameservers > 0) {
		evdns_base_set_option(srv->dns, "timeout:", "2");
		evdns_base_set_option(srv->dns, "attempts:", "2");
		evdns_base_set_option(srv->dns, "randomize-case:", "0");
	}
	return 0;
}

int
server_setup_auth(const struct config *c)
{
	struct auth_sasl_settings set;
	char err[AUTH_SASL_ERR_MAX];

	if (c->sasl.database == NULL) {
		/* no users: TUNNEL requests can only get 530; next hops may still
		 * be authenticated to */
		if (auth_sasl_client_init(err, sizeof(err)) != 0) {
			log_err("SASL: %s", err);
			return -1;
		}
		return 0;
	}
	memset(&set, 0, sizeof(set));
	set.database = c->sasl.database;
	set.realm = c->sasl.realm;
	set.mechs = (const char *const *)c->sasl.mechs;
	set.nmechs = c->sasl.nmechs;
	set.allow_plaintext = c->sasl.allow_plaintext;
	set.anonymous = c->sasl.anonymous;
	if (auth_sasl_init(&set, err, sizeof(err)) != 0) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

int
server_run(struct server *srv)
{
	return event_base_dispatch(srv->base) < 0 ? -1 : 0;
}

static void
report_to_log(void *arg, const char *msg)
{
	(void)arg;
	log_err("%s", msg);
}

int
server_reload(struct server *srv)
{
	struct config *nc;
	size_t i, j;

	if (srv->draining)
		return -1;
	log_notice("reloading configuration");
	if (srv->conf_path != NULL)
		nc = config_load(srv->conf_path, report_to_log, NULL);
	else
		nc = config_load_string(srv->conf_name, srv->conf_text, report_to_log, NULL);
	if (nc == NULL) {
		srv->stats.reload_failures++;
		log_err("reload failed: keeping configuration generation %u",
		        srv->conf->generation);
		return -1;
	}
	if (tlsconn_prepare(nc, srv->conf, report_to_log, NULL) != 0 ||
	    server_setup_auth(nc) != 0) {
		srv->stats.reload_failures++;
		log_err("reload failed: keeping configuration generation %u",
		        srv->conf->generation);
		config_unref(nc);
		return -1;
	}
	/* Listeners: those still configured stay bound (sockets survive the
	 * reload, so no connection is refused meanwhile); new ones are bound if
	 * we still may; removed ones are closed. */
	for (i = 0; i < srv->nlisteners; i++)
		srv->listeners[i]->stale = true;
	for (j = 0; j < nc->nlisteners; j++) {
		bool found = false;

		for (i = 0; i < srv->nlisteners; i++) {
			struct listener *l = srv->listeners[i];

			if (l->kind == nc->listeners[j].kind && l->port == nc->listeners[j].port &&
			    addr_equal(&l->addr, &nc->listeners[j].addr) && l->fd >= 0) {
				l->stale = false;
				found = true;
			}
		}
		if (!found) {
			struct listener **nl = realloc(srv->listeners,
			                               (srv->nlisteners + 1) * sizeof(*nl));
			struct listener *l = calloc(1, sizeof(*l));

			if (nl != NULL)
				srv->listeners = nl;
			if (nl == NULL || l == NULL) {
				free(l);
				log_err("reload: out of memory for a new listener");
				continue;
			}
			*l = (struct listener){ .srv = srv, .fd = -1, .kind = nc->listeners[j].kind,
			    .addr = nc->listeners[j].addr, .port = nc->listeners[j].port };
			if (listener_bind(l, -1) == 0)
				srv->listeners[srv->nlisteners++] = l;
			else {
				listener_close(l);
				free(l);
			}
		}
	}
	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i]->stale)
			listener_close(srv->listeners[i]);
	metrics_reload(srv, nc);
	config_unref(srv->conf);
	srv->conf = nc;
	srv->stats.reloads++;
	if (server_setup_dns(srv) != 0)
		log_err("reload: DNS set-up failed; names will not resolve");
	log_notice("configuration generation %u in use; %u live session(s) keep theirs",
	           nc->generation, srv->nsessions);
	return 0;
}

void
server_drain(struct server *srv)
{
	struct timeval tv;
	size_t i;

	if (srv->draining) {
		log_notice("second stop signal: closing now");
		server_hardstop(-1, 0, srv);
		return;
	}
	srv->draining = true;
	for (i = 0; i < srv->nlisteners; i++)
		listener_close(srv->listeners[i]);
	event_del(srv->ev_resume);
	if (srv->nsessions == 0) {
		log_notice("stopping: no live sessions");
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_notice("stopping: not accepting; waiting for %u session(s), at most %u ms",
	           srv->nsessions, srv->conf->timeouts.hardstop);
	tv.tv_sec = srv->conf->timeouts.hardstop / 1000;
	tv.tv_usec = (srv->conf->timeouts.hardstop % 1000) * 1000;
	event_add(srv->ev_hardstop, &tv);
}

void
server_session_gone(struct server *srv)
{
	srv->stats.sessions_closed++;
	server_heap_churn(srv);
	if (srv->accept_paused && !srv->draining && server_fd_headroom(srv)) {
		/* Descriptors are free again: resume from the event loop now
		 * rather than at the end of the pause, or a backlog of
		 * connections drains at one headroom's worth per pause. */
		event_del(srv->ev_resume);
		event_active(srv->ev_resume, EV_TIMEOUT, 1);
	}
	if (srv->draining && srv->nsessions == 0) {
		log_notice("stopping: last session closed");
		event_base_loopexit(srv->base, NULL);
	}
}

void
server_free(struct server *srv)
{
	struct session *s;
	size_t i;

	if (srv == NULL)
		return;
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		session_close(s, "shutdown");
	metrics_stop(srv);
	for (i = 0; i < srv->nlisteners; i++) {
		listener_close(srv->listeners[i]);
		free(srv->listeners[i]);
	}
	free(srv->listeners);
	if (srv->dns != NULL)
		evdns_base_free(srv->dns, 0);
	if (srv->ev_hup) event_free(srv->ev_hup);
	if (srv->ev_term) event_free(srv->ev_term);
	if (srv->ev_int) event_free(srv->ev_int);
	if (srv->ev_hardstop) event_free(srv->ev_hardstop);
	if (srv->ev_resume) event_free(srv->ev_resume);
	if (srv->ev_trim) event_free(srv->ev_trim);
	pump_pool_free(srv->pool);
	if (!srv->limits_shared)
		limits_free(srv->limits);
	if (srv->base != NULL)
		event_base_free(srv->base);
	config_unref(srv->conf);
	free(srv);
}
