/* test_pump: the opaque byte pump over real TCP sockets on 127.0.0.1.
 *
 * Layout of every case:  client end <-TCP-> cfd [pump] sfd <-TCP-> server end
 * The two test ends and the pump share one event loop.  Each end sends random
 * bytes (OpenSSL RAND) and hashes what it sent and what it received with
 * SHA-256; every case runs for the splice path and the copy path.
 * PUMP_TEST_MIB (default 64) sets the bulk size (the valgrind run lowers it). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "relay/limits.h"
#include "relay/pump.h"
#include "tests/unit/cutest.h"

#define MIB            (1024u * 1024u)
#define TEND_CHUNK     (64 * 1024)
#ifndef TEST_DEADLINE
#define TEST_DEADLINE  120000   /* ms any one case may run */
#endif

static uint64_t bulk_bytes = 64ull * MIB;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one test end ------------------------------------------------------ */

struct tend {
	int          fd;
	struct event *rev, *wev;
	struct tend  *peer;
	/* sending */
	uint64_t     to_send, sent;
	bool         shut_after;        /* shutdown(SHUT_WR) once all is sent */
	bool         shut;
	size_t       coff, clen;
	EVP_MD_CTX   *tx;
	/* receiving */
	bool         paused;
	bool         shut_on_eof;       /* answer EOF with our own shutdown */
	uint64_t     shut_at_received;  /* shut down after receiving this much (0: no) */
	uint64_t     received;
	uint64_t     peer_received_at_eof;
	EVP_MD_CTX   *rx;
	uint8_t      head[64 * 1024];        /* the first bytes received */
	size_t       nhead;
	bool         eof;
	int          err;
	uint8_t      chunk[TEND_CHUNK];
};

static void
tend_shutdown(struct tend *e)
{
	if (e->shut || e->fd < 0)
		return;
	e->shut = true;
	e->to_send = e->sent;
	event_del(e->wev);
	CU_ASSERT_EQUAL(shutdown(e->fd, SHUT_WR), 0);
}

static void
tend_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tend *e = arg;
	ssize_t n;
	size_t k;

	(void)what;
	while (e->sent < e->to_send) {
		if (e->coff == e->clen) {
			k = e->to_send - e->sent < TEND_CHUNK ?
			    (size_t)(e->to_send - e->sent) : TEND_CHUNK;
			CU_ASSERT_FATAL(RAND_bytes(e->chunk, (int)k) == 1);
			EVP_DigestUpdate(e->tx, e->chunk, k);
			e->coff = 0;
			e->clen = k;
		}
		n = send(fd, e->chunk + e->coff, e->clen - e->coff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			e->err = errno;
			event_del(e->wev);
			return;
		}
		e->coff += (size_t)n;
		e->sent += (uint64_t)n;
	}
	event_del(e->wev);
	if (e->shut_after)
		tend_shutdown(e);
}

static void
tend_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tend *e = arg;
	uint8_t buf[TEND_CHUNK];
	ssize_t n;
	size_t k;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		e->err = errno;
		e->eof = true;
		event_del(e->rev);
		return;
	}
	if (n == 0) {
		e->eof = true;
		e->peer_received_at_eof = e->peer->received;
		event_del(e->rev);
		if (e->shut_on_eof) {
			if (e->sent == e->to_send)
				tend_shutdown(e);
			else
				e->shut_after = true;
		}
		return;
	}
	if (e->nhead < sizeof(e->head)) {
		k = sizeof(e->head) - e->nhead < (size_t)n ? sizeof(e->head) - e->nhead : (size_t)n;
		memcpy(e->head + e->nhead, buf, k);
		e->nhead += k;
	}
	EVP_DigestUpdate(e->rx, buf, (size_t)n);
	e->received += (uint64_t)n;
	if (e->shut_at_received > 0 && e->received >= e->shut_at_received)
		tend_shutdown(e);
}

static struct tend *
tend_new(struct event_base *base, int fd)
{
	struct tend *e = calloc(1, sizeof(*e));

	CU_ASSERT_FATAL(e != NULL);
	e->fd = fd;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, tend_read_cb, e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, tend_write_cb, e);
	e->tx = EVP_MD_CTX_new();
	e->rx = EVP_MD_CTX_new();
	CU_ASSERT_FATAL(e->rev && e->wev && e->tx && e->rx);
	EVP_DigestInit_ex(e->tx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(e->rx, EVP_sha256(), NULL);
	return e;
}

/* Starts the end: reading (unless paused) and sending to_send bytes. */
static void
tend_start(struct tend *e)
{
	if (!e->paused)
		event_add(e->rev, NULL);
	if (e->sent < e->to_send)
		event_add(e->wev, NULL);
	else if (e->shut_after)
		tend_shutdown(e);
}

static void
tend_send_more(struct tend *e, uint64_t n)
{
	e->to_send += n;
	event_add(e->wev, NULL);
}

static void
tend_resume(struct tend *e)
{
	e->paused = false;
	event_add(e->rev, NULL);
}

/* Sends an RST: SO_LINGER 0, close. */
static void
tend_reset(struct tend *e)
{
	struct linger lg = { 1, 0 };

	event_del(e->rev);
	event_del(e->wev);
	CU_ASSERT_EQUAL(setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(e->fd);
	e->fd = -1;
}

static void
tend_free(struct tend *e)
{
	event_free(e->rev);
	event_free(e->wev);
	EVP_MD_CTX_free(e->tx);
	EVP_MD_CTX_free(e->rx);
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

/* What e sent equals what its peer received. */
static void
assert_delivered(struct tend *from, struct tend *to)
{
	uint8_t a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned la = 0, lb = 0;

	CU_ASSERT_EQUAL(EVP_DigestFinal_ex(from->tx, a, &la), 1);
	CU_ASSERT_EQUAL(EVP_DigestFinal_ex(to->rx, b, &lb), 1);
	CU_ASSERT_EQUAL(la, 32);
	CU_ASSERT_EQUAL(la, lb);
	CU_ASSERT(memcmp(a, b, la) == 0);
}

/* ---- the rig ----------------------------------------------------------- */

/* A connected pair of non-blocking TCP sockets over 127.0.0.1 (port from the
 * kernel); bufsz > 0 fixes both socket buffers (no autotuning). */
static void
tcp_pair(int *a, int *b, int bufsz)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int l, i, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(l >= 0 && *a >= 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bufsz > 0) {
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(l, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
		setsockopt(*a, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(*a, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(listen(l, 1) == 0);
	CU_ASSERT_FATAL(getsockname(l, (struct sockaddr *)&sin, &len) == 0);
	CU_ASSERT_FATAL(connect(*a, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(*b >= 0);
	close(l);
	for (i = 0; i < 2; i++) {
		int fd = i ? *b : *a;
		CU_ASSERT_FATAL(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
	}
}

struct rig {
	struct event_base  *base;
	struct pump_pool   *pool;
	struct pump        *p;
	struct tend        *c, *s;     /* client end, server end */
	struct event       *tick;
	struct pump_config  conf;
	int                 cfd, sfd;
	bool                done;
	int                 ndone;
	struct pump_result  res;
	char                reason[64];
	int64_t             t0, t_done;
	size_t              max_buffered[2];
	size_t              max_memory;
};

static void
rig_done(void *arg, const struct pump_result *r)
{
	struct rig *g = arg;

	g->ndone++;
	g->done = true;
	g->res = *r;
	snprintf(g->reason, sizeof(g->reason), "%s", r->reason ? r->reason : "(null)");
	g->res.reason = g->reason;
	g->t_done = now_ms();
	g->p = NULL;
}

static void
rig_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rig *g = arg;
	struct pump_stats st;

	(void)fd;
	(void)what;
	if (g->p == NULL)
		return;
	pump_get_stats(g->p, &st);
	if (st.buffered_c2s > g->max_buffered[0])
		g->max_buffered[0] = st.buffered_c2s;
	if (st.buffered_s2c > g->max_buffered[1])
		g->max_buffered[1] = st.buffered_s2c;
	if (st.memory > g->max_memory)
		g->max_memory = st.memory;
	CU_ASSERT_EQUAL(pump_buffered(g->p, PUMP_C2S), st.buffered_c2s);
}

/* Sockets and ends; the pump starts with rig_start(). */
static struct rig *
rig_new(bool splice, int bufsz)
{
	struct rig *g = calloc(1, sizeof(*g));
	struct timeval tv = { 0, 2000 };
	int ce, se;

	CU_ASSERT_FATAL(g != NULL);
	g->base = event_base_new();
	g->pool = pump_pool_new(0);
	CU_ASSERT_FATAL(g->base != NULL && g->pool != NULL);
	tcp_pair(&ce, &g->cfd, bufsz);
	tcp_pair(&g->sfd, &se, bufsz);
	g->c = tend_new(g->base, ce);
	g->s = tend_new(g->base, se);
	g->c->peer = g->s;
	g->s->peer = g->c;
	pump_config_default(&g->conf);
	g->conf.splice = splice;
	g->tick = event_new(g->base, -1, EV_PERSIST, rig_tick, g);
	event_add(g->tick, &tv);
	return g;
}

static void
rig_start(struct rig *g, const uint8_t *pre_c2s, size_t n_c2s, const uint8_t *pre_s2c,
          size_t n_s2c)
{
	/* Preloaded bytes are part of what each end "sent". */
	EVP_DigestUpdate(g->c->tx, pre_c2s, n_c2s);
	EVP_DigestUpdate(g->s->tx, pre_s2c, n_s2c);
	g->t0 = now_ms();
	g->p = pump_new(g->base, g->pool, g->cfd, g->sfd, &g->conf, pre_c2s, n_c2s,
	                pre_s2c, n_s2c, rig_done, g);
	CU_ASSERT_FATAL(g->p != NULL);
	CU_ASSERT_FALSE(g->done);       /* never called back from pump_new */
	tend_start(g->c);
	tend_start(g->s);
}

/* Runs the loop until cond(g) holds or ms pass; returns cond(g). */
static bool
rig_run(struct rig *g, bool (*cond)(struct rig *), int64_t ms)
{
	int64_t end = now_ms() + ms;

	while (!cond(g) && now_ms() < end)
		event_base_loop(g->base, EVLOOP_ONCE);
	return cond(g);
}

static bool
cond_all_done(struct rig *g)
{
	return g->done && g->c->eof && g->s->eof;
}

static bool
cond_done(struct rig *g)
{
	return g->done;
}

static bool
cond_all_done_no_cb(struct rig *g)
{
	return g->c->eof && g->s->eof;
}

static bool
cond_never(struct rig *g)
{
	(void)g;
	return false;
}

static void
rig_free(struct rig *g)
{
	if (g->p != NULL)
		pump_free(g->p);
	CU_ASSERT_EQUAL(pump_pool_in_use(g->pool), 0);
	tend_free(g->c);
	tend_free(g->s);
	event_free(g->tick);
	pump_pool_free(g->pool);
	event_base_free(g->base);
	free(g);
}

/* ---- cases ------------------------------------------------------------- */

static void
bulk(bool splice)
{
	struct rig *g = rig_new(splice, 0);

	g->c->to_send = g->s->to_send = bulk_bytes;
	g->c->shut_after = g->s->shut_after = true;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT_EQUAL(g->res.error, 0);
	CU_ASSERT_EQUAL(g->res.bytes_c2s, bulk_bytes);
	CU_ASSERT_EQUAL(g->res.bytes_s2c, bulk_bytes);
	CU_ASSERT_EQUAL(g->res.spliced, splice);
	CU_ASSERT_EQUAL(g->s->received, bulk_bytes);
	CU_ASSERT_EQUAL(g->c->received, bulk_bytes);
	CU_ASSERT_EQUAL(g->c->err, 0);
	CU_ASSERT_EQUAL(g->s->err, 0);
	CU_ASSERT(g->max_buffered[0] <= BG_PUMP_BUFFER);
	CU_ASSERT(g->max_buffered[1] <= BG_PUMP_BUFFER);
	assert_delivered(g->c, g->s);
	assert_delivered(g->s, g->c);
	CU_ASSERT_EQUAL(g->ndone, 1);
	printf("\n    %s: %llu MiB each way in %lld ms ", splice ? "splice" : "copy",
	       (unsigned long long)(bulk_bytes / MIB), (long long)(g->t_done - g->t0));
	rig_free(g);
}

static void test_bulk_splice(void) { bulk(true); }
static void test_bulk_copy(void) { bulk(false); }

/* Bytes read before the hand-over go first, in order, both ways.  Both ends
 * start paused with small socket buffers, so the preloaded bytes cannot all
 * leave before new bytes arrive behind them. */
static void
preload(bool splice, size_t bound, size_t nc, size_t ns)
{
	struct rig *g = rig_new(splice, 8192);
	uint8_t pc[40000], ps[40000];

	CU_ASSERT_FATAL(nc <= sizeof(pc) && ns <= sizeof(ps));
	CU_ASSERT_FATAL(RAND_bytes(pc, sizeof(pc)) == 1 && RAND_bytes(ps, sizeof(ps)) == 1);
	g->conf.buffer = bound;
	g->c->to_send = g->s->to_send = 1 * MIB;
	g->c->shut_after = g->s->shut_after = true;
	g->c->paused = g->s->paused = true;
	rig_start(g, pc, nc, ps, ns);
	CU_ASSERT_FALSE(rig_run(g, cond_never, 100));
	tend_resume(g->c);
	tend_resume(g->s);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT_EQUAL(g->s->received, nc + 1 * MIB);
	CU_ASSERT_EQUAL(g->c->received, ns + 1 * MIB);
	CU_ASSERT_EQUAL(g->res.bytes_c2s, nc + 1 * MIB);
	CU_ASSERT_EQUAL(g->res.bytes_s2c, ns + 1 * MIB);
	CU_ASSERT(memcmp(g->s->head, pc, nc) == 0);
	CU_ASSERT(memcmp(g->c->head, ps, ns) == 0);
	assert_delivered(g->c, g->s);
	assert_delivered(g->s, g->c);
	rig_free(g);
}

/* Larger than the bound, and smaller. */
static void test_preload_splice(void) { preload(true, BG_PUMP_BUFFER_MIN, 40000, 30000); }
static void test_preload_copy(void) { preload(false, BG_PUMP_BUFFER_MIN, 40000, 30000); }
static void test_preload_small_splice(void) { preload(true, BG_PUMP_BUFFER, 5000, 1); }
static void test_preload_small_copy(void) { preload(false, BG_PUMP_BUFFER, 5000, 1); }


/* One end shuts down after 1 MiB while the other end still sends 10 MiB:
 * the EOF reaches the far end at once and the 10 MiB still arrive. */
static void
halfclose(bool splice, bool client_first)
{
	struct rig *g = rig_new(splice, 0);
	struct tend *quiet = client_first ? g->c : g->s;
	struct tend *talker = client_first ? g->s : g->c;

	talker->to_send = 10 * MIB;
	talker->shut_after = true;
	quiet->to_send = 0;
	quiet->shut_at_received = 1 * MIB;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT(talker->eof);
	/* The half-close arrived while the other direction was mid-stream. */
	CU_ASSERT(talker->peer_received_at_eof < 10 * MIB);
	CU_ASSERT_EQUAL(quiet->received, 10 * MIB);
	CU_ASSERT_EQUAL(talker->received, 0);
	CU_ASSERT_EQUAL(client_first ? g->res.bytes_s2c : g->res.bytes_c2s, 10 * MIB);
	CU_ASSERT_EQUAL(client_first ? g->res.bytes_c2s : g->res.bytes_s2c, 0);
	assert_delivered(talker, quiet);
	rig_free(g);
}

static void test_halfclose_client_splice(void) { halfclose(true, true); }
static void test_halfclose_server_splice(void) { halfclose(true, false); }
static void test_halfclose_client_copy(void) { halfclose(false, true); }
static void test_halfclose_server_copy(void) { halfclose(false, false); }

/* The server end stops reading: the pump holds at most the bound, the
 * client end gets blocked, nothing is lost once reading resumes. */
static void
slow_reader(bool splice)
{
	struct rig *g = rig_new(splice, 32 * 1024);
	const size_t bound = 48 * 1024;       /* pipes come in powers of two pages */
	const uint64_t total = 8 * MIB;

	g->conf.buffer = bound;
	g->c->to_send = total;
	g->c->shut_after = true;
	g->s->paused = true;
	g->s->shut_on_eof = true;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FALSE(rig_run(g, cond_never, 300));
	CU_ASSERT_FALSE(g->done);
	CU_ASSERT(g->c->sent < total);          /* backpressure reached the sender */
	CU_ASSERT(g->max_buffered[0] > 0);
	CU_ASSERT(g->max_buffered[0] <= bound);
	CU_ASSERT(g->max_memory <= pump_footprint() + bound);
	printf("\n    %s: paused reader, sender at %llu KiB, pump holds %zu ",
	       splice ? "splice" : "copy", (unsigned long long)(g->c->sent / 1024),
	       g->max_buffered[0]);
	tend_resume(g->s);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT_EQUAL(g->s->received, total);
	CU_ASSERT(g->max_buffered[0] <= bound);
	assert_delivered(g->c, g->s);
	rig_free(g);
}

static void test_slow_reader_splice(void) { slow_reader(true); }
static void test_slow_reader_copy(void) { slow_reader(false); }

static bool
cond_received_1m(struct rig *g)
{
	return g->s->received == 1 * MIB;
}

/* Once the bytes are through, a pump holds no pipe and no buffer. */
static void
idle_holds_nothing(bool splice)
{
	struct rig *g = rig_new(splice, 0);
	struct pump_stats st;

	g->c->to_send = 1 * MIB;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_received_1m, TEST_DEADLINE));
	CU_ASSERT_FATAL(g->p != NULL);
	pump_get_stats(g->p, &st);
	CU_ASSERT_EQUAL(st.bytes_c2s, 1 * MIB);
	CU_ASSERT_EQUAL(st.bytes_s2c, 0);
	CU_ASSERT_EQUAL(st.buffered_c2s, 0);
	CU_ASSERT_EQUAL(st.buffered_s2c, 0);
	CU_ASSERT_EQUAL(st.memory, pump_footprint());
	CU_ASSERT_EQUAL(st.spliced, splice);
	CU_ASSERT_FALSE(st.eof_c2s);
	CU_ASSERT_EQUAL(pump_pool_in_use(g->pool), 0);
	CU_ASSERT(pump_footprint() <= 4096);
	g->c->shut_after = true;
	g->s->shut_on_eof = true;
	tend_shutdown(g->c);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	assert_delivered(g->c, g->s);
	rig_free(g);
}

static void test_idle_holds_nothing_splice(void) { idle_holds_nothing(true); }
static void test_idle_holds_nothing_copy(void) { idle_holds_nothing(false); }

static void
idle_silent(bool splice)
{
	struct rig *g = rig_new(splice, 0);
	int64_t took;

	g->conf.idle_ms = 200;
	g->conf.fin_ms = 0;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, 5000));
	took = g->t_done - g->t0;
	CU_ASSERT_STRING_EQUAL(g->res.reason, "idle timeout");
	CU_ASSERT(took >= 190 && took < 2000);
	rig_free(g);
}

static void test_idle_silent_splice(void) { idle_silent(true); }
static void test_idle_silent_copy(void) { idle_silent(false); }

struct trickle {
	struct rig *g;
	int         left;
};

static void
trickle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct trickle *t = arg;

	(void)fd;
	(void)what;
	if (t->left-- > 0)
		tend_send_more(t->g->c, 1024);
	else if (!t->g->c->shut)
		tend_shutdown(t->g->c);
}

/* A one-way stream slower than nothing but faster than the idle timeout
 * lives on: 1 KiB every 40 ms for 1 s against a 200 ms idle timeout. */
static void
idle_oneway(bool splice)
{
	struct rig *g = rig_new(splice, 0);
	struct trickle t = { g, 25 };
	struct timeval tv = { 0, 40000 };
	struct event *ev;

	g->conf.idle_ms = 200;
	g->conf.fin_ms = 0;
	g->s->shut_on_eof = true;
	ev = event_new(g->base, -1, EV_PERSIST, trickle_cb, &t);
	event_add(ev, &tv);
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, 10000));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT(g->t_done - g->t0 >= 1000);
	CU_ASSERT_EQUAL(g->s->received, 25 * 1024);
	CU_ASSERT_EQUAL(g->res.bytes_c2s, 25 * 1024);
	CU_ASSERT_EQUAL(g->res.bytes_s2c, 0);
	assert_delivered(g->c, g->s);
	event_free(ev);
	rig_free(g);
}

static void test_idle_oneway_splice(void) { idle_oneway(true); }
static void test_idle_oneway_copy(void) { idle_oneway(false); }

/* The client shuts down, the server never does: the fin timeout ends it. */
static void
fin_timeout(bool splice)
{
	struct rig *g = rig_new(splice, 0);
	int64_t took;

	g->conf.idle_ms = 10000;
	g->conf.fin_ms = 200;
	g->c->shut_after = true;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, 5000));
	took = g->t_done - g->t0;
	CU_ASSERT_STRING_EQUAL(g->res.reason, "fin timeout");
	CU_ASSERT(took >= 190 && took < 2000);
	CU_ASSERT(g->s->eof);
	rig_free(g);
}

static void test_fin_timeout_splice(void) { fin_timeout(true); }
static void test_fin_timeout_copy(void) { fin_timeout(false); }

static bool
cond_c_eof(struct rig *g)
{
	return g->c->eof;
}

static bool
cond_s_eof(struct rig *g)
{
	return g->s->eof;
}

/* An RST from a quiet side ends the pump with a reset reason, and the
 * other end sees its connection closed. */
static void
reset_quiet(bool splice, bool client)
{
	struct rig *g = rig_new(splice, 0);

	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FALSE(rig_run(g, cond_never, 20));
	tend_reset(client ? g->c : g->s);
	CU_ASSERT_FATAL(rig_run(g, cond_done, 5000));
	CU_ASSERT_STRING_EQUAL(g->res.reason, client ? "reset by client" : "reset by server");
	CU_ASSERT_EQUAL(g->res.error, ECONNRESET);
	CU_ASSERT(rig_run(g, client ? cond_s_eof : cond_c_eof, 5000));
	rig_free(g);
}

static void test_reset_client_splice(void) { reset_quiet(true, true); }
static void test_reset_server_splice(void) { reset_quiet(true, false); }
static void test_reset_client_copy(void) { reset_quiet(false, true); }
static void test_reset_server_copy(void) { reset_quiet(false, false); }

static bool
cond_c_got_1m(struct rig *g)
{
	return g->c->received >= 1 * MIB;
}

/* The client resets in the middle of a download: the pump's writes fail. */
static void
reset_busy(bool splice)
{
	struct rig *g = rig_new(splice, 0);

	g->s->to_send = 64 * MIB;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_c_got_1m, TEST_DEADLINE));
	tend_reset(g->c);
	CU_ASSERT_FATAL(rig_run(g, cond_done, 5000));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "reset by client");
	CU_ASSERT(g->res.error == ECONNRESET || g->res.error == EPIPE);
	CU_ASSERT(g->res.bytes_s2c >= 1 * MIB && g->res.bytes_s2c < 64 * MIB);
	rig_free(g);
}

static void test_reset_busy_splice(void) { reset_busy(true); }
static void test_reset_busy_copy(void) { reset_busy(false); }

/* The owner's hard stop: one callback with the owner's reason and the
 * counters; both ends see EOF. */
static void
owner_close(bool splice)
{
	struct rig *g = rig_new(splice, 0);
	struct pump_stats st;

	g->c->to_send = 1 * MIB;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_received_1m, TEST_DEADLINE));
	pump_get_stats(g->p, &st);
	pump_close(g->p, "closed by relay");
	CU_ASSERT_EQUAL(g->ndone, 1);
	CU_ASSERT_STRING_EQUAL(g->res.reason, "closed by relay");
	CU_ASSERT_EQUAL(g->res.bytes_c2s, st.bytes_c2s);
	CU_ASSERT_EQUAL(g->res.bytes_c2s, 1 * MIB);
	CU_ASSERT_EQUAL(g->res.spliced, splice);
	CU_ASSERT(rig_run(g, cond_all_done, 5000));
	CU_ASSERT_EQUAL(g->ndone, 1);
	rig_free(g);
}

static void test_close_splice(void) { owner_close(true); }
static void test_close_copy(void) { owner_close(false); }

/* pump_free: the same teardown without a callback. */
static void
test_free(void)
{
	struct rig *g = rig_new(true, 0);

	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FALSE(rig_run(g, cond_never, 20));
	pump_free(g->p);
	g->p = NULL;
	pump_free(NULL);
	CU_ASSERT(rig_run(g, cond_all_done_no_cb, 5000));
	CU_ASSERT_EQUAL(g->ndone, 0);
	rig_free(g);
}

/* Bad arguments are refused and the caller keeps its descriptors. */
static void
test_bad_args(void)
{
	struct rig *g = rig_new(true, 0);
	struct pump_config pc = g->conf;
	uint8_t b = 0;

	pc.buffer = BG_PUMP_BUFFER_MIN - 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(pump_new(g->base, g->pool, g->cfd, g->sfd, &pc, NULL, 0, NULL, 0,
	                            rig_done, g));
	CU_ASSERT_EQUAL(errno, EINVAL);
	pc.buffer = (size_t)BG_PUMP_BUFFER_MAX + 1;
	CU_ASSERT_PTR_NULL(pump_new(g->base, g->pool, g->cfd, g->sfd, &pc, NULL, 0, NULL, 0,
	                            rig_done, g));
	pc = g->conf;
	CU_ASSERT_PTR_NULL(pump_new(g->base, g->pool, g->cfd, g->cfd, &pc, NULL, 0, NULL, 0,
	                            rig_done, g));
	CU_ASSERT_PTR_NULL(pump_new(g->base, g->pool, -1, g->sfd, &pc, NULL, 0, NULL, 0,
	                            rig_done, g));
	CU_ASSERT_PTR_NULL(pump_new(g->base, NULL, g->cfd, g->sfd, &pc, NULL, 0, NULL, 0,
	                            rig_done, g));
	CU_ASSERT_PTR_NULL(pump_new(g->base, g->pool, g->cfd, g->sfd, &pc, NULL, 1, &b, 1,
	                            rig_done, g));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(fcntl(g->cfd, F_GETFD) >= 0);
	CU_ASSERT(fcntl(g->sfd, F_GETFD) >= 0);
	CU_ASSERT_FALSE(g->done);
	/* Still usable afterwards. */
	g->c->to_send = 4096;
	g->c->shut_after = true;
	g->s->shut_on_eof = true;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, 5000));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	assert_delivered(g->c, g->s);
	rig_free(g);
}

/* A custom endpoint (the seam a TLS layer plugs into) forces the copy path
 * even with splice on, and its ctx is released with the pump. */
struct counting {
	unsigned reads, writes, shutdowns, frees;
};

static ssize_t
counting_read(void *ctx, int fd, uint8_t *buf, size_t len, short *want)
{
	struct counting *k = ctx;
	ssize_t n;

	k->reads++;
	*want = EV_READ;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t
counting_write(void *ctx, int fd, const uint8_t *buf, size_t len, short *want)
{
	struct counting *k = ctx;

	k->writes++;
	*want = EV_WRITE;
	return send(fd, buf, len, MSG_NOSIGNAL);
}

static int
counting_shutdown(void *ctx, int fd, short *want)
{
	struct counting *k = ctx;

	k->shutdowns++;
	*want = EV_WRITE;
	return shutdown(fd, SHUT_WR);
}

static void
counting_free(void *ctx)
{
	struct counting *k = ctx;

	k->frees++;
}

static const struct pump_endpoint_ops counting_ops = {
	counting_read, counting_write, counting_shutdown, counting_free
};

static void
test_endpoint_ops(void)
{
	struct rig *g = rig_new(true, 0);
	struct counting k;
	uint8_t pre[100];

	memset(&k, 0, sizeof(k));
	memset(pre, 'x', sizeof(pre));
	g->conf.ops[0] = &counting_ops;
	g->conf.ctx[0] = &k;
	g->c->to_send = g->s->to_send = 4 * MIB;
	g->c->shut_after = g->s->shut_after = true;
	rig_start(g, pre, sizeof(pre), NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT_FALSE(g->res.spliced);
	CU_ASSERT(k.reads > 0);
	CU_ASSERT(k.writes > 0);
	CU_ASSERT_EQUAL(k.shutdowns, 1);
	CU_ASSERT_EQUAL(k.frees, 1);
	CU_ASSERT_EQUAL(g->s->received, 4 * MIB + sizeof(pre));
	CU_ASSERT_EQUAL(g->c->received, 4 * MIB);
	assert_delivered(g->c, g->s);
	assert_delivered(g->s, g->c);
	rig_free(g);
}

/* A pool with no pipe to give makes a splice pump copy; nothing is lost. */
static void
test_pool_exhausted(void)
{
	struct rig *g = rig_new(true, 0);

	pump_pool_free(g->pool);
	g->pool = pump_pool_new(1);
	CU_ASSERT_FATAL(g->pool != NULL);
	g->c->to_send = g->s->to_send = 8 * MIB;
	g->c->shut_after = g->s->shut_after = true;
	rig_start(g, NULL, 0, NULL, 0);
	CU_ASSERT_FATAL(rig_run(g, cond_all_done, TEST_DEADLINE));
	CU_ASSERT_STRING_EQUAL(g->res.reason, "done");
	CU_ASSERT(pump_pool_open(g->pool) <= 1);
	CU_ASSERT_EQUAL(g->res.bytes_c2s, 8 * MIB);
	CU_ASSERT_EQUAL(g->res.bytes_s2c, 8 * MIB);
	assert_delivered(g->c, g->s);
	assert_delivered(g->s, g->c);
	rig_free(g);
}

static int fds_at_start;

static int
count_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Last: every socket and pipe of the cases above is closed again. */
static void
test_no_fd_left(void)
{
	CU_ASSERT(fds_at_start > 0);
	CU_ASSERT_EQUAL(count_fds(), fds_at_start);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "bulk 64 MiB each way, splice", test_bulk_splice },
		{ "bulk 64 MiB each way, copy", test_bulk_copy },
		{ "preloaded bytes first, splice", test_preload_splice },
		{ "preloaded bytes first, copy", test_preload_copy },
		{ "small preloads first, splice", test_preload_small_splice },
		{ "small preloads first, copy", test_preload_small_copy },
		{ "half-close by client, splice", test_halfclose_client_splice },
		{ "half-close by server, splice", test_halfclose_server_splice },
		{ "half-close by client, copy", test_halfclose_client_copy },
		{ "half-close by server, copy", test_halfclose_server_copy },
		{ "slow reader bounded, splice", test_slow_reader_splice },
		{ "slow reader bounded, copy", test_slow_reader_copy },
		{ "idle pump holds nothing, splice", test_idle_holds_nothing_splice },
		{ "idle pump holds nothing, copy", test_idle_holds_nothing_copy },
		{ "idle timeout when silent, splice", test_idle_silent_splice },
		{ "idle timeout when silent, copy", test_idle_silent_copy },
		{ "no idle timeout one-way, splice", test_idle_oneway_splice },
		{ "no idle timeout one-way, copy", test_idle_oneway_copy },
		{ "fin timeout, splice", test_fin_timeout_splice },
		{ "fin timeout, copy", test_fin_timeout_copy },
		{ "reset by client, splice", test_reset_client_splice },
		{ "reset by server, splice", test_reset_server_splice },
		{ "reset by client, copy", test_reset_client_copy },
		{ "reset by server, copy", test_reset_server_copy },
		{ "reset mid-download, splice", test_reset_busy_splice },
		{ "reset mid-download, copy", test_reset_busy_copy },
		{ "pump_close by owner, splice", test_close_splice },
		{ "pump_close by owner, copy", test_close_copy },
		{ "pump_free without callback", test_free },
		{ "bad arguments refused", test_bad_args },
		{ "custom endpoint ops use copy", test_endpoint_ops },
		{ "pool exhausted falls back to copy", test_pool_exhausted },
		{ "no descriptor left open", test_no_fd_left },
		CUTEST_END
	};
	const char *mib = getenv("PUMP_TEST_MIB");

	signal(SIGPIPE, SIG_IGN);
	alarm(600);
	fds_at_start = count_fds();
	if (mib != NULL && atoi(mib) > 0)
		bulk_bytes = (uint64_t)atoi(mib) * MIB;
	return cutest_run("pump", cases);
}
