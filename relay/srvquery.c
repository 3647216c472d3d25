/* srvquery: a UDP SRV look-up driven by one libevent event with a timeout. */
#include "relay/srvquery.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct srvquery {
	struct event_base *base;
	char *const       *servers;
	size_t             nservers;
	size_t             tries;        /* sent so far */
	char               qname[SRVREC_NAME_MAX];
	uint16_t           id;
	int                fd;
	struct event      *ev;
	struct event      *kick;         /* reports a failure found while starting */
	enum srvrec_status last;
	char               why[SRVREC_NAME_MAX + 128];
	srvquery_done_fn  *done;
	void              *arg;
};

static void srvquery_event(evutil_socket_t fd, short what, void *arg);

static uint32_t
srvquery_rand(void *arg)
{
	uint32_t r = 0;

	(void)arg;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)random();
	return r;
}

static void
srvquery_close_fd(struct srvquery *q)
{
	if (q->ev != NULL) {
		event_free(q->ev);
		q->ev = NULL;
	}
	if (q->fd >= 0) {
		close(q->fd);
		q->fd = -1;
	}
}

static void
srvquery_finish(struct srvquery *q, enum srvrec_status st, struct srv_target *t,
                size_t n)
{
	srvquery_done_fn *done = q->done;
	void *arg = q->arg;
	char why[sizeof(q->why)];

	if (st == SRVREC_OK)
		srvrec_order(t, n, srvquery_rand, NULL);
	snprintf(why, sizeof(why), "%s", st == SRVREC_OK ? "" : q->why);
	srvquery_cancel(q);              /* the query is over: freed here */
	done(arg, st, t, n, why);
}

/* Sends the query to the next server.  Returns false when every try is
 * used up (q->last and q->why say why the last one failed). */
static bool
srvquery_send(struct srvquery *q)
{
	struct sockaddr_storage ss;
	uint8_t msg[SRVREC_MSG_MAX];
	struct timeval tv = { SRVQUERY_TRY_MS / 1000, (SRVQUERY_TRY_MS % 1000) * 1000 };
	const char *server;
	int len, sslen, n;

	while (q->tries < q->nservers * SRVQUERY_ATTEMPTS) {
		server = q->servers[q->tries % q->nservers];
		q->tries++;
		srvquery_close_fd(q);
		sslen = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (evutil_parse_sockaddr_port(server, (struct sockaddr *)&ss, &sslen) != 0) {
			q->last = SRVREC_SERVFAIL;
			snprintf(q->why, sizeof(q->why), "nameserver %s: not an address", server);
			continue;
		}
		if (ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == 0)
			((struct sockaddr_in *)&ss)->sin_port = htons(53);
		if (ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_port == 0)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(53);
		q->id = (uint16_t)srvquery_rand(NULL);
		if ((len = srvrec_query(q->qname, q->id, msg, sizeof(msg))) < 0) {
			q->last = SRVREC_BAD;
			snprintf(q->why, sizeof(q->why), "cannot ask for %s", q->qname);
			q->tries = q->nservers * SRVQUERY_ATTEMPTS;
			return false;
		}
		q->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&ss, (socklen_t)sslen) != 0 ||
		    (n = (int)send(q->fd, msg, (size_t)len, 0)) != len) {
			q->last = SRVREC_SERVFAIL;
			snprintf(q->why, sizeof(q->why), "nameserver %s: %s", server,
			    strerror(errno));
			continue;
		}
		q->ev = event_new(q->base, q->fd, EV_READ | EV_PERSIST, srvquery_event, q);
		if (q->ev == NULL || event_add(q->ev, &tv) != 0) {
			q->last = SRVREC_SERVFAIL;
			snprintf(q->why, sizeof(q->why), "out of memory");
			continue;
		}
		return true;
	}
	return false;
}

static void
srvquery_event(evutil_socket_t fd, short what, void *arg)
{
	struct srvquery *q = arg;
	struct srv_target t[SRVREC_TARGETS_MAX];
	uint8_t msg[SRVREC_MSG_MAX];
	enum srvrec_status st;
	ssize_t r;
	size_t n;

	if (what & EV_TIMEOUT) {
		q->last = SRVREC_SERVFAIL;
		snprintf(q->why, sizeof(q->why), "no answer from the nameservers");
		if (!srvquery_send(q))
			srvquery_finish(q, q->last, NULL, 0);
		return;
	}
	for (;;) {
		r = recv(fd, msg, sizeof(msg), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* e.g. ECONNREFUSED: nothing listens there */
			q->last = SRVREC_SERVFAIL;
			snprintf(q->why, sizeof(q->why), "nameserver: %s", strerror(errno));
			if (!srvquery_send(q))
				srvquery_finish(q, q->last, NULL, 0);
			return;
		}
		st = srvrec_parse(msg, (size_t)r, q->id, q->qname, t, SRVREC_TARGETS_MAX, &n,
		    q->why, sizeof(q->why));
		switch (st) {
		case SRVREC_FOREIGN:
			continue;                 /* not ours: keep waiting */
		case SRVREC_SERVFAIL:
		case SRVREC_BAD:
			q->last = st;
			if (!srvquery_send(q))
				srvquery_finish(q, q->last, NULL, 0);
			return;
		case SRVREC_OK:
		case SRVREC_NONE:
		case SRVREC_NOSERVICE:
		case SRVREC_TRUNCATED:
			srvquery_finish(q, st, t, n);
			return;
		}
	}
}

static void
srvquery_kicked(evutil_socket_t fd, short what, void *arg)
{
	struct srvquery *q = arg;

	(void)fd;
	(void)what;
	srvquery_finish(q, q->last, NULL, 0);
}

struct srvquery *
srvquery_start(struct event_base *base, char *const *servers, size_t nservers,
               const char *qname, srvquery_done_fn *done, void *arg)
{
	struct srvquery *q;

	if (nservers == 0 || strlen(qname) >= sizeof(q->qname))
		return NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->base = base;
	q->servers = servers;
	q->nservers = nservers;
	q->fd = -1;
	q->done = done;
	q->arg = arg;
	snprintf(q->qname, sizeof(q->qname), "%s", qname);
	if (!srvquery_send(q)) {
		/* report from the loop, never from inside start */
		if ((q->kick = evtimer_new(base, srvquery_kicked, q)) == NULL) {
			srvquery_cancel(q);
			return NULL;
		}
		event_active(q->kick, EV_TIMEOUT, 0);
	}
	return q;
}

void
srvquery_cancel(struct srvquery *q)
{
	if (q == NULL)
		return;
	srvquery_close_fd(q);
	if (q->kick != NULL)
		event_free(q->kick);
	free(q);
}
