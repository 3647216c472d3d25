/* workers: `workers N` (N > 1): a parent process and N workers.
 *
 * Before the privilege drop the parent binds, for every listener, one
 * socket per worker with SO_REUSEPORT (the kernel spreads new connections
 * over them), binds the admin listener (served by worker 0), and creates
 * the limits table in shared memory (policy/limits.h).  It then forks the
 * workers, each a complete single-threaded server on its own sockets, and
 * supervises them:
 *   SIGHUP   re-reads and validates the configuration; when valid, closes
 *            its sockets of removed listeners and passes SIGHUP on (each
 *            worker reloads as a single daemon does: live tunnels keep
 *            their generation); when not, the workers are left alone
 *   SIGTERM  closes every listening socket and passes SIGTERM on (a second
 *   SIGINT   one is passed on too: the workers close at once); the parent
 *            exits when the last worker has
 *   a worker's death is logged, what it held in the shared limits is taken
 *   back, and it is forked again on the same sockets (after
 *   BG_WORKER_RESTART_MS when it lived shorter than that).
 * The parent runs no event loop: it waits for signals with sigtimedwait. */
#ifndef RELAY_WORKERS_H
#define RELAY_WORKERS_H
#include <stdbool.h>

#include "relay/config.h"

struct workers;

/* Workers the configuration asks for ("auto": one per online CPU, at most
 * BG_WORKERS_MAX). */
unsigned workers_count(const struct config *c);
/* Binds everything for n workers (takes the configuration's reference).
 * NULL after logging why. */
struct workers *workers_new(struct config *conf, const char *path, const char *name,
                            const char *text, unsigned n);
/* Forks the workers and supervises them until they are all gone after a
 * stop signal.  Returns 0 (in the parent only: workers exit). */
int workers_run(struct workers *w);
void workers_free(struct workers *w);      /* NULL is a no-op */
#endif
