#include "relay/connector.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECTOR_MAX_ADDRS 16

struct connector {
	struct event_base *base;
	connector_check_fn *check;
	connector_done_fn  *done;
	void               *arg;
	uint16_t            port;
	unsigned            timeout_ms;
	struct addr         addrs[CONNECTOR_MAX_ADDRS];
	unsigned            naddrs, next;
	struct evdns_getaddrinfo_request *req;
	struct event       *ev;        /* write-ready on the socket, or timeout */
	struct event       *defer;     /* to report without re-entering the caller */
	int                 fd;
	bool                cancelled;
	bool                resolving;
	bool                refused_any, timed_out, resource;
	enum connector_result pending;
};

static void connector_next(struct connector *c);

static void
connector_free(struct connector *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->defer != NULL)
		event_free(c->defer);
	free(c);
}

static void
connector_finish(struct connector *c, enum connector_result res, int fd)
{
	struct addr a;

	if (res == CONNECTOR_OK) {
		a = c->addrs[c->next - 1];
		c->fd = -1;
	} else
		memset(&a, 0, sizeof(a));
	c->done(c->arg, res, fd, res == CONNECTOR_OK ? &a : NULL, c->port);
	connector_free(c);
}

static void
connector_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct connector *c = arg;

	(void)fd;
	(void)what;
	if (c->pending == CONNECTOR_OK)
		connector_next(c);
	else
		connector_finish(c, c->pending, -1);
}

/* Schedules connector_next (pending OK) or a failure report on the loop. */
static void
connector_defer(struct connector *c, enum connector_result res)
{
	c->pending = res;
	if (c->defer == NULL)
		c->defer = evtimer_new(c->base, connector_deferred, c);
	if (c->defer == NULL) {
		connector_finish(c, CONNECTOR_RESOURCE, -1);
		return;
	}
	event_active(c->defer, EV_TIMEOUT, 0);
}

static void
connector_ready(evutil_socket_t fd, short what, void *arg)
{
	struct connector *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		c->timed_out = true;
		err = ETIMEDOUT;
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	event_free(c->ev);
	c->ev = NULL;
	if (err == 0) {
		connector_finish(c, CONNECTOR_OK, c->fd);
		return;
	}
	close(c->fd);
	c->fd = -1;
	connector_next(c);
}

static void
connector_next(struct connector *c)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1;

	while (c->next < c->naddrs) {
		const struct addr *a = &c->addrs[c->next++];

		if (c->check != NULL && !c->check(c->arg, a, c->port)) {
			c->refused_any = true;
			continue;
		}
		sslen = addr_to_sockaddr(a, c->port, &ss);
		c->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			c->resource = true;
			break;
		}
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&ss, sslen) != 0 && errno != EINPROGRESS) {
			close(c->fd);
			c->fd = -1;
			continue;
		}
		c->ev = event_new(c->base, c->fd, EV_WRITE, connector_ready, c);
		if (c->ev == NULL) {
			c->resource = true;
			break;
		}
		struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };
		event_add(c->ev, &tv);
		return;
	}
	if (c->resource)
		connector_finish(c, CONNECTOR_RESOURCE, -1);
	else if (c->refused_any && !c->timed_out)
		/* Everything we could have tried was refused (or failed after a
		 * refusal): report the refusal, which reveals nothing more. */
		connector_finish(c, CONNECTOR_REFUSED, -1);
	else if (c->timed_out)
		connector_finish(c, CONNECTOR_TIMEOUT, -1);
	else
		connector_finish(c, CONNECTOR_UNREACHABLE, -1);
}

static void
connector_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct connector *c = arg;
	struct evutil_addrinfo *ai;

	c->req = NULL;
	c->resolving = false;
	if (c->cancelled) {
		/* evdns runs a cancelled request's callback later: free here. */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		connector_free(c);
		return;
	}
	if (result != 0 || res == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		connector_defer(c, CONNECTOR_RESOLVE);
		return;
	}
	for (ai = res; ai != NULL && c->naddrs < CONNECTOR_MAX_ADDRS; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			addr_from_sockaddr(ai->ai_addr, &c->addrs[c->naddrs++]);
	evutil_freeaddrinfo(res);
	connector_defer(c, c->naddrs > 0 ? CONNECTOR_OK : CONNECTOR_RESOLVE);
}

struct connector *
connector_start(struct event_base *base, struct evdns_base *dns, const char *host,
                uint16_t port, unsigned timeout_ms, connector_check_fn *check,
                connector_done_fn *done, void *arg)
{
	struct connector *c;
	struct evutil_addrinfo hints;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	c->check = check;
	c->done = done;
	c->arg = arg;
	c->port = port;
	c->timeout_ms = timeout_ms ? timeout_ms : 1;
	c->fd = -1;
	/* Any spelling a resolver would read as a number is that number. */
	if (addr_parse(host, &c->addrs[0]) || addr_parse_loose(host, &c->addrs[0])) {
		c->naddrs = 1;
		connector_defer(c, CONNECTOR_OK);
		return c;
	}
	if (dns == NULL) {
		connector_defer(c, CONNECTOR_RESOLVE);
		return c;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->resolving = true;
	c->req = evdns_getaddrinfo(dns, host, NULL, &hints, connector_resolved, c);
	/* A synchronous answer (hosts file) has already run the callback and
	 * deferred the rest; the request pointer is then NULL. */
	if (c->req != NULL && evdns_base_count_nameservers(dns) == 0) {
		/* No nameserver configured and the hosts file did not answer:
		 * evdns would hold the query until a nameserver is added, that
		 * is forever.  Cancel it: the callback runs later with an error
		 * and the name is reported as not resolvable. */
		evdns_getaddrinfo_cancel(c->req);
		c->req = NULL;
	}
	return c;
}

void
connector_cancel(struct connector *c)
{
	if (c == NULL)
		return;
	if (c->resolving) {
		c->cancelled = true;
		if (c->req != NULL)
			evdns_getaddrinfo_cancel(c->req);
		return;     /* freed by connector_resolved */
	}
	connector_free(c);
}

const char *
connector_result_str(enum connector_result r)
{
	switch (r) {
	case CONNECTOR_OK:          return "connected";
	case CONNECTOR_RESOLVE:     return "name does not resolve";
	case CONNECTOR_REFUSED:     return "refused by policy";
	case CONNECTOR_UNREACHABLE: return "unreachable";
	case CONNECTOR_TIMEOUT:     return "connect timeout";
	case CONNECTOR_RESOURCE:    return "out of resources";
	case CONNECTOR_TLS:         return "TLS handshake failed";
	}
	return "?";
}
