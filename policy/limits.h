/* limits: per-source and per-user accounting, pure.
 *
 * No clock is read here: every call that depends on time takes `now`, a
 * monotonic time in milliseconds supplied by the caller (CLOCK_MONOTONIC),
 * so the arithmetic can be tested exactly.
 *
 * Sources.  A source is an IPv4 address, or an IPv6 /64: one end site
 * usually holds a whole /64, so per-address IPv6 limits would be worthless.
 * Each tracked source carries
 *   - its concurrent connections (limits_source_acquire/_release),
 *   - a token bucket for its connection rate: rate_n tokens, refilled at
 *     rate_n per rate_s seconds, one token per accepted connection (a burst
 *     of rate_n, then rate_n per rate_s on average; exact integer
 *     arithmetic),
 *   - a SASL failure count over a window, and a penalty deadline: after
 *     `failures` failures within `window_s` seconds the source is penalized
 *     for `penalty_s` seconds (the caller refuses or delays it meanwhile).
 * Memory is bounded: at most `cap` sources are tracked, in a table sized
 * once by limits_new().  A source with no connection whose bucket is full,
 * whose failure window has passed and whose penalty has expired holds no
 * state and is dropped (a few at a time on every new source, all of them by
 * limits_expire()).  When the table is full, the source idle for longest is
 * evicted, whatever it still remembers (its rate or penalty is forgotten: an
 * attacker able to fill the table needs `cap` distinct sources and could as
 * well rotate between them).  Sources with connections are never evicted;
 * when every tracked source has one, a new source gets LIMITS_RESOURCE.
 *
 * Users.  Concurrent tunnels per authenticated user name (exact bytes);
 * an entry lives while the user holds a tunnel, at most `cap` users.
 *
 * Zero for a maximum or rate means "no limit" (still counted, so releases
 * always match acquisitions).  Releasing what was never acquired is a
 * no-op.  The table's bucket positions depend on `seed` (pass random
 * bytes) so that sources cannot be chosen to collide.
 *
 * Workers.  limits_new_shared() puts the whole table in a MAP_SHARED
 * anonymous mapping guarded by a process-shared robust mutex: processes
 * forked after it see and update the same counters.  Each process says
 * which worker it is (limits_set_worker, 0 by default); every count is also
 * kept per worker, so that limits_worker_reset() can take back what a
 * worker that died held.  Releases only undo the calling worker's own
 * acquisitions.  User names longer than LIMITS_USER_MAX get
 * LIMITS_RESOURCE. */
#ifndef POLICY_LIMITS_H
#define POLICY_LIMITS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/addr.h"

#define LIMITS_SOURCES_DEFAULT  65536     /* sources tracked, when cap is 0 */
#define LIMITS_SOURCES_MAX      (1u << 22)
#define LIMITS_V6_PREFIX        64        /* IPv6 sources are counted per /64 */
#define LIMITS_RATE_MAX         1000000u  /* rate_n above this is taken as this */
#define LIMITS_SECONDS_MAX      1000000u  /* any seconds argument is capped here */
#define LIMITS_DROP_PER_CALL    4         /* stale sources dropped per new source */
#define LIMITS_WORKERS_MAX      32        /* worker processes sharing one table */
#define LIMITS_USER_MAX         256       /* bytes of a user name (AUTH_SASL_USER_MAX) */

enum limits_result {
	LIMITS_OK = 0,
	LIMITS_CONCURRENCY,     /* at the concurrent maximum (source or user) */
	LIMITS_RATE,            /* the source's connection rate is exhausted */
	LIMITS_RESOURCE,        /* cannot track: table full of active entries, or no memory */
};

struct limits;

/* cap: most sources (and most users) tracked at once, 0 for the default. */
struct limits *limits_new(size_t cap, uint64_t seed);
/* The same in memory shared with the processes forked afterwards. */
struct limits *limits_new_shared(size_t cap, uint64_t seed);
/* This process counts as worker (0 .. LIMITS_WORKERS_MAX - 1). */
void limits_set_worker(struct limits *l, unsigned worker);
/* Takes back every connection, user tunnel and session worker held (it
 * died); sources it held become idle at now. */
void limits_worker_reset(struct limits *l, unsigned worker, uint64_t now);
void limits_free(struct limits *l);           /* NULL is a no-op */

/* A new connection from a: refused when the source already holds
 * max_concurrent connections (LIMITS_CONCURRENCY) or has no token left
 * (LIMITS_RATE; rate_n connections per rate_s seconds, either 0 = no rate
 * limit).  A refusal takes neither a slot nor a token.  On LIMITS_OK the
 * caller owns one slot and must call limits_source_release once. */
enum limits_result limits_source_acquire(struct limits *l, const struct addr *a,
                                         uint64_t now, unsigned max_concurrent,
                                         unsigned rate_n, unsigned rate_s);
void limits_source_release(struct limits *l, const struct addr *a, uint64_t now);
unsigned limits_source_count(const struct limits *l, const struct addr *a);

/* A new tunnel for user: LIMITS_CONCURRENCY at max (0 = no limit). */
enum limits_result limits_user_acquire(struct limits *l, const char *user, unsigned max);
void limits_user_release(struct limits *l, const char *user);
unsigned limits_user_count(const struct limits *l, const char *user);

/* Records one authentication failure from a; returns true when the source
 * is now penalized (this failure was the `failures`th within window_s
 * seconds, or a penalty is already running).  failures 0 = never. */
bool limits_auth_failure(struct limits *l, const struct addr *a, uint64_t now,
                         unsigned failures, unsigned window_s, unsigned penalty_s);
/* Is a penalized at now?  remaining_ms (may be NULL) gets the time left. */
bool limits_auth_penalized(const struct limits *l, const struct addr *a, uint64_t now,
                           uint64_t *remaining_ms);

/* Sessions of all workers: LIMITS_CONCURRENCY at max (0 = no limit). */
enum limits_result limits_global_acquire(struct limits *l, unsigned max);
void limits_global_release(struct limits *l);
unsigned limits_global_count(const struct limits *l);
/* Sessions worker holds now. */
unsigned limits_worker_count(const struct limits *l, unsigned worker);

/* Drops every source that holds no state any more; returns how many. */
size_t limits_expire(struct limits *l, uint64_t now);
/* Sources tracked now (never more than cap). */
size_t limits_nsources(const struct limits *l);
#endif
