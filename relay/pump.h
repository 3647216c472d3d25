/* pump: the opaque byte pump every tunnel ends in.
 *
 * A pump owns two connected non-blocking descriptors (the client side and the
 * server side) and moves bytes both ways without interpreting them, on one
 * event_base, until both directions have finished or something ends it.  It
 * then closes both descriptors and calls its completion callback exactly once
 * with a reason and the byte counts; the pump frees itself when the callback
 * returns.
 *
 * Two data paths:
 *  - splice: socket -> pipe -> socket with splice(2), zero-copy, used between
 *    two plain sockets (config.splice).  Pipes come from a per-event_base
 *    pool only while bytes are in flight, so an idle pump holds no pipe.
 *  - copy: read(2)/write(2) through a shared scratch buffer; only an unsent
 *    remainder is kept in a per-direction buffer that is freed once drained.
 *    Used when splicing is off or impossible, and for endpoints with custom
 *    operations (struct pump_endpoint_ops, e.g. a TLS layer over the fd).
 *
 * Each direction queues at most config.buffer bytes (pipe or buffer); at the
 * bound the pump stops reading the source until the destination drains.
 * EOF on one side is flushed and then propagated with shutdown(SHUT_WR) to
 * the other side while the other direction keeps flowing.
 *
 * splice(2) and write(2) can raise SIGPIPE on a reset socket: the process
 * must ignore SIGPIPE (beepgated does).  See docs/pump.md. */
#ifndef RELAY_PUMP_H
#define RELAY_PUMP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct pump;
struct pump_pool;

#define BG_PUMP_POOL_PIPES   128         /* fixed: pipes a pool keeps open at most (2 fds each) */
#define BG_PUMP_POOL_IDLE    16          /* fixed: idle pipes a pool keeps for reuse */
#define BG_PUMP_SCRATCH      (256 * 1024) /* fixed: shared read buffer of the copy path */
#define BG_PUMP_RUN_BUDGET   (1024 * 1024) /* fixed: bytes read per direction per wake-up */

/* Directions, also the index of the source side (0 client, 1 server). */
enum pump_dir {
	PUMP_C2S = 0,           /* client -> server */
	PUMP_S2C = 1,           /* server -> client */
};

/* Operations of an endpoint that is not a plain socket (e.g. TLS over the
 * fd).  Such endpoints always use the copy path.  read/write return the byte
 * count (read: 0 at EOF) or -1 with errno set; on EAGAIN they store in *want
 * the readiness of the fd to wait for before retrying (EV_READ or EV_WRITE).
 * shutdown_write ends the output (TLS: close_notify, then SHUT_WR): 0 when
 * done, -1 with errno (EAGAIN + *want to retry).  A read must not leave
 * readable bytes buffered inside the endpoint without returning them until
 * it returns -1/EAGAIN (drain, e.g. SSL_pending, before reporting EAGAIN).
 * free releases ctx (not the fd); it may be NULL. */
struct pump_endpoint_ops {
	ssize_t (*read)(void *ctx, int fd, uint8_t *buf, size_t len, short *want);
	ssize_t (*write)(void *ctx, int fd, const uint8_t *buf, size_t len, short *want);
	int     (*shutdown_write)(void *ctx, int fd, short *want);
	void    (*free)(void *ctx);
};

struct pump_config {
	size_t    buffer;       /* bytes queued per direction, BG_PUMP_BUFFER_MIN..MAX */
	unsigned  idle_ms;      /* no byte either way for this long: close; 0 = never */
	unsigned  fin_ms;       /* once half-closed, no byte for this long: close; 0 = never */
	bool      splice;       /* use splice(2) where both ends are plain sockets */
	/* Custom endpoint operations by side (0 client, 1 server), NULL for a
	 * plain socket.  ctx belongs to the pump once pump_new succeeds. */
	const struct pump_endpoint_ops *ops[2];
	void     *ctx[2];
};

/* What the completion callback receives. */
struct pump_result {
	const char *reason;     /* static: "done", "idle timeout", "fin timeout",
	                         * "reset by client", "reset by server",
	                         * "error on client", "error on server",
	                         * "out of memory", or the pump_close() reason */
	int         error;      /* errno behind an error reason, else 0 */
	uint64_t    bytes_c2s;  /* bytes delivered to the server (preloaded ones included) */
	uint64_t    bytes_s2c;  /* bytes delivered to the client (preloaded ones included) */
	bool        spliced;    /* some bytes went through splice(2) */
};

/* Counters of a running pump. */
struct pump_stats {
	uint64_t bytes_c2s, bytes_s2c;          /* delivered so far */
	size_t   buffered_c2s, buffered_s2c;    /* queued inside the pump (pipe or buffer) */
	size_t   memory;                        /* heap held: the pump and its buffers */
	bool     spliced;
	bool     eof_c2s, eof_s2c;              /* the source of that direction ended */
};

/* Called once, after both descriptors are closed.  The pump is freed when
 * this returns: do not call pump_close()/pump_free() on it afterwards (calls
 * from inside the callback are ignored). */
typedef void pump_done_fn(void *arg, const struct pump_result *r);

/* A pool of pipes and the copy path's scratch buffer, shared by the pumps of
 * one event_base (one thread).  max_pipes bounds the pipes open at once
 * (0: BG_PUMP_POOL_PIPES); a pump that finds none free copies instead. */
struct pump_pool *pump_pool_new(unsigned max_pipes);
/* Closes the idle pipes; every pump using the pool must be gone.  NULL: no-op. */
void pump_pool_free(struct pump_pool *pool);
/* Pipes open (idle + in use) and in use by pumps. */
unsigned pump_pool_open(const struct pump_pool *pool);
unsigned pump_pool_in_use(const struct pump_pool *pool);

/* buffer BG_PUMP_BUFFER, idle BG_TIMEOUT_IDLE, fin BG_TIMEOUT_FIN, splice on,
 * plain endpoints. */
void pump_config_default(struct pump_config *conf);

/* Starts pumping between cfd (client) and sfd (server), both connected and
 * non-blocking.  pre_c2s/pre_s2c are bytes already read from the client /
 * the server (copied; may be NULL when n is 0): they are delivered first, in
 * order, before anything read later in the same direction.  On success the
 * pump owns both fds (and the endpoint ctxs) and no callback runs before the
 * event loop does.  On failure returns NULL with errno set (EINVAL, ENOMEM)
 * and the caller still owns everything. */
struct pump *pump_new(struct event_base *base, struct pump_pool *pool, int cfd, int sfd,
                      const struct pump_config *conf,
                      const uint8_t *pre_c2s, size_t n_c2s,
                      const uint8_t *pre_s2c, size_t n_s2c,
                      pump_done_fn *done, void *arg);

void pump_get_stats(const struct pump *p, struct pump_stats *st);
/* Bytes queued inside the pump for one direction. */
size_t pump_buffered(const struct pump *p, enum pump_dir dir);

/* Ends the pump now: closes both fds, calls the callback with reason (a
 * static string, e.g. "closed by relay"), frees the pump. */
void pump_close(struct pump *p, const char *reason);
/* The same teardown without calling the callback.  NULL is a no-op. */
void pump_free(struct pump *p);

/* Size of one pump's single allocation (the struct and its events): the
 * memory an idle tunnel costs besides its two sockets. */
size_t pump_footprint(void);
#endif
