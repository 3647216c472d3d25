/* server: the daemon's process state: listeners, the current configuration
 * generation, sessions, signals (reload, drain), accept pausing. */
#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "policy/addr.h"
#include "relay/config.h"

struct event_base;
struct evdns_base;
struct event;
struct session;
struct pump_pool;
struct limits;
struct metrics;

#define SERVER_ID_WORKER_SHIFT 40    /* session ids: worker << 40 | counter */

struct listener {
	struct server     *srv;
	int                fd;
	struct event      *ev;
	enum listener_kind kind;
	struct addr        addr;
	uint16_t           port;
	bool               stale;     /* gone from the configuration at reload */
};

struct server_stats {
	uint64_t accepted;
	uint64_t refused_global;     /* over max-sessions */
	uint64_t refused_source;     /* over max-sessions-per-source */
	uint64_t refused_rate;       /* over connection-rate */
	uint64_t accept_paused;      /* times accepting was paused (EMFILE) */
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t sessions_closed;
	uint64_t bytes_c2s, bytes_s2c;
};

TAILQ_HEAD(session_list, session);

struct server {
	struct event_base   *base;
	struct evdns_base   *dns;
	struct config       *conf;          /* current generation */
	const char          *conf_path;     /* NULL: embedded text */
	const char          *conf_name;
	const char          *conf_text;
	struct listener    **listeners;
	size_t               nlisteners;
	struct event        *ev_hup, *ev_term, *ev_int, *ev_hardstop, *ev_resume;
	struct event        *ev_trim;       /* gives freed heap back (server_heap_churn) */
	bool                 draining;
	bool                 accept_paused;
	struct session_list  sessions;
	unsigned             nsessions;
	uint64_t             next_id;
	struct pump_pool    *pool;
	struct limits       *limits;
	struct server_stats  stats;
	struct metrics      *metrics;       /* counters and the admin listener */
	unsigned long        fd_limit;      /* RLIMIT_NOFILE soft */
	unsigned             worker;        /* 0 .. workers - 1 */
	bool                 reuseport;     /* several workers: SO_REUSEPORT listeners */
	bool                 limits_shared; /* limits belong to the parent */
	int                  admin_fd;      /* pre-bound admin listener, or -1 */
};

/* What a worker process gets from its parent (relay/workers.c). */
struct server_inherit {
	const int     *fds;        /* per configured listener: bound, listening; -1: bind it */
	int            admin_fd;   /* worker 0: the admin listener, or -1 */
	struct limits *limits;     /* shared table */
	unsigned       worker;
};

/* Creates the server for a loaded configuration (takes the reference) and
 * binds every listener.  Returns NULL after logging why. */
struct server *server_new(struct config *conf, const char *path, const char *name,
                          const char *text);
/* The same for one of several workers: listeners from inh->fds (and any
 * other configured listener bound with SO_REUSEPORT), shared limits. */
struct server *server_new_worker(struct config *conf, const char *path, const char *name,
                                 const char *text, const struct server_inherit *inh);
/* A socket bound and listening for listener l of a configuration, with
 * SO_REUSEPORT when reuseport: a descriptor, or -1 after logging why. */
int server_listen_socket(const struct conf_listener *cl, bool reuseport);
/* Applies the DNS servers of the current configuration. */
int server_setup_dns(struct server *srv);
/* (Re)configures SASL from a configuration: the user database must be
 * readable now.  Returns 0 or -1 after logging why. */
int server_setup_auth(const struct config *c);
/* Runs the event loop until drained. */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* Re-reads the configuration (SIGHUP); returns 0 when the new one is in use. */
int server_reload(struct server *srv);
/* Begins a graceful stop (SIGTERM/SIGINT). */
void server_drain(struct server *srv);

/* Called by sessions: one is gone. */
void server_session_gone(struct server *srv);
/* Called by sessions: set-up state was freed (a hand-over to the pump) or a
 * session closed.  At most once per BG_HEAP_TRIM_MS after such events, the
 * free pages inside the heap are given back to the system (malloc_trim). */
void server_heap_churn(struct server *srv);
/* The descriptor budget: true when another connection may be accepted. */
bool server_fd_headroom(struct server *srv);
#endif
