/* pump: the opaque byte pump (see pump.h and docs/pump.md).
 *
 * Readiness is tracked per direction: RREADY says the source may have bytes,
 * WREADY that the destination may take some.  Both are cleared when a call
 * returns EAGAIN (or a short count on a plain socket), and set again by the
 * fd's event.  The events of a side (one for reading, one for writing, both
 * persistent) are added only while a direction waits on them, so an fd at EOF
 * or under backpressure is never polled. */
#include "relay/pump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/limits.h"

/* Direction flags. */
#define DIR_RREADY    0x01u     /* the source may be readable */
#define DIR_WREADY    0x02u     /* the destination may be writable */
#define DIR_PIPEFULL  0x04u     /* splice into the pipe said EAGAIN with bytes in it */
#define DIR_NOSPLICE  0x08u     /* splice failed with EINVAL: copy from now on */
#define DIR_RWANT_W   0x10u     /* the source's read waits for EV_WRITE (TLS) */
#define DIR_WWANT_R   0x20u     /* the destination's write waits for EV_READ (TLS) */

enum pump_dir_state {
	DIR_OPEN,               /* reading the source */
	DIR_EOF,                /* source ended: flushing, then shutdown(SHUT_WR) */
	DIR_DONE,               /* destination shut down */
};

struct pump_way {
	uint8_t  *buf;          /* copy path: unsent bytes, NULL when none */
	uint32_t  off, len, cap;
	int       pfd[2];       /* splice path: pipe from the pool, -1 when none */
	uint32_t  psize;        /* its capacity */
	uint32_t  inpipe;       /* bytes in it */
	uint64_t  bytes;        /* delivered to the destination */
	uint8_t   state;        /* enum pump_dir_state */
	uint8_t   flags;
};

/* Events, allocated behind the struct: [side * 2 + 0] read, [side * 2 + 1]
 * write, [PUMP_EV_TIMER] the idle/fin timer, [PUMP_EV_AGAIN] activated by
 * hand to continue after the read budget (never added, so adding and
 * deleting the fd events cannot cancel it). */
#define PUMP_EV_TIMER 4
#define PUMP_EV_AGAIN 5
#define PUMP_NEV      6

enum pump_state {
	PUMP_RUNNING,
	PUMP_CLOSING,           /* in teardown (the callback may be running) */
};

struct pump {
	struct pump_pool               *pool;
	pump_done_fn                   *done;
	void                           *arg;
	const struct pump_endpoint_ops *ops[2];
	void                           *ctx[2];
	int                             fd[2];
	uint32_t                        bound;
	uint32_t                        idle_ms, fin_ms;
	int64_t                         last;       /* ms of the last byte moved */
	int64_t                         due;        /* ms the timer fires, 0 none */
	struct pump_way                 dir[2];
	uint8_t                         evmask;     /* events added, bit i = event i */
	uint8_t                         state;      /* enum pump_state */
	bool                            splice;
	bool                            spliced;
	bool                            moved;      /* bytes moved in this wake-up */
	int                             error;
	const char                     *reason;
};

struct pump_pipe {
	int      fd[2];
	uint32_t size;
};

struct pump_pool {
	struct pump_pipe *idle;
	unsigned          nidle, max_idle;
	unsigned          open, max_open;
	uint8_t          *scratch;
};

static size_t pump_evsize;      /* event_get_struct_event_size(), rounded */

/* ---- time -------------------------------------------------------------- */

static int64_t
pump_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pool -------------------------------------------------------------- */

struct pump_pool *
pump_pool_new(unsigned max_pipes)
{
	struct pump_pool *pool;

	if (max_pipes == 0)
		max_pipes = BG_PUMP_POOL_PIPES;
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return NULL;
	pool->max_open = max_pipes;
	pool->max_idle = max_pipes < BG_PUMP_POOL_IDLE ? max_pipes : BG_PUMP_POOL_IDLE;
	if ((pool->idle = calloc(pool->max_idle, sizeof(*pool->idle))) == NULL) {
		free(pool);
		return NULL;
	}
	return pool;
}

void
pump_pool_free(struct pump_pool *pool)
{
	unsigned i;

	if (pool == NULL)
		return;
	for (i = 0; i < pool->nidle; i++) {
		close(pool->idle[i].fd[0]);
		close(pool->idle[i].fd[1]);
	}
	free(pool->idle);
	free(pool->scratch);
	free(pool);
}

unsigned
pump_pool_open(const struct pump_pool *pool)
{
	return pool->open;
}

unsigned
pump_pool_in_use(const struct pump_pool *pool)
{
	return pool->open - pool->nidle;
}

/* Gives d an empty pipe of up to want bytes; -1 when none can be had. */
static int
pump_pool_get(struct pump_pool *pool, struct pump_way *d, uint32_t want)
{
	struct pump_pipe pp;
	int sz;

	if (pool->nidle > 0) {
		pp = pool->idle[--pool->nidle];
	} else {
		if (pool->open >= pool->max_open)
			return -1;
		if (pipe2(pp.fd, O_NONBLOCK | O_CLOEXEC) != 0)
			return -1;
		pp.size = 0;
		pool->open++;
	}
	if (pp.size < want) {
		/* Above fs.pipe-max-size or the per-user page budget this
		 * fails; the pipe then keeps the size it has. */
		(void)fcntl(pp.fd[0], F_SETPIPE_SZ, (int)want);
		if ((sz = fcntl(pp.fd[0], F_GETPIPE_SZ)) > 0)
			pp.size = (uint32_t)sz;
		if (pp.size == 0)
			pp.size = 4096;
	}
	d->pfd[0] = pp.fd[0];
	d->pfd[1] = pp.fd[1];
	d->psize = pp.size;
	return 0;
}

/* Takes d's pipe back: kept when empty and there is room, else closed. */
static void
pump_pool_put(struct pump_pool *pool, struct pump_way *d)
{
	if (d->pfd[0] < 0)
		return;
	if (d->inpipe == 0 && pool->nidle < pool->max_idle) {
		pool->idle[pool->nidle].fd[0] = d->pfd[0];
		pool->idle[pool->nidle].fd[1] = d->pfd[1];
		pool->idle[pool->nidle].size = d->psize;
		pool->nidle++;
	} else {
		close(d->pfd[0]);
		close(d->pfd[1]);
		pool->open--;
	}
	d->pfd[0] = d->pfd[1] = -1;
	d->psize = 0;
	d->inpipe = 0;
}

static uint8_t *
pump_pool_scratch(struct pump_pool *pool)
{
	if (pool->scratch == NULL)
		pool->scratch = malloc(BG_PUMP_SCRATCH);
	return pool->scratch;
}

/* ---- plain socket endpoint --------------------------------------------- */

static ssize_t
pump_plain_read(void *ctx, int fd, uint8_t *buf, size_t len, short *want)
{
	ssize_t n;

	(void)ctx;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	*want = EV_READ;
	return n;
}

static ssize_t
pump_plain_write(void *ctx, int fd, const uint8_t *buf, size_t len, short *want)
{
	ssize_t n;

	(void)ctx;
	do {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	*want = EV_WRITE;
	return n;
}

static int
pump_plain_shutdown(void *ctx, int fd, short *want)
{
	(void)ctx;
	*want = EV_WRITE;
	/* ENOTCONN: the peer is gone already; the other direction will tell. */
	if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN && errno != ENOTSOCK)
		return -1;
	return 0;
}

static const struct pump_endpoint_ops pump_plain_ops = {
	pump_plain_read, pump_plain_write, pump_plain_shutdown, NULL
};

/* ---- helpers ----------------------------------------------------------- */

static struct event *
pump_ev(struct pump *p, int i)
{
	return (struct event *)(void *)((uint8_t *)p + sizeof(struct pump) + (size_t)i * pump_evsize);
}

static size_t
pump_pending(const struct pump_way *d)
{
	return (size_t)d->len + d->inpipe;
}

/* Records a failure on side `side` (the first one wins). */
static int
pump_fail(struct pump *p, int side, int err)
{
	if (p->reason != NULL)
		return -1;
	p->error = err;
	switch (err) {
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		p->reason = side == 0 ? "reset by client" : "reset by server";
		break;
	case ENOMEM:
		p->reason = "out of memory";
		break;
	default:
		p->reason = side == 0 ? "error on client" : "error on server";
		break;
	}
	return -1;
}

static void
pump_dir_drop_buf(struct pump_way *d)
{
	free(d->buf);
	d->buf = NULL;
	d->off = d->len = d->cap = 0;
}

/* Keeps n unsent bytes (a remainder of the scratch buffer) in d. */
static int
pump_dir_keep(struct pump *p, struct pump_way *d, const uint8_t *src, size_t n)
{
	if ((d->buf = malloc(p->bound)) == NULL)
		return pump_fail(p, 0, ENOMEM);
	memcpy(d->buf, src, n);
	d->off = 0;
	d->len = (uint32_t)n;
	d->cap = p->bound;
	return 0;
}

/* ---- one direction ----------------------------------------------------- */

/* Writes what is queued.  Returns 1 if bytes moved, 0 if not, -1 on error. */
static int
pump_dir_write(struct pump *p, int di)
{
	struct pump_way *d = &p->dir[di];
	int dst = 1 - di;
	ssize_t n;
	short want;

	if (d->inpipe > 0) {
		do
			n = splice(d->pfd[0], NULL, p->fd[dst], NULL, d->inpipe,
			           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN) {
				d->flags &= ~DIR_WREADY;
				return 0;
			}
			return pump_fail(p, dst, errno);
		}
		d->inpipe -= (uint32_t)n;
		d->bytes += (uint64_t)n;
		d->flags &= ~DIR_PIPEFULL;
		if (n == 0 || d->inpipe > 0)
			d->flags &= ~DIR_WREADY;
		else
			pump_pool_put(p->pool, d);
		return n > 0;
	}
	n = p->ops[dst]->write(p->ctx[dst], p->fd[dst], d->buf + d->off, d->len, &want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			d->flags &= ~DIR_WREADY;
			if (want == EV_READ)
				d->flags |= DIR_WWANT_R;
			else
				d->flags &= ~DIR_WWANT_R;
			return 0;
		}
		return pump_fail(p, dst, errno);
	}
	d->flags &= ~DIR_WWANT_R;
	d->bytes += (uint64_t)n;
	d->off += (uint32_t)n;
	d->len -= (uint32_t)n;
	if (d->len == 0)
		pump_dir_drop_buf(d);
	else if (n == 0 || p->ops[dst] == &pump_plain_ops)
		d->flags &= ~DIR_WREADY;        /* a short write: the socket is full */
	return n > 0;
}

/* Source ended: note it; the flush and the shutdown follow. */
static void
pump_dir_eof(struct pump_way *d)
{
	d->state = DIR_EOF;
	d->flags &= ~(DIR_RREADY | DIR_PIPEFULL);
}

static void
pump_dir_read_error(struct pump_way *d, short want)
{
	d->flags &= ~DIR_RREADY;
	if (want == EV_WRITE)
		d->flags |= DIR_RWANT_W;
	else
		d->flags &= ~DIR_RWANT_W;
}

/* splice(2) source -> pipe; then straight on to the destination. */
static int
pump_dir_read_splice(struct pump *p, int di, size_t *budget)
{
	struct pump_way *d = &p->dir[di];
	uint32_t cap;
	size_t room;
	ssize_t n;

	cap = d->psize < p->bound ? d->psize : p->bound;
	if (d->inpipe >= cap) {
		d->flags |= DIR_PIPEFULL;
		return 0;
	}
	room = cap - d->inpipe;
	if (room > *budget)
		room = *budget;
	do
		n = splice(p->fd[di], NULL, d->pfd[1], NULL, room,
		           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		switch (errno) {
		case EAGAIN:
			/* Either the socket is empty or the pipe is out of
			 * slots: with bytes in the pipe, wait for it to drain
			 * before asking again (no spinning on a full pipe). */
			d->flags &= ~DIR_RREADY;
			if (d->inpipe > 0)
				d->flags |= DIR_PIPEFULL;
			else
				pump_pool_put(p->pool, d);
			return 0;
		case EINVAL:
		case ENOSYS:
			d->flags |= DIR_NOSPLICE;
			if (d->inpipe == 0)
				pump_pool_put(p->pool, d);
			return 0;
		default:
			return pump_fail(p, di, errno);
		}
	}
	if (n == 0) {
		pump_dir_eof(d);
		if (d->inpipe == 0)
			pump_pool_put(p->pool, d);
		return 1;
	}
	p->spliced = true;
	d->inpipe += (uint32_t)n;
	*budget -= (size_t)n;
	if ((size_t)n < room)
		d->flags &= ~DIR_RREADY;        /* the socket is drained */
	if (d->flags & DIR_WREADY)
		return pump_dir_write(p, di) < 0 ? -1 : 1;
	return 1;
}

/* read(2) source -> scratch -> destination, or into the unsent buffer. */
static int
pump_dir_read_copy(struct pump *p, int di, size_t *budget)
{
	struct pump_way *d = &p->dir[di];
	int dst = 1 - di;
	uint8_t *to;
	size_t room;
	ssize_t n, m;
	short want;

	if (d->buf == NULL) {
		if ((to = pump_pool_scratch(p->pool)) == NULL)
			return pump_fail(p, di, ENOMEM);
		room = p->bound < BG_PUMP_SCRATCH ? p->bound : BG_PUMP_SCRATCH;
	} else {
		if (d->len >= p->bound)
			return 0;
		if (d->off > 0 && d->cap - d->off - d->len < d->cap / 4) {
			memmove(d->buf, d->buf + d->off, d->len);
			d->off = 0;
		}
		to = d->buf + d->off + d->len;
		room = d->cap - d->off - d->len;
		if (room > p->bound - d->len)
			room = p->bound - d->len;
		if (room == 0)
			return 0;
	}
	if (room > *budget)
		room = *budget;
	n = p->ops[di]->read(p->ctx[di], p->fd[di], to, room, &want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			pump_dir_read_error(d, want);
			return 0;
		}
		return pump_fail(p, di, errno);
	}
	d->flags &= ~DIR_RWANT_W;
	if (n == 0) {
		pump_dir_eof(d);
		return 1;
	}
	*budget -= (size_t)n;
	if ((size_t)n < room && p->ops[di] == &pump_plain_ops)
		d->flags &= ~DIR_RREADY;        /* the socket is drained */
	if (d->buf != NULL) {
		d->len += (uint32_t)n;
		return 1;
	}
	/* From the scratch buffer: write now, keep only what is left. */
	m = 0;
	if ((d->flags & DIR_WREADY) && d->inpipe == 0) {
		m = p->ops[dst]->write(p->ctx[dst], p->fd[dst], to, (size_t)n, &want);
		if (m < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return pump_fail(p, dst, errno);
			d->flags &= ~DIR_WREADY;
			if (want == EV_READ)
				d->flags |= DIR_WWANT_R;
			else
				d->flags &= ~DIR_WWANT_R;
			m = 0;
		} else {
			d->flags &= ~DIR_WWANT_R;
			d->bytes += (uint64_t)m;
			if (m < n && p->ops[dst] == &pump_plain_ops)
				d->flags &= ~DIR_WREADY;
		}
	}
	if (m < n && pump_dir_keep(p, d, to + m, (size_t)(n - m)) != 0)
		return -1;
	return 1;
}

static int
pump_dir_shutdown(struct pump *p, int di)
{
	struct pump_way *d = &p->dir[di];
	int dst = 1 - di;
	short want;

	if (p->ops[dst]->shutdown_write(p->ctx[dst], p->fd[dst], &want) != 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return pump_fail(p, dst, errno);
		d->flags &= ~DIR_WREADY;
		if (want == EV_READ)
			d->flags |= DIR_WWANT_R;
		else
			d->flags &= ~DIR_WWANT_R;
		return 0;
	}
	d->state = DIR_DONE;
	return 1;
}

static bool
pump_dir_can_read(const struct pump *p, const struct pump_way *d)
{
	return d->state == DIR_OPEN && !(d->flags & DIR_PIPEFULL) &&
	    pump_pending(d) < p->bound;
}

/* Moves what can be moved now in one direction.  -1 on error. */
static int
pump_dir_run(struct pump *p, int di)
{
	struct pump_way *d = &p->dir[di];
	size_t budget = BG_PUMP_RUN_BUDGET;
	int r, progress;

	do {
		progress = 0;
		if (pump_pending(d) > 0 && (d->flags & DIR_WREADY)) {
			if ((r = pump_dir_write(p, di)) < 0)
				return -1;
			progress |= r;
		}
		if (pump_pending(d) == 0 && d->state == DIR_EOF && (d->flags & DIR_WREADY)) {
			if ((r = pump_dir_shutdown(p, di)) < 0)
				return -1;
			progress |= r;
		}
		if ((d->flags & DIR_RREADY) && pump_dir_can_read(p, d) && budget > 0) {
			if (d->len == 0 && p->splice && !(d->flags & DIR_NOSPLICE) &&
			    (d->pfd[0] >= 0 || pump_pool_get(p->pool, d, p->bound) == 0))
				r = pump_dir_read_splice(p, di, &budget);
			else
				r = pump_dir_read_copy(p, di, &budget);
			if (r < 0)
				return -1;
			progress |= r;
		}
		if (progress)
			p->moved = true;
	} while (progress);
	/* Out of budget with more to read: come back after the other events. */
	if (budget == 0 && (d->flags & DIR_RREADY) && pump_dir_can_read(p, d))
		event_active(pump_ev(p, PUMP_EV_AGAIN), 0, 1);
	return 0;
}

/* ---- events, timer, teardown ------------------------------------------- */

static void
pump_update_events(struct pump *p)
{
	uint8_t want = 0, diff;
	int di, i;

	for (di = 0; di < 2; di++) {
		const struct pump_way *d = &p->dir[di];
		int src = di, dst = 1 - di;

		if (!(d->flags & DIR_RREADY) && pump_dir_can_read(p, d))
			want |= (uint8_t)(1u << (src * 2 + ((d->flags & DIR_RWANT_W) ? 1 : 0)));
		if (!(d->flags & DIR_WREADY) && (pump_pending(d) > 0 || d->state == DIR_EOF))
			want |= (uint8_t)(1u << (dst * 2 + ((d->flags & DIR_WWANT_R) ? 0 : 1)));
	}
	diff = want ^ p->evmask;
	for (i = 0; i < 4; i++) {
		if (!(diff & (1u << i)))
			continue;
		if (want & (1u << i))
			event_add(pump_ev(p, i), NULL);
		else
			event_del(pump_ev(p, i));
	}
	p->evmask = want;
}

static bool
pump_half_closed(const struct pump *p)
{
	return p->dir[0].state != DIR_OPEN || p->dir[1].state != DIR_OPEN;
}

/* The inactivity limit now in force, 0 for none. */
static unsigned
pump_limit_ms(const struct pump *p)
{
	if (pump_half_closed(p) && p->fin_ms > 0 &&
	    (p->idle_ms == 0 || p->fin_ms < p->idle_ms))
		return p->fin_ms;
	return p->idle_ms;
}

static void
pump_arm_timer(struct pump *p, int64_t now)
{
	unsigned limit = pump_limit_ms(p);
	struct timeval tv;
	int64_t due, left;

	if (limit == 0) {
		if (p->due != 0)
			event_del(pump_ev(p, PUMP_EV_TIMER));
		p->due = 0;
		return;
	}
	due = p->last + limit;
	left = due - now;
	if (left < 1)
		left = 1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	event_add(pump_ev(p, PUMP_EV_TIMER), &tv);
	p->due = due;
}

static void
pump_teardown(struct pump *p, const char *reason, bool notify)
{
	struct pump_result r;
	int i;

	if (p->state == PUMP_CLOSING)
		return;
	p->state = PUMP_CLOSING;
	for (i = 0; i < PUMP_NEV; i++)
		event_del(pump_ev(p, i));
	for (i = 0; i < 2; i++) {
		pump_pool_put(p->pool, &p->dir[i]);
		pump_dir_drop_buf(&p->dir[i]);
		if (p->ops[i]->free != NULL)
			p->ops[i]->free(p->ctx[i]);
		close(p->fd[i]);
	}
	if (notify && p->done != NULL) {
		memset(&r, 0, sizeof(r));
		r.reason = reason;
		r.error = p->error;
		r.bytes_c2s = p->dir[PUMP_C2S].bytes;
		r.bytes_s2c = p->dir[PUMP_S2C].bytes;
		r.spliced = p->spliced;
		p->done(p->arg, &r);
	}
	free(p);
}

/* After I/O: account, finish or wait. */
static void
pump_step(struct pump *p)
{
	bool was_half = pump_half_closed(p);
	int64_t now;
	int di;

	p->moved = false;
	for (di = 0; di < 2; di++) {
		if (pump_dir_run(p, di) != 0) {
			pump_teardown(p, p->reason, true);
			return;
		}
	}
	if (p->dir[0].state == DIR_DONE && p->dir[1].state == DIR_DONE) {
		pump_teardown(p, "done", true);
		return;
	}
	if (p->moved || was_half != pump_half_closed(p)) {
		now = pump_now_ms();
		if (p->moved)
			p->last = now;
		/* Entering half-close may bring the deadline forward; otherwise
		 * the timer re-arms itself when it fires. */
		if (was_half != pump_half_closed(p) || p->due == 0)
			pump_arm_timer(p, now);
	}
	pump_update_events(p);
}

static void
pump_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pump *p = arg;
	int side = fd == p->fd[0] ? 0 : 1;
	struct pump_way *in = &p->dir[side], *out = &p->dir[1 - side];

	/* `in` reads from this side, `out` writes to it. */
	if (what & ((in->flags & DIR_RWANT_W) ? EV_WRITE : EV_READ))
		in->flags |= DIR_RREADY;
	if (what & ((out->flags & DIR_WWANT_R) ? EV_READ : EV_WRITE))
		out->flags |= DIR_WREADY;
	pump_step(p);
}

static void
pump_again_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump_step(arg);
}

static void
pump_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pump *p = arg;
	int64_t now = pump_now_ms();
	unsigned limit = pump_limit_ms(p);

	(void)fd;
	(void)what;
	p->due = 0;
	if (limit > 0 && now - p->last >= (int64_t)limit) {
		pump_teardown(p, pump_half_closed(p) && limit == p->fin_ms ?
		              "fin timeout" : "idle timeout", true);
		return;
	}
	pump_arm_timer(p, now);
}

/* ---- API --------------------------------------------------------------- */

void
pump_config_default(struct pump_config *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->buffer = BG_PUMP_BUFFER;
	conf->idle_ms = BG_TIMEOUT_IDLE * 1000u;
	conf->fin_ms = BG_TIMEOUT_FIN * 1000u;
	conf->splice = true;
}

size_t
pump_footprint(void)
{
	if (pump_evsize == 0)
		pump_evsize = (event_get_struct_event_size() + 15) & ~(size_t)15;
	return sizeof(struct pump) + PUMP_NEV * pump_evsize;
}

static int
pump_preload(struct pump *p, struct pump_way *d, const uint8_t *pre, size_t n)
{
	if (n == 0)
		return 0;
	d->cap = n > p->bound ? (uint32_t)n : p->bound;
	if ((d->buf = malloc(d->cap)) == NULL)
		return -1;
	memcpy(d->buf, pre, n);
	d->len = (uint32_t)n;
	return 0;
}

struct pump *
pump_new(struct event_base *base, struct pump_pool *pool, int cfd, int sfd,
         const struct pump_config *conf,
         const uint8_t *pre_c2s, size_t n_c2s,
         const uint8_t *pre_s2c, size_t n_s2c,
         pump_done_fn *done, void *arg)
{
	struct pump *p;
	int i;

	if (base == NULL || pool == NULL || conf == NULL || cfd < 0 || sfd < 0 ||
	    cfd == sfd || conf->buffer < BG_PUMP_BUFFER_MIN ||
	    conf->buffer > BG_PUMP_BUFFER_MAX ||
	    n_c2s > BG_PUMP_BUFFER_MAX || n_s2c > BG_PUMP_BUFFER_MAX ||
	    (n_c2s > 0 && pre_c2s == NULL) || (n_s2c > 0 && pre_s2c == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < 2; i++)
		if (conf->ops[i] != NULL && (conf->ops[i]->read == NULL ||
		    conf->ops[i]->write == NULL || conf->ops[i]->shutdown_write == NULL)) {
			errno = EINVAL;
			return NULL;
		}
	if ((p = calloc(1, pump_footprint())) == NULL)
		return NULL;
	p->pool = pool;
	p->done = done;
	p->arg = arg;
	p->fd[0] = cfd;
	p->fd[1] = sfd;
	p->bound = (uint32_t)conf->buffer;
	p->idle_ms = conf->idle_ms;
	p->fin_ms = conf->fin_ms;
	p->splice = conf->splice && conf->ops[0] == NULL && conf->ops[1] == NULL;
	p->state = PUMP_RUNNING;
	for (i = 0; i < 2; i++) {
		p->ops[i] = conf->ops[i] != NULL ? conf->ops[i] : &pump_plain_ops;
		p->ctx[i] = conf->ctx[i];
		p->dir[i].pfd[0] = p->dir[i].pfd[1] = -1;
		p->dir[i].state = DIR_OPEN;
		p->dir[i].flags = DIR_WREADY;
		/* an endpoint may already hold bytes read from its fd (TLS
		 * records read during the set-up): try it before waiting */
		if (conf->ops[i] != NULL)
			p->dir[i].flags |= DIR_RREADY;
	}
	if (pump_preload(p, &p->dir[PUMP_C2S], pre_c2s, n_c2s) != 0 ||
	    pump_preload(p, &p->dir[PUMP_S2C], pre_s2c, n_s2c) != 0) {
		pump_dir_drop_buf(&p->dir[0]);
		pump_dir_drop_buf(&p->dir[1]);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < 4; i++)
		event_assign(pump_ev(p, i), base, p->fd[i / 2],
		             (short)(((i & 1) ? EV_WRITE : EV_READ) | EV_PERSIST), pump_io_cb, p);
	event_assign(pump_ev(p, PUMP_EV_TIMER), base, -1, 0, pump_timer_cb, p);
	event_assign(pump_ev(p, PUMP_EV_AGAIN), base, -1, 0, pump_again_cb, p);
	p->last = pump_now_ms();
	pump_arm_timer(p, p->last);
	pump_update_events(p);
	/* Preloaded bytes go out from the loop, never from here. */
	if (n_c2s > 0 || n_s2c > 0 || conf->ops[0] != NULL || conf->ops[1] != NULL)
		event_active(pump_ev(p, PUMP_EV_AGAIN), 0, 1);
	return p;
}

void
pump_get_stats(const struct pump *p, struct pump_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->bytes_c2s = p->dir[PUMP_C2S].bytes;
	st->bytes_s2c = p->dir[PUMP_S2C].bytes;
	st->buffered_c2s = pump_pending(&p->dir[PUMP_C2S]);
	st->buffered_s2c = pump_pending(&p->dir[PUMP_S2C]);
	st->memory = pump_footprint() + p->dir[0].cap + p->dir[1].cap;
	st->spliced = p->spliced;
	st->eof_c2s = p->dir[PUMP_C2S].state != DIR_OPEN;
	st->eof_s2c = p->dir[PUMP_S2C].state != DIR_OPEN;
}

size_t
pump_buffered(const struct pump *p, enum pump_dir dir)
{
	return pump_pending(&p->dir[dir]);
}

void
pump_close(struct pump *p, const char *reason)
{
	if (p == NULL)
		return;
	pump_teardown(p, reason, true);
}

void
pump_free(struct pump *p)
{
	if (p == NULL)
		return;
	pump_teardown(p, NULL, false);
}
