#include "relay/beepio.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/pump.h"
#include "tunnel/beep_session.h"

#define BEEPIO_READ_CHUNK  16384
#define BEEPIO_OUT_PAUSE   (32 * 1024)   /* stop reading while this much is unsent */

struct beepio {
	struct event_base   *base;
	int                  fd;
	struct beep_session *bs;
	const struct beepio_ops *ops;
	void                *arg;
	const struct pump_endpoint_ops *eops; /* NULL: read(2)/write(2) */
	void                *ectx;
	bool                *alive;      /* cleared by beepio_free (callbacks may free) */
	struct event        *rev, *wev, *later;
	uint8_t             *rest;       /* read past the pipe point */
	size_t               nrest;
	bool                 reading;
	bool                 detached;   /* waiting for output to drain */
	bool                 finished;   /* a callback was made */
	const char          *close_reason; /* end once the output is drained */
	uint8_t              head[BEEPIO_HEAD];
	size_t               nhead;
};

static void beepio_step(struct beepio *io);

static ssize_t
beepio_read(struct beepio *io, uint8_t *buf, size_t len)
{
	short want;

	if (io->eops != NULL)
		return io->eops->read(io->ectx, io->fd, buf, len, &want);
	return read(io->fd, buf, len);
}

/* (A TLS write that needs the peer's bytes first is retried when the
 * socket is writable: with renegotiation off that does not happen.) */
static ssize_t
beepio_write(struct beepio *io, const uint8_t *buf, size_t len)
{
	short want;

	if (io->eops != NULL)
		return io->eops->write(io->ectx, io->fd, buf, len, &want);
	return write(io->fd, buf, len);
}

static void
beepio_end(struct beepio *io, const char *reason)
{
	if (io->finished)
		return;
	io->finished = true;
	event_del(io->rev);
	event_del(io->wev);
	io->ops->ended(io->arg, reason);
}

/* Writes what the session has queued; returns false on a fatal error. */
static bool
beepio_flush(struct beepio *io)
{
	const uint8_t *out;
	size_t len;
	ssize_t n;

	while ((out = beep_session_output(io->bs, &len)) != NULL && len > 0) {
		n = beepio_write(io, out, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				event_add(io->wev, NULL);
				return true;
			}
			beepio_end(io, errno == EPIPE || errno == ECONNRESET ?
			           "connection reset while writing" : "write error");
			return false;
		}
		beep_session_output_done(io->bs, (size_t)n);
	}
	event_del(io->wev);
	return true;
}

static void
beepio_set_reading(struct beepio *io, bool on)
{
	if (on == io->reading)
		return;
	io->reading = on;
	if (on) {
		event_add(io->rev, NULL);
		/* an endpoint may hold bytes already read from the fd */
		if (io->eops != NULL)
			event_active(io->rev, EV_READ, 0);
	} else
		event_del(io->rev);
}

/* After any change: flush, then decide what comes next. */
static void
beepio_step(struct beepio *io)
{
	enum beep_session_state st;
	size_t pending = 0;

	if (io->finished)
		return;
	if (!beepio_flush(io))
		return;
	(void)beep_session_output(io->bs, &pending);
	st = beep_session_state(io->bs);
	switch (st) {
	case BEEP_SS_GREETING:
	case BEEP_SS_OPEN:
		if (io->close_reason != NULL) {
			beepio_set_reading(io, false);
			if (pending == 0)
				beepio_end(io, io->close_reason);
			return;
		}
		beepio_set_reading(io, pending < BEEPIO_OUT_PAUSE);
		return;
	case BEEP_SS_DETACHING:
		/* our detaching reply waits for the peer's window: keep reading
		 * (its SEQ will open it) */
		beepio_set_reading(io, true);
		return;
	case BEEP_SS_DETACHED:
		beepio_set_reading(io, false);
		if (pending == 0) {
			io->finished = true;
			event_del(io->wev);
			io->ops->detached(io->arg, io->rest, io->nrest);
		}
		return;
	case BEEP_SS_RELEASED:
		if (pending == 0)
			beepio_end(io, "session released");
		else
			beepio_set_reading(io, false);
		return;
	case BEEP_SS_FAILED:
		/* poorly formed input ends the session without a reply, but a
		 * refusal already queued (e.g. an <error> greeting) goes out */
		beepio_end(io, beep_session_reason(io->bs));
		return;
	}
}

/* One read and what follows; false when nothing more should be read now. */
static bool
beepio_read_once(struct beepio *io)
{
	uint8_t buf[BEEPIO_READ_CHUNK];
	size_t used = 0;
	ssize_t n;

	n = beepio_read(io, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return false;
		beepio_end(io, "connection reset");
		return false;
	}
	if (n == 0) {
		beep_session_eof(io->bs);
		beepio_flush(io);
		beepio_end(io, beep_session_state(io->bs) == BEEP_SS_RELEASED ?
		           "session released" : "peer closed the connection");
		return false;
	}
	if (io->nhead < sizeof(io->head)) {
		size_t k = sizeof(io->head) - io->nhead;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(io->head + io->nhead, buf, k);
		io->nhead += k;
	}
	switch (beep_session_input(io->bs, buf, (size_t)n, &used)) {
	case BEEP_IN_OK:
	case BEEP_IN_DONE:
		break;
	case BEEP_IN_DETACHED:
		if ((size_t)n > used) {
			io->nrest = (size_t)n - used;
			io->rest = malloc(io->nrest);
			if (io->rest == NULL) {
				beepio_end(io, "out of memory");
				return false;
			}
			memcpy(io->rest, buf + used, io->nrest);
		}
		break;
	}
	beepio_step(io);
	return true;
}

static void
beepio_readable(evutil_socket_t fd, short what, void *arg)
{
	struct beepio *io = arg;

	bool alive = true;

	(void)fd;
	(void)what;
	/* A plain socket is read once per wake-up (level-triggered); an
	 * endpoint until it has nothing left, since bytes it holds inside
	 * wake nobody up. */
	io->alive = &alive;
	while (beepio_read_once(io) && alive && io->eops != NULL && io->reading &&
	       !io->finished)
		;
	if (alive)
		io->alive = NULL;
}

static void
beepio_writable(evutil_socket_t fd, short what, void *arg)
{
	struct beepio *io = arg;

	(void)fd;
	(void)what;
	beepio_step(io);
}

static void
beepio_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	beepio_step(arg);
}

struct beepio *
beepio_new(struct event_base *base, int fd, struct beep_session *bs,
           const struct beepio_ops *ops, void *arg)
{
	struct beepio *io;

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return NULL;
	io->base = base;
	io->fd = fd;
	io->bs = bs;
	io->ops = ops;
	io->arg = arg;
	io->rev = event_new(base, fd, EV_READ | EV_PERSIST, beepio_readable, io);
	io->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, beepio_writable, io);
	io->later = evtimer_new(base, beepio_later, io);
	if (io->rev == NULL || io->wev == NULL || io->later == NULL) {
		beepio_free(io);
		return NULL;
	}
	/* the greeting is already queued: send it from the loop, never from
	 * inside the caller */
	event_active(io->later, EV_TIMEOUT, 0);
	return io;
}

void
beepio_set_endpoint(struct beepio *io, const struct pump_endpoint_ops *ops, void *ctx)
{
	io->eops = ops;
	io->ectx = ctx;
}

void
beepio_kick(struct beepio *io)
{
	if (io != NULL && !io->finished)
		event_active(io->later, EV_TIMEOUT, 0);
}

void
beepio_write_out(struct beepio *io)
{
	const uint8_t *out;
	size_t len;
	ssize_t n;

	if (io == NULL || io->finished)
		return;
	while ((out = beep_session_output(io->bs, &len)) != NULL && len > 0) {
		n = beepio_write(io, out, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		beep_session_output_done(io->bs, (size_t)n);
	}
}

void
beepio_close_after_flush(struct beepio *io, const char *reason)
{
	io->close_reason = reason;
	beepio_kick(io);
}

const uint8_t *
beepio_head(const struct beepio *io, size_t *n)
{
	*n = io->nhead;
	return io->head;
}

void
beepio_free(struct beepio *io)
{
	if (io == NULL)
		return;
	if (io->alive != NULL)
		*io->alive = false;
	if (io->rev != NULL)
		event_free(io->rev);
	if (io->wev != NULL)
		event_free(io->wev);
	if (io->later != NULL)
		event_free(io->later);
	free(io->rest);
	free(io);
}
