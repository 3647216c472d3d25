/* limits: per-source and per-user accounting (see limits.h).
 *
 * Everything lives in one table (struct limits_tab) allocated at once:
 * with calloc for one process, or in a MAP_SHARED anonymous mapping for
 * workers forked after limits_new_shared().  The mapping sits at the same
 * address in every process forked from its creator, so the pointers inside
 * it are valid in all of them; a process-shared robust mutex serializes
 * the calls. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "policy/limits.h"

struct limits_src {
	struct addr         key;       /* canonical, IPv6 cut to LIMITS_V6_PREFIX */
	struct limits_src  *hnext;     /* hash chain */
	struct limits_src  *prev, *next; /* idle list (conns == 0) or free list */
	bool                idle;      /* on the idle list */
	unsigned            conns;     /* every worker's */
	unsigned            wconns[LIMITS_WORKERS_MAX];
	bool                bucket_set;
	uint64_t            bucket;    /* tokens, one token = interval in ms */
	uint64_t            bucket_at;
	unsigned            nfail;
	uint64_t            fail_until;
	uint64_t            penalty_until;
	uint64_t            quiet_at;  /* from then on it holds no state */
};

struct limits_user {
	char                name[LIMITS_USER_MAX + 1];
	unsigned            n;         /* every worker's */
	unsigned            wn[LIMITS_WORKERS_MAX];
	struct limits_user *next;      /* hash chain or free list */
};

struct limits_tab {
	pthread_mutex_t      lock;       /* shared tables only */
	size_t               cap;
	uint64_t             seed;
	size_t               mask;       /* buckets - 1 */
	struct limits_src   *srcs;       /* cap entries */
	size_t               srcs_used;  /* never handed out beyond this */
	struct limits_src  **sbuckets;
	struct limits_src   *free_list;
	struct limits_src   *idle_head, *idle_tail;  /* oldest first */
	size_t               nsources;
	struct limits_user  *users;      /* cap entries */
	size_t               users_used;
	struct limits_user  *ufree;
	struct limits_user **ubuckets;
	size_t               nusers;
	unsigned             global;     /* sessions, every worker's */
	unsigned             wglobal[LIMITS_WORKERS_MAX];
};

/* The per-process handle: which worker this process counts for. */
struct limits {
	struct limits_tab   *t;
	size_t               size;       /* of the allocation */
	bool                 shared;
	unsigned             self;
};
static uint64_t
limits_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t
limits_hash_bytes(const struct limits_tab *l, const uint8_t *p, size_t n)
{
	uint64_t h = l->seed ^ (uint64_t)n, w;
	size_t i;

	for (i = 0; i < n; i += 8) {
		w = 0;
		memcpy(&w, p + i, n - i < 8 ? n - i : 8);
		h = limits_mix(h ^ w);
	}
	return (size_t)(limits_mix(h) & l->mask);
}

static void
limits_key(const struct addr *a, struct addr *k)
{
	memset(k, 0, sizeof(*k));
	k->family = a->family;
	if (a->family == AF_INET)
		memcpy(k->a, a->a, 4);
	else
		memcpy(k->a, a->a, LIMITS_V6_PREFIX / 8);
}

static size_t
limits_src_hash(const struct limits_tab *l, const struct addr *k)
{
	uint8_t b[17];

	b[0] = (uint8_t)k->family;
	memcpy(b + 1, k->a, 16);
	return limits_hash_bytes(l, b, sizeof(b));
}

/* One allocation: the table, then the arrays, each aligned to 64. */
#define LIMITS_ALIGN(n) (((n) + 63) & ~(size_t)63)

static struct limits *
limits_create(size_t cap, uint64_t seed, bool shared)
{
	struct limits *h;
	struct limits_tab *l;
	size_t nb = 1, o_srcs, o_sb, o_users, o_ub, size;
	uint8_t *base;

	if (cap == 0)
		cap = LIMITS_SOURCES_DEFAULT;
	if (cap > LIMITS_SOURCES_MAX)
		cap = LIMITS_SOURCES_MAX;
	while (nb < cap)
		nb <<= 1;
	o_srcs = LIMITS_ALIGN(sizeof(*l));
	o_sb = o_srcs + LIMITS_ALIGN(cap * sizeof(struct limits_src));
	o_users = o_sb + LIMITS_ALIGN(nb * sizeof(struct limits_src *));
	o_ub = o_users + LIMITS_ALIGN(cap * sizeof(struct limits_user));
	size = o_ub + LIMITS_ALIGN(nb * sizeof(struct limits_user *));
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if (shared) {
		/* zero-filled; pages are touched only as entries are used */
		base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED) {
			free(h);
			return NULL;
		}
	} else if ((base = calloc(1, size)) == NULL) {
		free(h);
		return NULL;
	}
	h->t = l = (struct limits_tab *)(void *)base;
	h->size = size;
	h->shared = shared;
	l->cap = cap;
	l->seed = seed;
	l->mask = nb - 1;
	l->srcs = (struct limits_src *)(void *)(base + o_srcs);
	l->sbuckets = (struct limits_src **)(void *)(base + o_sb);
	l->users = (struct limits_user *)(void *)(base + o_users);
	l->ubuckets = (struct limits_user **)(void *)(base + o_ub);
	if (shared) {
		pthread_mutexattr_t ma;
		int rc;

		if (pthread_mutexattr_init(&ma) != 0) {
			limits_free(h);
			return NULL;
		}
		rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		if (rc == 0)
			rc = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
		if (rc == 0)
			rc = pthread_mutex_init(&l->lock, &ma);
		pthread_mutexattr_destroy(&ma);
		if (rc != 0) {
			h->shared = false;      /* nothing to destroy */
			limits_free(h);
			return NULL;
		}
	}
	return h;
}

struct limits *
limits_new(size_t cap, uint64_t seed)
{
	return limits_create(cap, seed, false);
}

struct limits *
limits_new_shared(size_t cap, uint64_t seed)
{
	return limits_create(cap, seed, true);
}

void
limits_free(struct limits *h)
{
	if (h == NULL)
		return;
	if (h->shared)
		(void)munmap(h->t, h->size);
	else
		free(h->t);
	free(h);
}

void
limits_set_worker(struct limits *h, unsigned worker)
{
	h->self = worker < LIMITS_WORKERS_MAX ? worker : LIMITS_WORKERS_MAX - 1;
}

/* A worker that died while holding the lock left it inconsistent; the
 * counters it held are taken back by limits_worker_reset(). */
static struct limits_tab *
limits_lock(const struct limits *h)
{
	if (h->shared && pthread_mutex_lock(&h->t->lock) == EOWNERDEAD)
		(void)pthread_mutex_consistent(&h->t->lock);
	return h->t;
}

static void
limits_unlock(const struct limits *h)
{
	if (h->shared)
		(void)pthread_mutex_unlock(&h->t->lock);
}

static void
limits_idle_unlink(struct limits_tab *l, struct limits_src *e)
{
	if (!e->idle)
		return;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->idle_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->idle_tail = e->prev;
	e->prev = e->next = NULL;
	e->idle = false;
}

/* Keeps the idle list in order of last use: an entry without connections
 * goes (back) to its tail, one with connections leaves it. */
static void
limits_touch(struct limits_tab *l, struct limits_src *e)
{
	limits_idle_unlink(l, e);
	if (e->conns > 0)
		return;
	e->prev = l->idle_tail;
	e->next = NULL;
	if (l->idle_tail != NULL)
		l->idle_tail->next = e;
	else
		l->idle_head = e;
	l->idle_tail = e;
	e->idle = true;
}

static void
limits_drop(struct limits_tab *l, struct limits_src *e)
{
	struct limits_src **pp;

	limits_idle_unlink(l, e);
	for (pp = &l->sbuckets[limits_src_hash(l, &e->key)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	memset(e, 0, sizeof(*e));
	e->next = l->free_list;
	l->free_list = e;
	l->nsources--;
}

static bool
limits_stale(const struct limits_src *e, uint64_t now)
{
	return e->conns == 0 && now >= e->quiet_at;
}

static void
limits_quiet(struct limits_src *e, uint64_t until)
{
	if (until > e->quiet_at)
		e->quiet_at = until;
}

static struct limits_src *
limits_src_find(const struct limits_tab *l, const struct addr *a)
{
	struct limits_src *e;
	struct addr k;

	limits_key(a, &k);
	for (e = l->sbuckets[limits_src_hash(l, &k)]; e != NULL; e = e->hnext)
		if (addr_equal(&e->key, &k))
			return e;
	return NULL;
}

static struct limits_src *
limits_src_get(struct limits_tab *l, const struct addr *a, uint64_t now)
{
	struct limits_src *e;
	size_t h;
	int i;

	if ((e = limits_src_find(l, a)) != NULL)
		return e;
	for (i = 0; i < LIMITS_DROP_PER_CALL && l->idle_head != NULL &&
	    limits_stale(l->idle_head, now); i++)
		limits_drop(l, l->idle_head);
	if (l->free_list == NULL && l->srcs_used == l->cap) {
		if (l->idle_head == NULL)
			return NULL;        /* every source holds connections */
		limits_drop(l, l->idle_head);
	}
	if (l->free_list != NULL) {
		e = l->free_list;
		l->free_list = e->next;
	} else
		e = &l->srcs[l->srcs_used++];
	memset(e, 0, sizeof(*e));
	limits_key(a, &e->key);
	h = limits_src_hash(l, &e->key);
	e->hnext = l->sbuckets[h];
	l->sbuckets[h] = e;
	e->quiet_at = now;
	l->nsources++;
	limits_touch(l, e);
	return e;
}

static uint64_t
limits_ms(unsigned seconds)
{
	return (uint64_t)(seconds > LIMITS_SECONDS_MAX ? LIMITS_SECONDS_MAX : seconds) * 1000;
}

/* Token bucket: a token is `interval` ms worth of refill; the bucket holds
 * rate tokens and gains rate units per ms.  Takes one token if it can. */
static bool
limits_bucket_take(struct limits_src *e, uint64_t now, unsigned rate_n, unsigned rate_s)
{
	uint64_t rate = rate_n > LIMITS_RATE_MAX ? LIMITS_RATE_MAX : rate_n;
	uint64_t interval = limits_ms(rate_s);
	uint64_t full = rate * interval, elapsed;

	if (!e->bucket_set) {
		e->bucket = full;
		e->bucket_set = true;
		e->bucket_at = now;
	} else if (now > e->bucket_at) {
		/* (a clock that goes back refills nothing) */
		elapsed = now - e->bucket_at;
		if (elapsed > interval)
			elapsed = interval;
		e->bucket += elapsed * rate;
		if (e->bucket > full)
			e->bucket = full;
		e->bucket_at = now;
	} else if (e->bucket > full)
		e->bucket = full;       /* a lower rate since the last call */
	if (e->bucket < interval)
		return false;
	e->bucket -= interval;
	/* full again after (full - bucket) / rate ms, rounded up */
	limits_quiet(e, now + (full - e->bucket + rate - 1) / rate);
	return true;
}

static enum limits_result
limits_tab_acquire(struct limits_tab *l, unsigned self, const struct addr *a, uint64_t now,
                   unsigned max_concurrent, unsigned rate_n, unsigned rate_s)
{
	struct limits_src *e;

	if ((e = limits_src_get(l, a, now)) == NULL)
		return LIMITS_RESOURCE;
	if (max_concurrent > 0 && e->conns >= max_concurrent) {
		limits_touch(l, e);
		return LIMITS_CONCURRENCY;
	}
	if (rate_n > 0 && rate_s > 0 && !limits_bucket_take(e, now, rate_n, rate_s)) {
		limits_touch(l, e);
		return LIMITS_RATE;
	}
	e->conns++;
	e->wconns[self]++;
	limits_touch(l, e);
	return LIMITS_OK;
}

enum limits_result
limits_source_acquire(struct limits *h, const struct addr *a, uint64_t now,
                      unsigned max_concurrent, unsigned rate_n, unsigned rate_s)
{
	struct limits_tab *l = limits_lock(h);
	enum limits_result r;

	r = limits_tab_acquire(l, h->self, a, now, max_concurrent, rate_n, rate_s);
	limits_unlock(h);
	return r;
}

void
limits_source_release(struct limits *h, const struct addr *a, uint64_t now)
{
	struct limits_tab *l = limits_lock(h);
	struct limits_src *e;

	if ((e = limits_src_find(l, a)) != NULL && e->wconns[h->self] > 0) {
		e->wconns[h->self]--;
		e->conns--;
		limits_quiet(e, now);
		limits_touch(l, e);
	}
	limits_unlock(h);
}

unsigned
limits_source_count(const struct limits *h, const struct addr *a)
{
	const struct limits_tab *l = limits_lock(h);
	const struct limits_src *e = limits_src_find(l, a);
	unsigned n = e != NULL ? e->conns : 0;

	limits_unlock(h);
	return n;
}

static bool
limits_tab_failure(struct limits_tab *l, const struct addr *a, uint64_t now,
                   unsigned failures, unsigned window_s, unsigned penalty_s)
{
	struct limits_src *e;

	if ((e = limits_src_get(l, a, now)) == NULL)
		return false;
	limits_touch(l, e);
	if (e->penalty_until > now)
		return true;
	if (failures == 0)
		return false;
	if (now >= e->fail_until) {
		e->nfail = 0;
		e->fail_until = now + limits_ms(window_s);
	}
	e->nfail++;
	limits_quiet(e, e->fail_until);
	if (e->nfail < failures)
		return false;
	e->nfail = 0;
	e->fail_until = now;
	e->penalty_until = now + limits_ms(penalty_s);
	limits_quiet(e, e->penalty_until);
	return e->penalty_until > now;
}

bool
limits_auth_failure(struct limits *h, const struct addr *a, uint64_t now,
                    unsigned failures, unsigned window_s, unsigned penalty_s)
{
	struct limits_tab *l = limits_lock(h);
	bool r = limits_tab_failure(l, a, now, failures, window_s, penalty_s);

	limits_unlock(h);
	return r;
}

bool
limits_auth_penalized(const struct limits *h, const struct addr *a, uint64_t now,
                      uint64_t *remaining_ms)
{
	const struct limits_tab *l = limits_lock(h);
	const struct limits_src *e = limits_src_find(l, a);
	uint64_t left = (e != NULL && e->penalty_until > now) ? e->penalty_until - now : 0;

	limits_unlock(h);
	if (remaining_ms != NULL)
		*remaining_ms = left;
	return left > 0;
}

size_t
limits_expire(struct limits *h, uint64_t now)
{
	struct limits_tab *l = limits_lock(h);
	struct limits_src *e, *next;
	size_t n = 0;

	for (e = l->idle_head; e != NULL; e = next) {
		next = e->next;
		if (limits_stale(e, now)) {
			limits_drop(l, e);
			n++;
		}
	}
	limits_unlock(h);
	return n;
}

size_t
limits_nsources(const struct limits *h)
{
	size_t n;

	(void)limits_lock(h);
	n = h->t->nsources;
	limits_unlock(h);
	return n;
}

static struct limits_user **
limits_user_slot(const struct limits_tab *l, const char *user, size_t len)
{
	struct limits_user **pp;

	pp = &l->ubuckets[limits_hash_bytes(l, (const uint8_t *)user, len)];
	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, user) == 0)
			break;
	return pp;
}

static enum limits_result
limits_tab_user(struct limits_tab *l, unsigned self, const char *user, unsigned max)
{
	size_t len = strlen(user);
	struct limits_user **pp, *u;

	if (len > LIMITS_USER_MAX)
		return LIMITS_RESOURCE;
	pp = limits_user_slot(l, user, len);
	if ((u = *pp) == NULL) {
		if (l->nusers >= l->cap)
			return LIMITS_RESOURCE;
		if (l->ufree != NULL) {
			u = l->ufree;
			l->ufree = u->next;
		} else if (l->users_used < l->cap)
			u = &l->users[l->users_used++];
		else
			return LIMITS_RESOURCE;
		memset(u, 0, sizeof(*u));
		memcpy(u->name, user, len + 1);
		*pp = u;
		l->nusers++;
	}
	if (max > 0 && u->n >= max)
		return LIMITS_CONCURRENCY;
	u->n++;
	u->wn[self]++;
	return LIMITS_OK;
}

enum limits_result
limits_user_acquire(struct limits *h, const char *user, unsigned max)
{
	struct limits_tab *l = limits_lock(h);
	enum limits_result r = limits_tab_user(l, h->self, user, max);

	limits_unlock(h);
	return r;
}

static void
limits_user_unlink(struct limits_tab *l, struct limits_user **pp)
{
	struct limits_user *u = *pp;

	*pp = u->next;
	u->next = l->ufree;
	l->ufree = u;
	l->nusers--;
}

void
limits_user_release(struct limits *h, const char *user)
{
	struct limits_tab *l = limits_lock(h);
	size_t len = strlen(user);
	struct limits_user **pp, *u;

	if (len <= LIMITS_USER_MAX) {
		pp = limits_user_slot(l, user, len);
		if ((u = *pp) != NULL && u->wn[h->self] > 0) {
			u->wn[h->self]--;
			if (--u->n == 0)
				limits_user_unlink(l, pp);
		}
	}
	limits_unlock(h);
}

unsigned
limits_user_count(const struct limits *h, const char *user)
{
	const struct limits_tab *l = limits_lock(h);
	size_t len = strlen(user);
	const struct limits_user *u = len <= LIMITS_USER_MAX ?
	    *limits_user_slot(l, user, len) : NULL;
	unsigned n = u != NULL ? u->n : 0;

	limits_unlock(h);
	return n;
}

enum limits_result
limits_global_acquire(struct limits *h, unsigned max)
{
	struct limits_tab *l = limits_lock(h);
	enum limits_result r = LIMITS_CONCURRENCY;

	if (max == 0 || l->global < max) {
		l->global++;
		l->wglobal[h->self]++;
		r = LIMITS_OK;
	}
	limits_unlock(h);
	return r;
}

void
limits_global_release(struct limits *h)
{
	struct limits_tab *l = limits_lock(h);

	if (l->wglobal[h->self] > 0) {
		l->wglobal[h->self]--;
		l->global--;
	}
	limits_unlock(h);
}

unsigned
limits_global_count(const struct limits *h)
{
	unsigned n;

	(void)limits_lock(h);
	n = h->t->global;
	limits_unlock(h);
	return n;
}

unsigned
limits_worker_count(const struct limits *h, unsigned worker)
{
	unsigned n = 0;

	(void)limits_lock(h);
	if (worker < LIMITS_WORKERS_MAX)
		n = h->t->wglobal[worker];
	limits_unlock(h);
	return n;
}

void
limits_worker_reset(struct limits *h, unsigned worker, uint64_t now)
{
	struct limits_tab *l = limits_lock(h);
	size_t i, b;

	if (worker >= LIMITS_WORKERS_MAX) {
		limits_unlock(h);
		return;
	}
	l->global -= l->wglobal[worker];
	l->wglobal[worker] = 0;
	for (i = 0; i < l->srcs_used; i++) {
		struct limits_src *e = &l->srcs[i];

		if (e->wconns[worker] == 0)
			continue;
		e->conns -= e->wconns[worker];
		e->wconns[worker] = 0;
		limits_quiet(e, now);
		limits_touch(l, e);
	}
	for (b = 0; b <= l->mask; b++) {
		struct limits_user **pp = &l->ubuckets[b];

		while (*pp != NULL) {
			struct limits_user *u = *pp;

			u->n -= u->wn[worker];
			u->wn[worker] = 0;
			if (u->n == 0)
				limits_user_unlink(l, pp);
			else
				pp = &u->next;
		}
	}
	limits_unlock(h);
}
