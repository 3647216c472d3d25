/* beepio: runs a pure beep_session over a non-blocking socket with libevent.
 * Used on both sides of the relay: toward the client (listener role) and
 * toward the next hop (initiator role).  When the session detaches (TUNNEL
 * <ok/>), beepio stops reading at once, writes out what the session had
 * queued, and then hands over the bytes it had read past the pipe point. */
#ifndef RELAY_BEEPIO_H
#define RELAY_BEEPIO_H
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct beep_session;
struct beepio;

struct beepio_ops {
	/* The session detached and every byte it queued has been written:
	 * rest[0..n) are bytes read after the pipe point (may be n == 0). */
	void (*detached)(void *arg, const uint8_t *rest, size_t n);
	/* The session ended (released, failed, EOF, I/O error); reason is
	 * static or owned by the session, valid during the call. */
	void (*ended)(void *arg, const char *reason);
};

/* Does not take the fd (the owner closes it) nor the session. */
struct beepio *beepio_new(struct event_base *base, int fd, struct beep_session *bs,
                          const struct beepio_ops *ops, void *arg);
/* Reads and writes through ops/ctx (e.g. TLS over the fd: the semantics of
 * struct pump_endpoint_ops; ctx is not taken) instead of read(2)/write(2).
 * Call right after beepio_new. */
struct pump_endpoint_ops;
void beepio_set_endpoint(struct beepio *io, const struct pump_endpoint_ops *ops, void *ctx);
/* Flushes output after the owner called into the session from outside the
 * input path (a deferred reply, a new start).  Safe to call any time. */
void beepio_kick(struct beepio *io);
/* Writes what the session has queued now, as far as the socket takes it
 * without blocking, and makes no callback: for an owner about to close. */
void beepio_write_out(struct beepio *io);
/* After the output queued now is written, end with `reason` (e.g. a refusal
 * that closes the connection). */
void beepio_close_after_flush(struct beepio *io, const char *reason);
/* The first octets received (at most BEEPIO_HEAD), for error texts. */
#define BEEPIO_HEAD 48
const uint8_t *beepio_head(const struct beepio *io, size_t *n);
void beepio_free(struct beepio *io);   /* NULL is a no-op */
#endif
