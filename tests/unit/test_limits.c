/* limits: concurrency, rate, per-user tunnels, penalty box, bounded table. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "policy/limits.h"
#include "tests/unit/cutest.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define SEED 0x5eed

static struct addr
A(const char *s)
{
	struct addr a;

	if (!addr_parse(s, &a)) {
		fprintf(stderr, "bad test address %s\n", s);
		abort();
	}
	return a;
}

/* The i-th of many distinct IPv4 sources. */
static struct addr
nth(unsigned i)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.a[0] = 10;
	a.a[1] = (uint8_t)(i >> 16);
	a.a[2] = (uint8_t)(i >> 8);
	a.a[3] = (uint8_t)i;
	return a;
}

static void
test_concurrency(void)
{
	struct limits *l = limits_new(16, SEED);
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2"), m = A("::ffff:192.0.2.1");
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 3, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 3);
	/* the N+1th is refused, from any spelling of the same source */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 3, 0, 0), LIMITS_CONCURRENCY);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &m, 0, 3, 0, 0), LIMITS_CONCURRENCY);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 3);
	/* another source is unaffected */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 3, 0, 0), LIMITS_OK);
	/* released, then OK again */
	limits_source_release(l, &a, 1);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 2);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 1, 3, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 1, 3, 0, 0), LIMITS_CONCURRENCY);
	/* 0: no limit, still counted */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 1, 0, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 4);
	for (i = 0; i < 4; i++)
		limits_source_release(l, &a, 2);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 0);
	/* releasing more than was acquired, or an unknown source: no-op */
	limits_source_release(l, &a, 2);
	limits_source_release(l, &(struct addr){ .family = AF_INET, .a = { 1, 2, 3, 4 } }, 2);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 0);
	CU_ASSERT_EQUAL(limits_source_count(l, &b), 1);
	limits_free(l);
	limits_free(NULL);
}

/* IPv6 sources are counted per /64. */
static void
test_ipv6_aggregate(void)
{
	static const struct {
		const char *a;
		enum limits_result want;
	} t[] = {
		{ "2001:db8::1", LIMITS_OK },
		{ "2001:db8::ffff:1", LIMITS_OK },
		{ "2001:db8:0:0:1:2:3:4", LIMITS_CONCURRENCY },
		{ "2001:db8:0:1::1", LIMITS_OK },
		{ "2001:db9::1", LIMITS_OK },
	};
	struct limits *l = limits_new(16, SEED);
	struct addr a;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (i = 0; i < N(t); i++) {
		a = A(t[i].a);
		CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 2, 0, 0), t[i].want);
	}
	a = A("2001:db8::99");
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 2);
	CU_ASSERT_EQUAL(limits_nsources(l), 3);
	limits_free(l);
}

/* 3 per second: a burst of 3, then one every 333.3 ms. */
static void
test_rate(void)
{
	static const struct {
		uint64_t now;
		enum limits_result want;
	} t[] = {
		{ 0, LIMITS_OK },
		{ 0, LIMITS_OK },
		{ 0, LIMITS_OK },
		{ 0, LIMITS_RATE },
		{ 100, LIMITS_RATE },
		{ 333, LIMITS_RATE },       /* 999 of the 1000 units a token needs */
		{ 334, LIMITS_OK },
		{ 334, LIMITS_RATE },
		{ 666, LIMITS_RATE },       /* 2 + 332 * 3 = 998 */
		{ 667, LIMITS_OK },         /* 2 + 333 * 3 = 1001 */
		{ 668, LIMITS_RATE },
		{ 5000, LIMITS_OK },        /* refilled, but never beyond the burst */
		{ 5000, LIMITS_OK },
		{ 5000, LIMITS_OK },
		{ 5000, LIMITS_RATE },
		{ 4000, LIMITS_RATE },      /* a clock going back gives nothing */
	};
	struct limits *l = limits_new(16, SEED);
	struct addr a = A("198.51.100.7"), b = A("198.51.100.8");
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (i = 0; i < N(t); i++) {
		enum limits_result r = limits_source_acquire(l, &a, t[i].now, 0, 3, 1);

		if (r != t[i].want) {
			fprintf(stderr, "rate case %zu at %llu: got %d want %d\n", i,
			    (unsigned long long)t[i].now, r, t[i].want);
			CU_FAIL("rate");
		} else
			CU_PASS("rate");
	}
	/* refusals take no slot; releasing gives no token back */
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 8);
	limits_source_release(l, &a, 5000);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 5000, 0, 3, 1), LIMITS_RATE);
	/* other sources have their own bucket */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 0, 3, 1), LIMITS_OK);
	/* a concurrency refusal takes no token */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 1, 3, 1), LIMITS_CONCURRENCY);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 1, 3, 1), LIMITS_CONCURRENCY);
	limits_source_release(l, &b, 0);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 1, 3, 1), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 0, 3, 1), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 0, 3, 1), LIMITS_RATE);
	/* a longer interval: 2 per 10 s */
	a = A("198.51.100.9");
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 0, 2, 10), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 0, 2, 10), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 4999, 0, 2, 10), LIMITS_RATE);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 5000, 0, 2, 10), LIMITS_OK);
	/* huge values are capped, not overflowed */
	a = A("198.51.100.10");
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 0, 4000000000u, 4000000000u), LIMITS_OK);
	limits_free(l);
}

/* The table never holds more than cap sources; busy ones are never evicted. */
static void
test_bounded(void)
{
	enum { CAP = 8 };
	struct limits *l = limits_new(CAP, SEED);
	struct addr held = A("203.0.113.1"), a;
	unsigned i;
	bool bounded = true;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &held, 0, 5, 100, 1), LIMITS_OK);
	for (i = 0; i < 1000; i++) {
		a = nth(i);
		/* each leaves rate state behind for a second */
		if (limits_source_acquire(l, &a, i, 5, 100, 1) != LIMITS_OK)
			bounded = false;
		limits_source_release(l, &a, i);
		if (limits_nsources(l) > CAP)
			bounded = false;
	}
	CU_ASSERT(bounded);
	CU_ASSERT_EQUAL(limits_nsources(l), CAP);
	CU_ASSERT_EQUAL(limits_source_count(l, &held), 1);
	limits_source_release(l, &held, 1000);
	CU_ASSERT_EQUAL(limits_source_count(l, &held), 0);

	/* every slot busy: a new source cannot be tracked */
	limits_free(l);
	l = limits_new(4, SEED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (i = 0; i < 4; i++) {
		a = nth(i);
		CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 5, 0, 0), LIMITS_OK);
	}
	a = nth(4);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 5, 0, 0), LIMITS_RESOURCE);
	CU_ASSERT_EQUAL(limits_nsources(l), 4);
	/* one goes idle: it is the one evicted */
	a = nth(2);
	limits_source_release(l, &a, 1);
	a = nth(4);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 1, 5, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_nsources(l), 4);
	for (i = 0; i < 5; i++) {
		a = nth(i);
		CU_ASSERT_EQUAL(limits_source_count(l, &a), i == 2 ? 0 : 1);
	}
	limits_free(l);
}

/* Idle sources are dropped once they hold no state; the oldest idle one is
 * evicted first when the table is full. */
static void
test_expire(void)
{
	struct limits *l = limits_new(8, SEED);
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2"), c = A("192.0.2.3"), d;
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 0, 2, 1), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &b, 0, 0, 2, 1), LIMITS_OK);
	limits_source_release(l, &a, 10);
	limits_source_release(l, &b, 10);
	/* the buckets refill by 500 ms: until then they are state */
	CU_ASSERT_EQUAL(limits_expire(l, 499), 0);
	CU_ASSERT_EQUAL(limits_nsources(l), 2);
	CU_ASSERT_EQUAL(limits_expire(l, 500), 2);
	CU_ASSERT_EQUAL(limits_nsources(l), 0);
	/* a busy source is never dropped */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &c, 0, 0, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_expire(l, 1000000), 0);
	CU_ASSERT_EQUAL(limits_source_count(l, &c), 1);
	limits_source_release(l, &c, 1000000);
	CU_ASSERT_EQUAL(limits_expire(l, 1000000), 1);

	/* fill with rate state, a at the oldest; the 9th source evicts a */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 0, 1, 60), LIMITS_OK);
	limits_source_release(l, &a, 0);
	for (i = 1; i < 8; i++) {
		d = nth(i);
		CU_ASSERT_EQUAL(limits_source_acquire(l, &d, i, 0, 1, 60), LIMITS_OK);
		limits_source_release(l, &d, i);
	}
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 10, 0, 1, 60), LIMITS_RATE);
	d = nth(100);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &d, 20, 0, 1, 60), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_nsources(l), 8);
	/* a touched last (its refusal): nth(1), the oldest idle, went */
	d = nth(1);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &d, 30, 0, 1, 60), LIMITS_OK);
	/* and then nth(2); a's rate is still remembered */
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 40, 0, 1, 60), LIMITS_RATE);
	d = nth(2);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &d, 50, 0, 1, 60), LIMITS_OK);
	limits_free(l);
}

static void
test_users(void)
{
	struct limits *l = limits_new(2, SEED);

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_CONCURRENCY);
	CU_ASSERT_EQUAL(limits_user_count(l, "alice"), 2);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "Alice", 2), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_user_count(l, "Alice"), 1);
	/* cap 2: a third user cannot be tracked */
	CU_ASSERT_EQUAL(limits_user_acquire(l, "bob", 2), LIMITS_RESOURCE);
	limits_user_release(l, "Alice");
	CU_ASSERT_EQUAL(limits_user_count(l, "Alice"), 0);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "bob", 2), LIMITS_OK);
	limits_user_release(l, "alice");
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_CONCURRENCY);
	/* 0: no limit */
	CU_ASSERT_EQUAL(limits_user_acquire(l, "bob", 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_user_count(l, "bob"), 2);
	/* releasing what was not acquired: no-op */
	limits_user_release(l, "nobody");
	limits_user_release(l, "bob");
	limits_user_release(l, "bob");
	limits_user_release(l, "bob");
	CU_ASSERT_EQUAL(limits_user_count(l, "bob"), 0);
	/* alice's entry is left for limits_free to reclaim */
	limits_free(l);
}

/* 3 failures within 10 s: 60 s in the box, for that source only. */
static void
test_penalty(void)
{
	struct limits *l = limits_new(16, SEED);
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2"), v6 = A("2001:db8::1");
	struct addr v6b = A("2001:db8::2");
	uint64_t left;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_FALSE(limits_auth_failure(l, &a, 0, 3, 10, 60));
	CU_ASSERT_FALSE(limits_auth_failure(l, &a, 1000, 3, 10, 60));
	CU_ASSERT_FALSE(limits_auth_penalized(l, &a, 1000, &left));
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_TRUE(limits_auth_failure(l, &a, 2000, 3, 10, 60));
	CU_ASSERT_TRUE(limits_auth_penalized(l, &a, 2000, &left));
	CU_ASSERT_EQUAL(left, 60000);
	CU_ASSERT_TRUE(limits_auth_penalized(l, &a, 61999, &left));
	CU_ASSERT_EQUAL(left, 1);
	CU_ASSERT_FALSE(limits_auth_penalized(l, &b, 2000, NULL));
	/* failures during the penalty change nothing */
	CU_ASSERT_TRUE(limits_auth_failure(l, &a, 30000, 3, 10, 60));
	CU_ASSERT_TRUE(limits_auth_penalized(l, &a, 61999, NULL));
	/* expiry */
	CU_ASSERT_FALSE(limits_auth_penalized(l, &a, 62000, NULL));
	CU_ASSERT_FALSE(limits_auth_failure(l, &a, 62000, 3, 10, 60));
	/* failures spread wider than the window never add up */
	CU_ASSERT_FALSE(limits_auth_failure(l, &b, 0, 3, 10, 60));
	CU_ASSERT_FALSE(limits_auth_failure(l, &b, 9999, 3, 10, 60));
	CU_ASSERT_FALSE(limits_auth_failure(l, &b, 10000, 3, 10, 60));
	CU_ASSERT_FALSE(limits_auth_failure(l, &b, 19999, 3, 10, 60));
	CU_ASSERT_TRUE(limits_auth_failure(l, &b, 19999, 3, 10, 60));
	/* IPv6: the /64 shares one box */
	CU_ASSERT_FALSE(limits_auth_failure(l, &v6, 0, 2, 10, 5));
	CU_ASSERT_TRUE(limits_auth_failure(l, &v6b, 1, 2, 10, 5));
	CU_ASSERT_TRUE(limits_auth_penalized(l, &v6, 5000, NULL));
	CU_ASSERT_FALSE(limits_auth_penalized(l, &v6, 5001, NULL));
	/* 0 failures: never penalized */
	CU_ASSERT_FALSE(limits_auth_failure(l, &v6, 9000, 0, 10, 5));
	/* the box is state: kept by expire until it is over */
	CU_ASSERT_TRUE(limits_auth_failure(l, &a, 100000, 1, 10, 60));
	limits_expire(l, 150000);
	CU_ASSERT_TRUE(limits_auth_penalized(l, &a, 150000, NULL));
	limits_expire(l, 160000);
	CU_ASSERT_FALSE(limits_auth_penalized(l, &a, 160000, NULL));
	CU_ASSERT_EQUAL(limits_nsources(l), 0);
	limits_free(l);
}

static void
test_new(void)
{
	struct limits *l = limits_new(0, 0);
	struct addr a;
	unsigned i;
	bool ok = true;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	/* the default capacity holds many sources */
	for (i = 0; i < 1000; i++) {
		a = nth(i);
		if (limits_source_acquire(l, &a, 0, 1, 0, 0) != LIMITS_OK)
			ok = false;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(limits_nsources(l), 1000);
	limits_free(l);
}

/* Shared between processes: a forked worker's acquisitions count for the
 * parent's limits, releases undo only one's own, and a dead worker's
 * holdings are taken back. */
static void
test_shared(void)
{
	struct limits *l = limits_new_shared(16, SEED);
	struct addr a = A("192.0.2.7");
	pid_t pid;
	int st = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(limits_source_acquire(l, &a, 0, 3, 0, 0), LIMITS_OK);
	CU_ASSERT_EQUAL(limits_global_acquire(l, 3), LIMITS_OK);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		limits_set_worker(l, 1);
		bad |= limits_source_acquire(l, &a, 0, 3, 0, 0) != LIMITS_OK;
		bad |= limits_source_acquire(l, &a, 0, 3, 0, 0) != LIMITS_OK;
		/* the parent's slot makes three: the fourth is refused here too */
		bad |= limits_source_acquire(l, &a, 0, 3, 0, 0) != LIMITS_CONCURRENCY;
		bad |= limits_global_acquire(l, 3) != LIMITS_OK;
		bad |= limits_global_acquire(l, 3) != LIMITS_OK;
		bad |= limits_global_acquire(l, 3) != LIMITS_CONCURRENCY;
		bad |= limits_user_acquire(l, "alice", 2) != LIMITS_OK;
		bad |= limits_user_acquire(l, "alice", 2) != LIMITS_OK;
		_exit(bad ? 1 : 0);        /* dies holding all of it */
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 3);
	CU_ASSERT_EQUAL(limits_global_count(l), 3);
	CU_ASSERT_EQUAL(limits_worker_count(l, 1), 2);
	CU_ASSERT_EQUAL(limits_user_count(l, "alice"), 2);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_CONCURRENCY);
	/* worker 0 cannot release worker 1's slots */
	limits_source_release(l, &a, 1);
	limits_source_release(l, &a, 1);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 2);
	limits_user_release(l, "alice");
	CU_ASSERT_EQUAL(limits_user_count(l, "alice"), 2);
	/* the dead worker's holdings come back */
	limits_worker_reset(l, 1, 5);
	CU_ASSERT_EQUAL(limits_source_count(l, &a), 0);
	CU_ASSERT_EQUAL(limits_global_count(l), 1);
	CU_ASSERT_EQUAL(limits_worker_count(l, 1), 0);
	CU_ASSERT_EQUAL(limits_user_count(l, "alice"), 0);
	CU_ASSERT_EQUAL(limits_user_acquire(l, "alice", 2), LIMITS_OK);
	limits_global_release(l);
	CU_ASSERT_EQUAL(limits_global_count(l), 0);
	/* a name longer than LIMITS_USER_MAX cannot be tracked */
	{
		char longname[LIMITS_USER_MAX + 2];

		memset(longname, 'u', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		CU_ASSERT_EQUAL(limits_user_acquire(l, longname, 0), LIMITS_RESOURCE);
	}
	limits_free(l);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "concurrency", test_concurrency },
		{ "ipv6 /64", test_ipv6_aggregate },
		{ "rate", test_rate },
		{ "bounded table", test_bounded },
		{ "expire and evict", test_expire },
		{ "users", test_users },
		{ "penalty", test_penalty },
		{ "new", test_new },
		{ "shared between workers", test_shared },
		CUTEST_END
	};

	return cutest_run("limits", cases);
}
