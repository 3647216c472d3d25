/* limits: per-source and per-user accounting (see limits.h). */
#include <stdlib.h>
#include <string.h>

#include "policy/limits.h"

struct limits_src {
	struct addr         key;       /* canonical, IPv6 cut to LIMITS_V6_PREFIX */
	struct limits_src  *hnext;     /* hash chain */
	struct limits_src  *prev, *next; /* idle list (conns == 0) or free list */
	bool                idle;      /* on the idle list */
	unsigned            conns;
	bool                bucket_set;
	uint64_t            bucket;    /* tokens, one token = interval in ms */
	uint64_t            bucket_at;
	unsigned            nfail;
	uint64_t            fail_until;
	uint64_t            penalty_until;
	uint64_t            quiet_at;  /* from then on it holds no state */
};

struct limits_user {
	char               *name;
	unsigned            n;
	struct limits_user *next;
};

struct limits {
	size_t               cap;
	uint64_t             seed;
	size_t               mask;       /* buckets - 1 */
	struct limits_src   *srcs;       /* cap entries */
	struct limits_src  **sbuckets;
	struct limits_src   *free_list;
	struct limits_src   *idle_head, *idle_tail;  /* oldest first */
	size_t               nsources;
	struct limits_user **ubuckets;
	size_t               nusers;
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
limits_hash_bytes(const struct limits *l, const uint8_t *p, size_t n)
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
limits_src_hash(const struct limits *l, const struct addr *k)
{
	uint8_t b[17];

	b[0] = (uint8_t)k->family;
	memcpy(b + 1, k->a, 16);
	return limits_hash_bytes(l, b, sizeof(b));
}

struct limits *
limits_new(size_t cap, uint64_t seed)
{
	struct limits *l;
	size_t i, nb = 1;

	if (cap == 0)
		cap = LIMITS_SOURCES_DEFAULT;
	if (cap > LIMITS_SOURCES_MAX)
		cap = LIMITS_SOURCES_MAX;
	while (nb < cap)
		nb <<= 1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->cap = cap;
	l->seed = seed;
	l->mask = nb - 1;
	l->srcs = calloc(cap, sizeof(*l->srcs));
	l->sbuckets = calloc(nb, sizeof(*l->sbuckets));
	l->ubuckets = calloc(nb, sizeof(*l->ubuckets));
	if (l->srcs == NULL || l->sbuckets == NULL || l->ubuckets == NULL) {
		limits_free(l);
		return NULL;
	}
	for (i = cap; i > 0; i--) {
		l->srcs[i - 1].next = l->free_list;
		l->free_list = &l->srcs[i - 1];
	}
	return l;
}

void
limits_free(struct limits *l)
{
	struct limits_user *u, *un;
	size_t i;

	if (l == NULL)
		return;
	if (l->ubuckets != NULL)
		for (i = 0; i <= l->mask; i++)
			for (u = l->ubuckets[i]; u != NULL; u = un) {
				un = u->next;
				free(u->name);
				free(u);
			}
	free(l->ubuckets);
	free(l->sbuckets);
	free(l->srcs);
	free(l);
}

static void
limits_idle_unlink(struct limits *l, struct limits_src *e)
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
limits_touch(struct limits *l, struct limits_src *e)
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
limits_drop(struct limits *l, struct limits_src *e)
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
limits_src_find(const struct limits *l, const struct addr *a)
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
limits_src_get(struct limits *l, const struct addr *a, uint64_t now)
{
	struct limits_src *e;
	size_t h;
	int i;

	if ((e = limits_src_find(l, a)) != NULL)
		return e;
	for (i = 0; i < LIMITS_DROP_PER_CALL && l->idle_head != NULL &&
	    limits_stale(l->idle_head, now); i++)
		limits_drop(l, l->idle_head);
	if (l->free_list == NULL) {
		if (l->idle_head == NULL)
			return NULL;        /* every source holds connections */
		limits_drop(l, l->idle_head);
	}
	e = l->free_list;
	l->free_list = e->next;
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

enum limits_result
limits_source_acquire(struct limits *l, const struct addr *a, uint64_t now,
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
	limits_touch(l, e);
	return LIMITS_OK;
}

void
limits_source_release(struct limits *l, const struct addr *a, uint64_t now)
{
	struct limits_src *e;

	if ((e = limits_src_find(l, a)) == NULL || e->conns == 0)
		return;
	e->conns--;
	limits_quiet(e, now);
	limits_touch(l, e);
}

unsigned
limits_source_count(const struct limits *l, const struct addr *a)
{
	const struct limits_src *e = limits_src_find(l, a);

	return e != NULL ? e->conns : 0;
}

bool
limits_auth_failure(struct limits *l, const struct addr *a, uint64_t now,
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
limits_auth_penalized(const struct limits *l, const struct addr *a, uint64_t now,
                      uint64_t *remaining_ms)
{
	const struct limits_src *e = limits_src_find(l, a);
	uint64_t left = (e != NULL && e->penalty_until > now) ? e->penalty_until - now : 0;

	if (remaining_ms != NULL)
		*remaining_ms = left;
	return left > 0;
}

size_t
limits_expire(struct limits *l, uint64_t now)
{
	struct limits_src *e, *next;
	size_t n = 0;

	for (e = l->idle_head; e != NULL; e = next) {
		next = e->next;
		if (limits_stale(e, now)) {
			limits_drop(l, e);
			n++;
		}
	}
	return n;
}

size_t
limits_nsources(const struct limits *l)
{
	return l->nsources;
}

static struct limits_user **
limits_user_slot(const struct limits *l, const char *user)
{
	struct limits_user **pp;

	pp = &l->ubuckets[limits_hash_bytes(l, (const uint8_t *)user, strlen(user))];
	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, user) == 0)
			break;
	return pp;
}

enum limits_result
limits_user_acquire(struct limits *l, const char *user, unsigned max)
{
	struct limits_user **pp = limits_user_slot(l, user), *u = *pp;

	if (u == NULL) {
		if (l->nusers >= l->cap || (u = calloc(1, sizeof(*u))) == NULL)
			return LIMITS_RESOURCE;
		if ((u->name = strdup(user)) == NULL) {
			free(u);
			return LIMITS_RESOURCE;
		}
		*pp = u;
		l->nusers++;
	}
	if (max > 0 && u->n >= max)
		return LIMITS_CONCURRENCY;
	u->n++;
	return LIMITS_OK;
}

void
limits_user_release(struct limits *l, const char *user)
{
	struct limits_user **pp = limits_user_slot(l, user), *u = *pp;

	if (u == NULL || u->n == 0)
		return;
	if (--u->n > 0)
		return;
	*pp = u->next;
	free(u->name);
	free(u);
	l->nusers--;
}

unsigned
limits_user_count(const struct limits *l, const char *user)
{
	const struct limits_user *u = *limits_user_slot(l, user);

	return u != NULL ? u->n : 0;
}
