/* Unit tests: relay/srvrec (SRV query, answer parsing, RFC 2782 order).
 * Answers are assembled here byte by byte (names with libresolv's dn_comp),
 * independently of the parser under test. */
#include <CUnit/CUnit.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/srvrec.h"
#include "tests/unit/cutest.h"

#define QNAME "_idxp._tcp.example.net"
#define ID    0x1234

struct msg {
	uint8_t  b[SRVREC_MSG_MAX * 2];
	size_t   n;
};

static void
put16(struct msg *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)(v >> 8);
	m->b[m->n++] = (uint8_t)v;
}

static void
put_name(struct msg *m, const char *name)
{
	int r = dn_comp(name, m->b + m->n, (int)(sizeof(m->b) - m->n), NULL, NULL);

	CU_ASSERT_FATAL(r > 0);
	m->n += (size_t)r;
}

/* header + question; flags: QR|RD|RA plus rcode/tc given */
static void
start(struct msg *m, unsigned id, unsigned flags, unsigned ancount, const char *qname)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, ns_t_srv);
	put16(m, ns_c_in);
}

static void
add_srv(struct msg *m, const char *owner, unsigned prio, unsigned weight, unsigned port,
        const char *target)
{
	size_t rdlen_at;

	put_name(m, owner);
	put16(m, ns_t_srv);
	put16(m, ns_c_in);
	put16(m, 0);
	put16(m, 60);                 /* TTL */
	rdlen_at = m->n;
	put16(m, 0);
	put16(m, prio);
	put16(m, weight);
	put16(m, port);
	put_name(m, target);
	m->b[rdlen_at] = (uint8_t)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (uint8_t)(m->n - rdlen_at - 2);
}

#define OKFLAGS 0x8180

static enum srvrec_status
parse(const struct msg *m, struct srv_target *t, size_t max, size_t *n)
{
	char err[256];

	return srvrec_parse(m->b, m->n, ID, QNAME, t, max, n, err, sizeof(err));
}

static void
test_query(void)
{
	uint8_t buf[SRVREC_MSG_MAX];
	ns_msg h;
	ns_rr rr;
	int n = srvrec_query(QNAME, ID, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > NS_HFIXEDSZ);
	CU_ASSERT_FATAL(ns_initparse(buf, n, &h) == 0);
	CU_ASSERT_EQUAL(ns_msg_id(h), ID);
	CU_ASSERT_EQUAL(ns_msg_getflag(h, ns_f_qr), 0);
	CU_ASSERT_EQUAL(ns_msg_count(h, ns_s_qd), 1);
	CU_ASSERT_FATAL(ns_parserr(&h, ns_s_qd, 0, &rr) == 0);
	CU_ASSERT_STRING_EQUAL(ns_rr_name(rr), QNAME);
	CU_ASSERT_EQUAL(ns_rr_type(rr), ns_t_srv);
	CU_ASSERT_EQUAL(srvrec_query("", ID, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(srvrec_query(QNAME, ID, buf, 8), -1);
}

static void
test_answer(void)
{
	struct msg m;
	struct srv_target t[SRVREC_TARGETS_MAX];
	size_t n;

	start(&m, ID, OKFLAGS, 3, QNAME);
	add_srv(&m, QNAME, 10, 60, 603, "mgr1.example.net");
	add_srv(&m, "_IDXP._TCP.Example.NET.", 20, 0, 6030, "mgr2.example.net");
	add_srv(&m, "other.example.net", 1, 1, 1, "x.example.net");   /* not ours */
	CU_ASSERT_EQUAL_FATAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(t[0].prio, 10);
	CU_ASSERT_EQUAL(t[0].weight, 60);
	CU_ASSERT_EQUAL(t[0].port, 603);
	CU_ASSERT_STRING_EQUAL(t[0].host, "mgr1.example.net");
	CU_ASSERT_EQUAL(t[1].prio, 20);
	CU_ASSERT_EQUAL(t[1].port, 6030);
	CU_ASSERT_STRING_EQUAL(t[1].host, "mgr2.example.net");
	/* at most max records are kept */
	CU_ASSERT_EQUAL(parse(&m, t, 1, &n), SRVREC_OK);
	CU_ASSERT_EQUAL(n, 1);
}

static void
test_outcomes(void)
{
	struct msg m;
	struct srv_target t[SRVREC_TARGETS_MAX];
	size_t n;

	start(&m, ID + 1, OKFLAGS, 0, QNAME);                   /* other id */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_FOREIGN);
	start(&m, ID, OKFLAGS, 0, "_x._tcp.example.net");        /* other question */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_FOREIGN);
	start(&m, ID, 0x0100, 0, QNAME);                         /* a query, not an answer */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_FOREIGN);
	start(&m, ID, OKFLAGS | 0x0200, 0, QNAME);               /* TC */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_TRUNCATED);
	start(&m, ID, OKFLAGS | ns_r_nxdomain, 0, QNAME);
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_NONE);
	start(&m, ID, OKFLAGS | ns_r_servfail, 0, QNAME);
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_SERVFAIL);
	start(&m, ID, OKFLAGS | ns_r_refused, 0, QNAME);
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_SERVFAIL);
	start(&m, ID, OKFLAGS, 0, QNAME);                        /* NODATA */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_NONE);
	start(&m, ID, OKFLAGS, 1, QNAME);
	add_srv(&m, QNAME, 0, 0, 0, ".");                        /* no service */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_NOSERVICE);
	CU_ASSERT_EQUAL(n, 0);
	start(&m, ID, OKFLAGS, 1, QNAME);
	add_srv(&m, QNAME, 0, 0, 0, "host.example.net");         /* port 0: unusable */
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_NONE);
}

static void
test_malformed(void)
{
	struct msg m, cut;
	struct srv_target t[SRVREC_TARGETS_MAX];
	size_t n, i;
	enum srvrec_status st;

	start(&m, ID, OKFLAGS, 1, QNAME);
	add_srv(&m, QNAME, 1, 2, 3, "h.example.net");
	/* every truncation of a good answer is rejected, never read past */
	for (i = 0; i < m.n; i++) {
		memcpy(cut.b, m.b, i);
		cut.n = i;
		st = parse(&cut, t, SRVREC_TARGETS_MAX, &n);
		CU_ASSERT(st == SRVREC_BAD || st == SRVREC_FOREIGN);
		CU_ASSERT_EQUAL(n, 0);
	}
	/* an SRV record with rdata too short */
	start(&m, ID, OKFLAGS, 1, QNAME);
	put_name(&m, QNAME);
	put16(&m, ns_t_srv);
	put16(&m, ns_c_in);
	put16(&m, 0);
	put16(&m, 60);
	put16(&m, 4);
	put16(&m, 1);
	put16(&m, 1);
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_BAD);
	/* a compression pointer looping on itself in the target */
	start(&m, ID, OKFLAGS, 1, QNAME);
	put_name(&m, QNAME);
	put16(&m, ns_t_srv);
	put16(&m, ns_c_in);
	put16(&m, 0);
	put16(&m, 60);
	put16(&m, 8);
	put16(&m, 1);
	put16(&m, 1);
	put16(&m, 1);
	put16(&m, 0xc000 | (unsigned)m.n);
	CU_ASSERT_EQUAL(parse(&m, t, SRVREC_TARGETS_MAX, &n), SRVREC_BAD);
}

/* a fixed sequence of "random" values */
struct seq {
	const uint32_t *v;
	size_t          n, i;
};

static uint32_t
seq_rand(void *arg)
{
	struct seq *s = arg;

	return s->v[s->i++ % s->n];
}

static uint32_t
lcg_rand(void *arg)
{
	uint64_t *x = arg;

	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*x >> 33);
}

static void
set(struct srv_target *t, unsigned prio, unsigned weight, const char *host)
{
	memset(t, 0, sizeof(*t));
	t->prio = (uint16_t)prio;
	t->weight = (uint16_t)weight;
	t->port = 1;
	snprintf(t->host, sizeof(t->host), "%s", host);
}

static void
test_order(void)
{
	static const uint32_t zero[] = { 0 }, big[] = { 10 };
	struct srv_target t[4];
	struct seq s;
	uint64_t x = 42;
	unsigned first_heavy = 0, first_zero = 0, i;

	/* priorities ascend whatever the weights */
	set(&t[0], 30, 100, "c");
	set(&t[1], 10, 0, "a");
	set(&t[2], 20, 5, "b");
	s = (struct seq){ zero, 1, 0 };
	srvrec_order(t, 3, seq_rand, &s);
	CU_ASSERT_STRING_EQUAL(t[0].host, "a");
	CU_ASSERT_STRING_EQUAL(t[1].host, "b");
	CU_ASSERT_STRING_EQUAL(t[2].host, "c");

	/* within a priority: the running sum decides; weight 0 goes first in
	 * the list, so only a pick of 0 selects it */
	set(&t[0], 1, 3, "w3");
	set(&t[1], 1, 0, "w0");
	set(&t[2], 1, 7, "w7");
	s = (struct seq){ zero, 1, 0 };
	srvrec_order(t, 3, seq_rand, &s);
	CU_ASSERT_STRING_EQUAL(t[0].host, "w0");
	set(&t[0], 1, 3, "w3");
	set(&t[1], 1, 0, "w0");
	set(&t[2], 1, 7, "w7");
	s = (struct seq){ big, 1, 0 };          /* 10 % 11 = 10: the last */
	srvrec_order(t, 3, seq_rand, &s);
	CU_ASSERT_STRING_EQUAL(t[0].host, "w7");
	/* remaining w0, w3 (sum 3): 10 % 4 = 2, running sums 0, 3: w3 */
	CU_ASSERT_STRING_EQUAL(t[1].host, "w3");
	CU_ASSERT_STRING_EQUAL(t[2].host, "w0");

	/* the proportions of RFC 2782's selection (a number in [0, sum],
	 * the first running sum >= it): weights 1 and 9 put the heavy one
	 * first for picks 2..10, 9 times in 11; weights 0 and 10 put the
	 * weight-0 one first only for a pick of 0, 1 time in 11 */
	for (i = 0; i < 10000; i++) {
		set(&t[0], 0, 1, "light");
		set(&t[1], 0, 9, "heavy");
		srvrec_order(t, 2, lcg_rand, &x);
		first_heavy += strcmp(t[0].host, "heavy") == 0;
		set(&t[0], 0, 10, "ten");
		set(&t[1], 0, 0, "zero");
		srvrec_order(t, 2, lcg_rand, &x);
		first_zero += strcmp(t[0].host, "zero") == 0;
	}
	CU_ASSERT(first_heavy > 7800 && first_heavy < 8600);
	CU_ASSERT(first_zero > 600 && first_zero < 1300);
	/* every record is kept */
	set(&t[0], 0, 1, "a");
	set(&t[1], 0, 2, "b");
	set(&t[2], 0, 3, "c");
	set(&t[3], 1, 0, "d");
	srvrec_order(t, 4, lcg_rand, &x);
	CU_ASSERT_STRING_EQUAL(t[3].host, "d");
	CU_ASSERT(strcmp(t[0].host, t[1].host) != 0 && strcmp(t[1].host, t[2].host) != 0 &&
	          strcmp(t[0].host, t[2].host) != 0);
	srvrec_order(t, 0, lcg_rand, &x);        /* empty: nothing happens */
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "query", test_query },
		{ "answer", test_answer },
		{ "outcomes", test_outcomes },
		{ "malformed", test_malformed },
		{ "order", test_order },
		CUTEST_END
	};

	return cutest_run("srvrec", cases);
}
