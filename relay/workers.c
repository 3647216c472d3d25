/* workers: the parent of `workers N` processes (see workers.h). */
#include "relay/workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_sasl.h"
#include "policy/limits.h"
#include "relay/limits.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/server.h"
#include "relay/tlsconn.h"

#define WORKERS_TICK_MS 200    /* fixed: the parent's wait between restart checks */

struct workers_slot {
	pid_t    pid;              /* 0: not running */
	uint64_t started;          /* ms, monotonic */
	uint64_t restart_at;       /* ms; 0: now */
	unsigned restarts;
};

/* A listener of the current configuration and its n sockets (-1: none,
 * the workers bind it themselves: it was added at a reload). */
struct workers_listener {
	enum listener_kind kind;
	struct addr        addr;
	uint16_t           port;
	int               *fds;
};

struct workers {
	struct config           *conf;
	const char              *path, *name, *text;
	unsigned                 n;
	struct workers_slot     *slot;
	struct workers_listener *ls;
	size_t                   nls;
	int                      admin_fd;
	struct limits           *limits;
	bool                     stopping;
};

static uint64_t
workers_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned
workers_count(const struct config *c)
{
	long n;

	if (c->workers != 0)
		return c->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > BG_WORKERS_MAX ? BG_WORKERS_MAX : (unsigned)n;
}

static void
workers_close_listener(struct workers *w, struct workers_listener *l)
{
	unsigned i;

	for (i = 0; i < w->n; i++)
		if (l->fds[i] >= 0) {
			close(l->fds[i]);
			l->fds[i] = -1;
		}
}

void
workers_free(struct workers *w)
{
	size_t k;

	if (w == NULL)
		return;
	for (k = 0; k < w->nls; k++) {
		workers_close_listener(w, &w->ls[k]);
		free(w->ls[k].fds);
	}
	free(w->ls);
	if (w->admin_fd >= 0)
		close(w->admin_fd);
	free(w->slot);
	limits_free(w->limits);
	config_unref(w->conf);
	free(w);
}

static uint64_t
workers_seed(void)
{
	uint64_t seed = (uint64_t)getpid() ^ workers_now();
	FILE *f = fopen("/dev/urandom", "rb");

	if (f != NULL) {
		if (fread(&seed, sizeof(seed), 1, f) != 1)
			seed ^= (uint64_t)time(NULL);
		fclose(f);
	}
	return seed;
}

struct workers *
workers_new(struct config *conf, const char *path, const char *name, const char *text,
            unsigned n)
{
	struct workers *w;
	size_t k;
	unsigned i;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto nomem;
	w->conf = conf;
	w->path = path;
	w->name = name;
	w->text = text;
	w->n = n;
	w->admin_fd = -1;
	w->slot = calloc(n, sizeof(*w->slot));
	w->ls = calloc(conf->nlisteners ? conf->nlisteners : 1, sizeof(*w->ls));
	if (w->slot == NULL || w->ls == NULL)
		goto nomem;
	if ((w->limits = limits_new_shared(0, workers_seed())) == NULL) {
		log_err("workers: cannot create the shared limits table: %s", strerror(errno));
		workers_free(w);
		return NULL;
	}
	/* Every worker gets its own socket per listener (SO_REUSEPORT): the
	 * kernel spreads connections over them; the parent keeps them so a
	 * restarted worker takes its predecessor's queue over. */
	for (k = 0; k < conf->nlisteners; k++) {
		struct workers_listener *l = &w->ls[w->nls];

		l->kind = conf->listeners[k].kind;
		l->addr = conf->listeners[k].addr;
		l->port = conf->listeners[k].port;
		if ((l->fds = malloc(n * sizeof(int))) == NULL)
			goto nomem;
		w->nls++;
		for (i = 0; i < n; i++)
			l->fds[i] = -1;
		for (i = 0; i < n; i++)
			if ((l->fds[i] = server_listen_socket(&conf->listeners[k], true)) < 0) {
				workers_free(w);
				return NULL;
			}
	}
	if (conf->admin.enabled && (w->admin_fd = metrics_admin_socket(&conf->admin)) < 0) {
		workers_free(w);
		return NULL;
	}
	return w;
nomem:
	log_err("workers: out of memory");
	if (w != NULL)
		workers_free(w);
	else
		config_unref(conf);
	return NULL;
}

/* In the child: keeps worker i's sockets only, then runs a server. */
static void
workers_child(struct workers *w, unsigned i)
{
	struct server_inherit inh;
	struct server *srv;
	sigset_t none;
	int *fds, rc;
	size_t k, c;

	fds = calloc(w->conf->nlisteners ? w->conf->nlisteners : 1, sizeof(int));
	if (fds == NULL) {
		log_err("worker %u: out of memory", i);
		_exit(1);
	}
	for (c = 0; c < w->conf->nlisteners; c++) {
		const struct conf_listener *cl = &w->conf->listeners[c];

		fds[c] = -1;
		for (k = 0; k < w->nls; k++)
			if (w->ls[k].kind == cl->kind && w->ls[k].port == cl->port &&
			    addr_equal(&w->ls[k].addr, &cl->addr) && w->ls[k].fds[i] >= 0) {
				fds[c] = w->ls[k].fds[i];
				w->ls[k].fds[i] = -1;      /* the server owns it now */
				break;
			}
	}
	inh.fds = fds;
	inh.admin_fd = i == 0 ? w->admin_fd : -1;
	if (i == 0)
		w->admin_fd = -1;
	inh.limits = w->limits;
	inh.worker = i;
	/* the other workers' sockets must not stay open here */
	for (k = 0; k < w->nls; k++)
		workers_close_listener(w, &w->ls[k]);
	if (w->admin_fd >= 0) {
		close(w->admin_fd);
		w->admin_fd = -1;
	}
	srv = server_new_worker(config_ref(w->conf), w->path, w->name, w->text, &inh);
	free(fds);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (srv == NULL || server_setup_dns(srv) != 0) {
		log_err("worker %u: cannot start", i);
		server_free(srv);
		_exit(1);
	}
	log_notice("worker %u started (pid %ld, configuration generation %u)", i,
	           (long)getpid(), srv->conf->generation);
	rc = server_run(srv);
	server_free(srv);
	/* the table is the parent's: this process only unmaps it */
	workers_free(w);
	auth_sasl_done();
	log_close();
	_exit(rc == 0 ? 0 : 1);
}

static int
workers_spawn(struct workers *w, unsigned i)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_err("worker %u: fork: %s", i, strerror(errno));
		w->slot[i].restart_at = workers_now() + BG_WORKER_RESTART_MS;
		return -1;
	}
	if (pid == 0)
		workers_child(w, i);
	w->slot[i].pid = pid;
	w->slot[i].started = workers_now();
	w->slot[i].restart_at = 0;
	return 0;
}

static void
workers_signal_all(struct workers *w, int sig)
{
	unsigned i;

	for (i = 0; i < w->n; i++)
		if (w->slot[i].pid > 0)
			(void)kill(w->slot[i].pid, sig);
}

static void
report_to_log(void *arg, const char *msg)
{
	(void)arg;
	log_err("%s", msg);
}

/* SIGHUP: the parent validates the configuration first; only a valid one
 * is passed on (each worker then reloads it as a single daemon does, so
 * live tunnels keep their generation).  The parent closes its sockets of
 * removed listeners and remembers the new configuration for restarts. */
static void
workers_reload(struct workers *w)
{
	struct config *nc;
	struct workers_listener *nls;
	size_t k, j, nn = 0;
	unsigned i;

	log_notice("reloading configuration (%u workers)", w->n);
	if (w->path != NULL)
		nc = config_load(w->path, report_to_log, NULL);
	else
		nc = config_load_string(w->name, w->text, report_to_log, NULL);
	if (nc != NULL && tlsconn_prepare(nc, w->conf, report_to_log, NULL) != 0) {
		config_unref(nc);
		nc = NULL;
	}
	if (nc == NULL) {
		log_err("reload failed: keeping configuration generation %u in every worker",
		        w->conf->generation);
		return;
	}
	if (workers_count(nc) != w->n)
		log_warn("reload: workers changed in the configuration; %u stay until the "
		         "next start", w->n);
	if ((nls = calloc(nc->nlisteners ? nc->nlisteners : 1, sizeof(*nls))) == NULL) {
		log_err("reload: out of memory");
		config_unref(nc);
		return;
	}
	for (j = 0; j < nc->nlisteners; j++) {
		const struct conf_listener *cl = &nc->listeners[j];

		nls[nn].kind = cl->kind;
		nls[nn].addr = cl->addr;
		nls[nn].port = cl->port;
		for (k = 0; k < w->nls; k++)
			if (w->ls[k].fds != NULL && w->ls[k].kind == cl->kind &&
			    w->ls[k].port == cl->port && addr_equal(&w->ls[k].addr, &cl->addr)) {
				nls[nn].fds = w->ls[k].fds;
				w->ls[k].fds = NULL;
				break;
			}
		if (nls[nn].fds == NULL) {
			if ((nls[nn].fds = malloc(w->n * sizeof(int))) == NULL)
				continue;
			for (i = 0; i < w->n; i++)
				nls[nn].fds[i] = -1;
		}
		nn++;
	}
	for (k = 0; k < w->nls; k++)
		if (w->ls[k].fds != NULL) {
			workers_close_listener(w, &w->ls[k]);
			free(w->ls[k].fds);
		}
	free(w->ls);
	w->ls = nls;
	w->nls = nn;
	config_unref(w->conf);
	w->conf = nc;
	workers_signal_all(w, SIGHUP);
}

static void
workers_stop(struct workers *w, int sig)
{
	size_t k;

	if (!w->stopping) {
		log_notice("stopping: %u worker(s) drain", w->n);
		w->stopping = true;
		/* nobody accepts on these any more */
		for (k = 0; k < w->nls; k++)
			workers_close_listener(w, &w->ls[k]);
		if (w->admin_fd >= 0) {
			close(w->admin_fd);
			w->admin_fd = -1;
		}
	}
	workers_signal_all(w, sig);
}

static unsigned
workers_reap(struct workers *w)
{
	unsigned i, live = 0;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < w->n; i++)
			if (w->slot[i].pid == pid)
				break;
		if (i == w->n)
			continue;
		w->slot[i].pid = 0;
		if (WIFSIGNALED(st))
			log_msg(w->stopping ? LOG_NOTICE : LOG_ERR,
			        "worker %u (pid %ld) killed by signal %d", i, (long)pid,
			        WTERMSIG(st));
		else
			log_msg(w->stopping && WEXITSTATUS(st) == 0 ? LOG_NOTICE : LOG_ERR,
			        "worker %u (pid %ld) exited with status %d", i, (long)pid,
			        WEXITSTATUS(st));
		/* whatever it held in the shared limits is free again */
		limits_worker_reset(w->limits, i, workers_now());
		if (!w->stopping) {
			uint64_t now = workers_now();

			w->slot[i].restarts++;
			w->slot[i].restart_at = now - w->slot[i].started < BG_WORKER_RESTART_MS ?
			    now + BG_WORKER_RESTART_MS : now;
		}
	}
	for (i = 0; i < w->n; i++)
		if (w->slot[i].pid > 0)
			live++;
	return live;
}

int
workers_run(struct workers *w)
{
	sigset_t set;
	siginfo_t si;
	struct timespec tick = { 0, WORKERS_TICK_MS * 1000000L };
	unsigned i;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		log_err("workers: sigprocmask: %s", strerror(errno));
		return -1;
	}
	log_notice("started (pid %ld, %u workers, configuration generation %u, uid %ld)",
	           (long)getpid(), w->n, w->conf->generation, (long)getuid());
	for (i = 0; i < w->n; i++)
		(void)workers_spawn(w, i);
	for (;;) {
		int sig = sigtimedwait(&set, &si, &tick);
		unsigned live;

		switch (sig) {
		case SIGHUP:
			if (!w->stopping)
				workers_reload(w);
			break;
		case SIGTERM:
		case SIGINT:
			workers_stop(w, SIGTERM);
			break;
		default:
			break;
		}
		live = workers_reap(w);
		if (w->stopping) {
			if (live == 0)
				break;
			continue;
		}
		for (i = 0; i < w->n; i++) {
			uint64_t now = workers_now();

			if (w->slot[i].pid == 0 && now >= w->slot[i].restart_at) {
				log_notice("worker %u: restarting (restart %u)", i, w->slot[i].restarts);
				(void)workers_spawn(w, i);
			}
		}
	}
	log_notice("stopped: every worker is gone");
	return 0;
}
