/* policy: first match, subjects, objects, guards, catalog-only, audit text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/cutest.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define FILE_NAME "test.conf"

/* ---- building policies the way the configuration parser does ---- */

static char *
xstrdup(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		abort();
	return d;
}

static void
add_cidr(struct addr_cidr **arr, size_t *n, const char *s)
{
	struct addr_cidr *a = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (a == NULL)
		abort();
	*arr = a;
	if (!addr_parse_cidr(s, &a[*n])) {
		fprintf(stderr, "bad test cidr %s\n", s);
		abort();
	}
	(*n)++;
}

/* One rule in a compact form. */
struct rule_spec {
	int         line;
	enum policy_action action;
	const char *user;       /* "*" = any authenticated user */
	const char *group;
	const char *cert;
	const char *source;     /* one CIDR, or NULL */
	enum policy_object_kind kind;
	const char *what;       /* CIDR list "a b c", host pattern or name */
	uint16_t    lo, hi;
};

static void
add_rule(struct policy *p, const struct rule_spec *s)
{
	struct policy_rule *r;
	char buf[256], *tok, *save = NULL;

	p->rules = realloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
	if (p->rules == NULL)
		abort();
	r = &p->rules[p->nrules++];
	memset(r, 0, sizeof(*r));
	r->action = s->action;
	r->file = xstrdup(FILE_NAME);
	r->line = s->line;
	if (s->user != NULL && strcmp(s->user, "*") == 0)
		r->subj.any_user = true;
	else
		r->subj.user = xstrdup(s->user);
	r->subj.group = xstrdup(s->group);
	r->subj.cert = xstrdup(s->cert);
	if (s->source != NULL)
		add_cidr(&r->subj.sources, &r->subj.nsources, s->source);
	r->obj.kind = s->kind;
	r->obj.port_lo = s->lo;
	r->obj.port_hi = s->hi;
	switch (s->kind) {
	case POBJ_ANY:
		break;
	case POBJ_CIDR:
		snprintf(buf, sizeof(buf), "%s", s->what);
		for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
			add_cidr(&r->obj.cidrs, &r->obj.ncidrs, tok);
		break;
	case POBJ_HOST:
		r->obj.pattern = xstrdup(s->what);
		break;
	case POBJ_SERVICE:
	case POBJ_ENDPOINT:
	case POBJ_PROFILE:
	case POBJ_TCPMUX:
		r->obj.name = xstrdup(s->what);
		break;
	}
}

static void
build(struct policy *p, const struct rule_spec *specs, size_t n)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < n; i++)
		add_rule(p, &specs[i]);
}

static void
add_group(struct policy *p, const char *name, const char *const *members)
{
	struct policy_group *g;

	p->groups = realloc(p->groups, (p->ngroups + 1) * sizeof(*p->groups));
	if (p->groups == NULL)
		abort();
	g = &p->groups[p->ngroups++];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup(name);
	for (; *members != NULL; members++) {
		g->members = realloc(g->members, (g->nmembers + 1) * sizeof(*g->members));
		if (g->members == NULL)
			abort();
		g->members[g->nmembers++] = xstrdup(*members);
	}
}

static void
add_self(struct policy *p, const char *addr, uint16_t port)
{
	p->self = realloc(p->self, (p->nself + 1) * sizeof(*p->self));
	if (p->self == NULL || !addr_parse(addr, &p->self[p->nself].addr))
		abort();
	p->self[p->nself++].port = port;
}

/* ---- requests ---- */

/* An address request: dest in any numeric spelling (as the connector reads
 * it), host the requested name or NULL. */
struct addr_case {
	const char *user, *cert, *src, *host, *dest;
	uint16_t    port;
	enum policy_action want;
	int         line;          /* deciding rule, 0: none */
	const char *reason;
};

static void
decide_addr(struct policy *p, const struct addr_case *c, struct policy_decision *d)
{
	struct addr src, dest;
	struct policy_request req;

	memset(&req, 0, sizeof(req));
	req.user = c->user;
	req.cert = c->cert;
	if (c->src != NULL) {
		CU_ASSERT_FATAL(addr_parse(c->src, &src));
		req.source = &src;
	}
	req.kind = PREQ_ADDRESS;
	req.host = c->host;
	if (c->dest != NULL) {
		CU_ASSERT_FATAL(addr_parse(c->dest, &dest) || addr_parse_loose(c->dest, &dest));
		req.dest = &dest;
	}
	req.port = c->port;
	policy_decide(p, &req, d);
}

static void
check_addr_cases(struct policy *p, const struct addr_case *t, size_t n)
{
	struct policy_decision d;
	size_t i;

	for (i = 0; i < n; i++) {
		decide_addr(p, &t[i], &d);
		int line = d.rule != NULL ? d.rule->line : 0;

		if (d.action != t[i].want || line != t[i].line ||
		    strcmp(d.reason, t[i].reason) != 0) {
			fprintf(stderr, "case %zu (user=%s host=%s dest=%s port=%u): got %s line %d "
			    "\"%s\", want %s line %d \"%s\"\n", i,
			    t[i].user ? t[i].user : "-", t[i].host ? t[i].host : "-",
			    t[i].dest ? t[i].dest : "-", t[i].port,
			    d.action == POLICY_PASS ? "pass" : "block", line, d.reason,
			    t[i].want == POLICY_PASS ? "pass" : "block", t[i].line, t[i].reason);
			CU_FAIL("decision");
		} else
			CU_PASS("decision");
	}
}

#define PASS  POLICY_PASS
#define BLOCK POLICY_BLOCK
#define R_RULE POLICY_REASON_RULE
#define R_NONE POLICY_REASON_NOMATCH

/* ---- tests ---- */

static void
test_subjects(void)
{
	static const char *const ops[] = { "bob", "dave", NULL };
	static const struct rule_spec rules[] = {
		{ 10, PASS, "alice", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.0/24", 603, 603 },
		{ 11, PASS, NULL, "ops", NULL, NULL, POBJ_CIDR, "198.51.100.0/24", 600, 610 },
		{ 12, PASS, NULL, NULL, "CN=robot", NULL, POBJ_CIDR, "203.0.113.5/32", 0, 0 },
		{ 13, PASS, NULL, NULL, NULL, "10.1.0.0/16", POBJ_CIDR, "2001:db8:1::/48", 22, 22 },
		{ 14, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.77/32", 0, 0 },
		{ 15, PASS, "erin", "ops", NULL, "2001:db8:9::/48", POBJ_CIDR, "203.0.113.0/24", 0, 0 },
	};
	static const struct addr_case t[] = {
		/* user: exact */
		{ "alice", NULL, "198.51.100.1", NULL, "192.0.2.10", 603, PASS, 10, R_RULE },
		{ "alice", NULL, "198.51.100.1", NULL, "192.0.2.10", 604, BLOCK, 0, R_NONE },
		{ "alice", NULL, "198.51.100.1", NULL, "192.0.3.10", 603, BLOCK, 0, R_NONE },
		{ "ALICE", NULL, "198.51.100.1", NULL, "192.0.2.10", 603, BLOCK, 0, R_NONE },
		{ "alicex", NULL, "198.51.100.1", NULL, "192.0.2.10", 603, BLOCK, 0, R_NONE },
		{ NULL, NULL, "198.51.100.1", NULL, "192.0.2.10", 603, BLOCK, 0, R_NONE },
		/* group membership, port range bounds */
		{ "bob", NULL, "192.0.2.1", NULL, "198.51.100.9", 600, PASS, 11, R_RULE },
		{ "dave", NULL, "192.0.2.1", NULL, "198.51.100.9", 610, PASS, 11, R_RULE },
		{ "bob", NULL, "192.0.2.1", NULL, "198.51.100.9", 611, BLOCK, 0, R_NONE },
		{ "bob", NULL, "192.0.2.1", NULL, "198.51.100.9", 599, BLOCK, 0, R_NONE },
		{ "carol", NULL, "192.0.2.1", NULL, "198.51.100.9", 605, BLOCK, 0, R_NONE },
		{ NULL, NULL, "192.0.2.1", NULL, "198.51.100.9", 605, BLOCK, 0, R_NONE },
		/* certificate identity, with or without a user */
		{ NULL, "CN=robot", "192.0.2.1", NULL, "203.0.113.5", 1, PASS, 12, R_RULE },
		{ NULL, "CN=robot2", "192.0.2.1", NULL, "203.0.113.5", 1, BLOCK, 0, R_NONE },
		{ NULL, "cn=robot", "192.0.2.1", NULL, "203.0.113.5", 1, BLOCK, 0, R_NONE },
		{ NULL, NULL, "192.0.2.1", NULL, "203.0.113.5", 1, BLOCK, 0, R_NONE },
		/* source CIDR, IPv4 source to IPv6 destination; mapped source */
		{ NULL, NULL, "10.1.2.3", NULL, "2001:db8:1::5", 22, PASS, 13, R_RULE },
		{ NULL, NULL, "::ffff:10.1.2.3", NULL, "2001:db8:1:ffff::5", 22, PASS, 13, R_RULE },
		{ NULL, NULL, "10.2.0.1", NULL, "2001:db8:1::5", 22, BLOCK, 0, R_NONE },
		{ NULL, NULL, "10.1.2.3", NULL, "2001:db8:2::5", 22, BLOCK, 0, R_NONE },
		{ NULL, NULL, NULL, NULL, "2001:db8:1::5", 22, BLOCK, 0, R_NONE },
		/* any authenticated user */
		{ "zed", NULL, "192.0.2.1", NULL, "192.0.2.77", 9, PASS, 14, R_RULE },
		{ NULL, NULL, "192.0.2.1", NULL, "192.0.2.77", 9, BLOCK, 0, R_NONE },
		/* every subject field must hold */
		{ "erin", NULL, "2001:db8:9::1", NULL, "203.0.113.9", 9, BLOCK, 0, R_NONE },
	};
	static const struct addr_case t2[] = {
		{ "erin", NULL, "2001:db8:9::1", NULL, "203.0.113.9", 9, PASS, 15, R_RULE },
		{ "erin", NULL, "2001:db8:8::1", NULL, "203.0.113.9", 9, BLOCK, 0, R_NONE },
		{ "dave", NULL, "2001:db8:9::1", NULL, "203.0.113.9", 9, BLOCK, 0, R_NONE },
	};
	static const char *const ops2[] = { "bob", "dave", "erin", NULL };
	struct policy p;

	build(&p, rules, N(rules));
	add_group(&p, "ops", ops);
	add_group(&p, "ops-erin", ops2);
	check_addr_cases(&p, t, N(t));
	CU_ASSERT_EQUAL(p.rules[0].hits, 1);
	CU_ASSERT_EQUAL(p.rules[1].hits, 2);
	CU_ASSERT_EQUAL(p.rules[4].hits, 1);
	CU_ASSERT_EQUAL(p.rules[5].hits, 0);
	free(p.rules[5].subj.group);
	p.rules[5].subj.group = xstrdup("ops-erin");
	check_addr_cases(&p, t2, N(t2));
	CU_ASSERT_EQUAL(p.rules[5].hits, 1);
	policy_free(&p);
}

static void
test_groups(void)
{
	static const char *const ops[] = { "bob", "dave", NULL };
	static const char *const none[] = { NULL };
	struct policy p;

	memset(&p, 0, sizeof(p));
	add_group(&p, "ops", ops);
	add_group(&p, "empty", none);
	CU_ASSERT(policy_user_in_group(&p, "bob", "ops"));
	CU_ASSERT(policy_user_in_group(&p, "dave", "ops"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, "Bob", "ops"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, "carol", "ops"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, "bob", "OPS"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, "bob", "empty"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, "bob", "nosuch"));
	CU_ASSERT_FALSE(policy_user_in_group(&p, NULL, "ops"));
	policy_free(&p);
	CU_ASSERT_PTR_NULL(p.groups);
	CU_ASSERT_EQUAL(p.ngroups, 0);
	policy_free(&p);         /* twice: already empty */
	policy_free(NULL);
}

static void
test_first_match(void)
{
	static const struct rule_spec rules[] = {
		{ 20, BLOCK, "mallory", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		{ 21, BLOCK, "*", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.66/32", 0, 0 },
		{ 22, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.0/24 2001:db8::/32", 0, 0 },
		{ 23, PASS, "mallory", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
	};
	static const struct addr_case t[] = {
		{ "mallory", NULL, "198.51.100.1", NULL, "192.0.2.1", 80, BLOCK, 20, R_RULE },
		{ "eve", NULL, "198.51.100.1", NULL, "192.0.2.1", 80, PASS, 22, R_RULE },
		{ "eve", NULL, "198.51.100.1", NULL, "2001:db8::80", 80, PASS, 22, R_RULE },
		{ "eve", NULL, "198.51.100.1", NULL, "192.0.2.66", 80, BLOCK, 21, R_RULE },
		{ "eve", NULL, "198.51.100.1", NULL, "::ffff:192.0.2.66", 80, BLOCK, 21, R_RULE },
		{ "eve", NULL, "198.51.100.1", NULL, "192.0.3.1", 80, BLOCK, 0, R_NONE },
	};
	struct policy p;

	build(&p, rules, N(rules));
	check_addr_cases(&p, t, N(t));
	CU_ASSERT_EQUAL(p.rules[0].hits, 1);
	CU_ASSERT_EQUAL(p.rules[1].hits, 2);
	CU_ASSERT_EQUAL(p.rules[2].hits, 2);
	CU_ASSERT_EQUAL(p.rules[3].hits, 0);
	policy_free(&p);
}

static void
test_implicit_block(void)
{
	static const struct addr_case t[] = {
		{ "alice", NULL, "192.0.2.1", "www.example.net", "192.0.2.10", 603, BLOCK, 0, R_NONE },
		{ NULL, NULL, NULL, NULL, "2001:db8::1", 1, BLOCK, 0, R_NONE },
		/* nothing resolved: nothing to allow */
		{ "alice", NULL, "192.0.2.1", "www.example.net", NULL, 603, BLOCK, 0,
		  POLICY_REASON_NODEST },
	};
	static const struct rule_spec any[] = {
		{ 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
	};
	struct policy p;
	struct policy_request req;
	struct policy_decision d;

	memset(&p, 0, sizeof(p));
	check_addr_cases(&p, t, N(t));
	/* a service request on an empty policy */
	memset(&req, 0, sizeof(req));
	req.kind = PREQ_SERVICE;
	req.via = POBJ_ENDPOINT;
	req.service = "mail";
	policy_decide(&p, &req, &d);
	CU_ASSERT_EQUAL(d.action, POLICY_BLOCK);
	CU_ASSERT_PTR_NULL(d.rule);
	CU_ASSERT_STRING_EQUAL(d.reason, POLICY_REASON_NOMATCH);
	/* even "pass to any" needs a resolved address */
	build(&p, any, N(any));
	check_addr_cases(&p, &t[2], 1);
	policy_free(&p);
}

static void
test_host_match(void)
{
	static const struct {
		const char *pattern, *host;
		bool        match;
	} t[] = {
		{ "*.example.net", "a.example.net", true },
		{ "*.example.net", "A.B.EXAMPLE.NET", true },
		{ "*.EXAMPLE.net", "a.example.NET", true },
		{ "*.example.net", "example.net", false },
		{ "*.example.net", "evil-example.net", false },
		{ "*.example.net", "a.example.net.evil", false },
		{ "*.example.net", "a.example.net.", true },
		{ "*.example.net.", "a.example.net", true },
		{ "www.example.net", "www.example.net", true },
		{ "www.example.net", "www.example.ne", false },
		{ "www.example.net", "www.example.nett", false },
		{ "mgr?.corp", "mgr1.corp", true },
		{ "mgr?.corp", "MGRX.corp", true },
		{ "mgr?.corp", "mgr12.corp", false },
		{ "mgr?.corp", "mgr.corp", false },
		{ "*", "anything.at.all", true },
		{ "a*b*c", "axxbyyc", true },
		{ "a*b*c", "abc", true },
		{ "a*b*c", "axxbyy", false },
		{ "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
		{ "", "x", false },
		{ "x", "", false },
		{ "*", "", false },
		{ NULL, "x", false },
		{ "x", NULL, false },
	};
	size_t i;

	for (i = 0; i < N(t); i++) {
		if (policy_host_match(t[i].pattern, t[i].host) != t[i].match) {
			fprintf(stderr, "policy_host_match(%s, %s): want %d\n",
			    t[i].pattern ? t[i].pattern : "NULL", t[i].host ? t[i].host : "NULL",
			    t[i].match);
			CU_FAIL("host match");
		} else
			CU_PASS("host match");
	}
}

/* Host rules match the name, and the address it resolved to must pass the
 * guards: the DNS-rebinding case is the same name, a second answer. */
static void
test_host_rules(void)
{
	static const struct rule_spec rules[] = {
		{ 30, PASS, "alice", NULL, NULL, NULL, POBJ_HOST, "*.example.net", 603, 603 },
		{ 31, BLOCK, "*", NULL, NULL, NULL, POBJ_HOST, "secret.corp", 0, 0 },
		{ 32, PASS, "*", NULL, NULL, NULL, POBJ_HOST, "*", 0, 0 },
	};
	static const struct addr_case t[] = {
		{ "alice", NULL, "198.51.100.1", "www.example.net", "192.0.2.10", 603, PASS, 30, R_RULE },
		/* rebinding: the same name now answers loopback */
		{ "alice", NULL, "198.51.100.1", "www.example.net", "127.0.0.1", 603, BLOCK, 0,
		  "loopback" },
		{ "alice", NULL, "198.51.100.1", "www.example.net", "::1", 603, BLOCK, 0, "loopback" },
		{ "alice", NULL, "198.51.100.1", "www.example.net", "169.254.169.254", 603, BLOCK, 0,
		  "link-local" },
		{ "alice", NULL, "198.51.100.1", "www.example.net", "::ffff:127.0.0.1", 603, BLOCK, 0,
		  "loopback" },
		/* the block on a name holds whatever its case or trailing dot */
		{ "alice", NULL, "198.51.100.1", "SECRET.corp.", "192.0.2.20", 80, BLOCK, 31, R_RULE },
		{ "alice", NULL, "198.51.100.1", "other.corp", "192.0.2.20", 80, PASS, 32, R_RULE },
		/* a request by address is no host name */
		{ "alice", NULL, "198.51.100.1", NULL, "192.0.2.10", 603, BLOCK, 0, R_NONE },
		/* numbers in any spelling are for CIDR rules, never host patterns */
		{ "alice", NULL, "198.51.100.1", "2130706433", "127.0.0.1", 80, BLOCK, 0, R_NONE },
		{ "alice", NULL, "198.51.100.1", "192.0.2.20", "192.0.2.20", 80, BLOCK, 0, R_NONE },
		{ "alice", NULL, "198.51.100.1", "0xc0.0.2.20", "192.0.2.20", 80, BLOCK, 0, R_NONE },
		/* unauthenticated */
		{ NULL, NULL, "198.51.100.1", "www.example.net", "192.0.2.10", 603, BLOCK, 0, R_NONE },
	};
	struct policy p;
	struct policy_decision d;

	build(&p, rules, N(rules));
	check_addr_cases(&p, t, N(t));
	/* the guard decided, not the rule, which is still reported as matched */
	decide_addr(&p, &t[1], &d);
	CU_ASSERT_PTR_EQUAL(d.matched, &p.rules[0]);
	CU_ASSERT_PTR_NULL(d.rule);
	CU_ASSERT_EQUAL(p.rules[0].hits, 1);
	policy_free(&p);
}

/* Every numeric form of every guarded class is refused by "pass to any" and
 * by "pass to 0.0.0.0/0 ::/0". */
static void
test_guards(void)
{
	static const struct {
		const char *dest, *reason;
	} t[] = {
		{ "127.0.0.1", "loopback" },
		{ "127.1", "loopback" },
		{ "127.0.1", "loopback" },
		{ "2130706433", "loopback" },
		{ "0x7f000001", "loopback" },
		{ "017700000001", "loopback" },
		{ "0x7f.1", "loopback" },
		{ "0177.0.0.1", "loopback" },
		{ "127.254.3.4", "loopback" },
		{ "::ffff:127.0.0.1", "loopback" },
		{ "::ffff:7f00:1", "loopback" },
		{ "::1", "loopback" },
		{ "::127.0.0.1", "loopback" },
		{ "64:ff9b::127.0.0.1", "loopback" },
		{ "0.0.0.0", "unspecified" },
		{ "0", "unspecified" },
		{ "0.1.2.3", "unspecified" },
		{ "::", "unspecified" },
		{ "::ffff:0.0.0.0", "unspecified" },
		{ "169.254.169.254", "link-local" },
		{ "169.254.0.1", "link-local" },
		{ "2852039166", "link-local" },
		{ "::ffff:169.254.169.254", "link-local" },
		{ "64:ff9b::a9fe:a9fe", "link-local" },
		{ "fe80::1", "link-local" },
		{ "febf::1", "link-local" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.250", "multicast" },
		{ "ff02::1", "multicast" },
		{ "ff05::1:3", "multicast" },
		{ "255.255.255.255", "broadcast" },
		{ "4294967295", "broadcast" },
		{ "240.0.0.1", "broadcast" },
	};
	static const struct rule_spec any[] = {
		{ 40, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
	};
	static const struct rule_spec all[] = {
		{ 41, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "0.0.0.0/0 ::/0", 0, 0 },
	};
	static const struct rule_spec hosts[] = {
		{ 42, PASS, "*", NULL, NULL, NULL, POBJ_HOST, "*", 0, 0 },
	};
	const struct rule_spec *sets[] = { any, all, hosts };
	struct policy p;
	struct addr_case c;
	size_t i, j;

	for (j = 0; j < N(sets); j++) {
		build(&p, sets[j], 1);
		for (i = 0; i < N(t); i++) {
			memset(&c, 0, sizeof(c));
			c.user = "alice";
			c.src = "198.51.100.1";
			c.host = j == 2 ? "rebound.example.net" : NULL;
			c.dest = t[i].dest;
			c.port = 80;
			c.want = BLOCK;
			c.reason = t[i].reason;
			check_addr_cases(&p, &c, 1);
		}
		/* ordinary addresses pass the very same rule */
		memset(&c, 0, sizeof(c));
		c.user = "alice";
		c.host = j == 2 ? "www.example.net" : NULL;
		c.dest = "192.0.2.1";
		c.port = 80;
		c.want = PASS;
		c.line = sets[j][0].line;
		c.reason = R_RULE;
		check_addr_cases(&p, &c, 1);
		c.dest = "2001:db8::1";
		check_addr_cases(&p, &c, 1);
		CU_ASSERT_EQUAL(p.rules[0].hits, 2);
		policy_free(&p);
	}
}

/* A CIDR inside the guarded class's block unlocks it; wider ones do not. */
static void
test_guard_unlock(void)
{
	static const struct rule_spec rules[] = {
		{ 50, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "127.0.0.0/8", 22, 22 },
		{ 51, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "169.254.169.254/32", 80, 80 },
		{ 52, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "::1/128", 0, 0 },
		{ 53, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.0/24 127.0.0.1/32", 8080, 8080 },
		{ 54, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "96.0.0.0/3", 9, 9 },
		{ 55, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "224.0.0.0/4 fe80::/10", 7, 7 },
		{ 56, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "0.0.0.0/0 ::/0", 0, 0 },
	};
	static const struct addr_case t[] = {
		{ "u", NULL, NULL, NULL, "127.0.0.1", 22, PASS, 50, R_RULE },
		{ "u", NULL, NULL, NULL, "127.1", 22, PASS, 50, R_RULE },
		{ "u", NULL, NULL, NULL, "2130706433", 22, PASS, 50, R_RULE },
		{ "u", NULL, NULL, NULL, "::ffff:127.0.0.9", 22, PASS, 50, R_RULE },
		{ "u", NULL, NULL, NULL, "127.0.0.1", 23, BLOCK, 0, "loopback" },
		{ "u", NULL, NULL, NULL, "169.254.169.254", 80, PASS, 51, R_RULE },
		{ "u", NULL, NULL, NULL, "169.254.169.253", 80, BLOCK, 0, "link-local" },
		{ "u", NULL, NULL, NULL, "::1", 5, PASS, 52, R_RULE },
		{ "u", NULL, NULL, NULL, "::", 5, BLOCK, 0, "unspecified" },
		{ "u", NULL, NULL, NULL, "0.0.0.0", 22, BLOCK, 0, "unspecified" },
		/* the /32 inside a list unlocks only itself */
		{ "u", NULL, NULL, NULL, "127.0.0.1", 8080, PASS, 53, R_RULE },
		{ "u", NULL, NULL, NULL, "127.0.0.2", 8080, BLOCK, 0, "loopback" },
		{ "u", NULL, NULL, NULL, "192.0.2.5", 8080, PASS, 53, R_RULE },
		/* 96/3 holds 127/8 but does not name it */
		{ "u", NULL, NULL, NULL, "127.0.0.1", 9, BLOCK, 0, "loopback" },
		{ "u", NULL, NULL, NULL, "100.64.0.1", 9, PASS, 54, R_RULE },
		{ "u", NULL, NULL, NULL, "239.1.1.1", 7, PASS, 55, R_RULE },
		{ "u", NULL, NULL, NULL, "fe80::1", 7, PASS, 55, R_RULE },
		{ "u", NULL, NULL, NULL, "ff02::1", 7, BLOCK, 0, "multicast" },
		{ "u", NULL, NULL, NULL, "255.255.255.255", 7, BLOCK, 0, "broadcast" },
		/* a block rule needs no unlocking */
		{ "u", NULL, NULL, NULL, "192.0.2.1", 1, PASS, 56, R_RULE },
	};
	static const struct rule_spec blocks[] = {
		{ 57, BLOCK, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
	};
	static const struct addr_case tb[] = {
		{ "u", NULL, NULL, NULL, "127.0.0.1", 1, BLOCK, 57, R_RULE },
	};
	struct policy p;

	build(&p, rules, N(rules));
	check_addr_cases(&p, t, N(t));
	policy_free(&p);
	build(&p, blocks, N(blocks));
	check_addr_cases(&p, tb, N(tb));
	policy_free(&p);
}

static void
test_self_guard(void)
{
	static const struct rule_spec rules[] = {
		{ 60, PASS, "x", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.10/32", 604, 604 },
		{ 61, PASS, "y", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.0/24", 604, 604 },
		{ 62, PASS, "y", NULL, NULL, NULL, POBJ_CIDR, "192.0.2.10/32", 0, 0 },
		{ 63, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "127.0.0.0/8 ::1/128", 0, 0 },
		{ 64, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
	};
	static const struct addr_case t[] = {
		{ "z", NULL, NULL, NULL, "192.0.2.10", 604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "::ffff:192.0.2.10", 604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "192.0.2.10", 605, PASS, 64, R_RULE },
		{ "z", NULL, NULL, NULL, "192.0.2.11", 604, PASS, 64, R_RULE },
		/* 0.0.0.0:1604 and [::]:2604 are reached through any local address */
		{ "z", NULL, NULL, NULL, "127.0.0.1", 1604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "127.0.0.5", 1604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "127.0.0.1", 1605, PASS, 63, R_RULE },
		{ "z", NULL, NULL, NULL, "::1", 2604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "127.0.0.1", 2604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "2001:db8::1", 2604, PASS, 64, R_RULE },
		/* the rule names the address and the port */
		{ "x", NULL, NULL, NULL, "192.0.2.10", 604, PASS, 60, R_RULE },
		/* a wider block or any port does not name it */
		{ "y", NULL, NULL, NULL, "192.0.2.10", 604, BLOCK, 0, POLICY_REASON_SELF },
	};
	static const struct rule_spec unlock[] = {
		{ 65, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "127.0.0.1/32", 1604, 1604 },
		{ 66, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "127.0.0.0/8", 1604, 1604 },
		{ 67, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "0.0.0.0/8", 0, 0 },
	};
	static const struct addr_case tu[] = {
		{ "z", NULL, NULL, NULL, "127.0.0.1", 1604, PASS, 65, R_RULE },
		{ "z", NULL, NULL, NULL, "127.0.0.2", 1604, BLOCK, 0, POLICY_REASON_SELF },
		/* an unspecified destination reaches every listener on the port */
		{ "z", NULL, NULL, NULL, "0.0.0.0", 604, BLOCK, 0, POLICY_REASON_SELF },
		{ "z", NULL, NULL, NULL, "0.0.0.0", 605, PASS, 67, R_RULE },
	};
	struct policy p;

	build(&p, rules, N(rules));
	add_self(&p, "192.0.2.10", 604);
	add_self(&p, "0.0.0.0", 1604);
	add_self(&p, "::", 2604);
	check_addr_cases(&p, t, N(t));
	policy_free(&p);
	CU_ASSERT_PTR_NULL(p.self);

	build(&p, unlock, N(unlock));
	add_self(&p, "192.0.2.10", 604);
	add_self(&p, "0.0.0.0", 1604);
	check_addr_cases(&p, tu, N(tu));
	policy_free(&p);
}

/* Service requests: by catalog name however reached, or by the way. */
struct svc_case {
	const char *user;
	enum policy_object_kind via;
	const char *service;
	enum policy_action want;
	int         line;
};

static void
test_services(void)
{
	static const struct rule_spec rules[] = {
		{ 70, PASS, "alice", NULL, NULL, NULL, POBJ_SERVICE, "Mail", 0, 0 },
		{ 71, PASS, "bob", NULL, NULL, NULL, POBJ_ENDPOINT, "mail", 0, 0 },
		{ 72, PASS, "bob", NULL, NULL, NULL, POBJ_TCPMUX, "*", 0, 0 },
		{ 73, PASS, "carol", NULL, NULL, NULL, POBJ_PROFILE, "http://example.net/p", 0, 0 },
		{ 74, PASS, "dave", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		{ 75, PASS, "erin", NULL, NULL, NULL, POBJ_ANY, NULL, 22, 22 },
		{ 76, BLOCK, "*", NULL, NULL, NULL, POBJ_SERVICE, "*", 0, 0 },
	};
	static const struct svc_case t[] = {
		{ "alice", POBJ_ENDPOINT, "MAIL", PASS, 70 },
		{ "alice", POBJ_TCPMUX, "mail", PASS, 70 },
		{ "alice", POBJ_PROFILE, "mail", PASS, 70 },
		{ "alice", POBJ_ENDPOINT, "news", BLOCK, 76 },
		{ "bob", POBJ_ENDPOINT, "mail", PASS, 71 },
		{ "bob", POBJ_PROFILE, "mail", BLOCK, 76 },
		{ "bob", POBJ_TCPMUX, "anything", PASS, 72 },
		{ "bob", POBJ_ENDPOINT, "anything", BLOCK, 76 },
		{ "carol", POBJ_PROFILE, "HTTP://EXAMPLE.NET/P", PASS, 73 },
		{ "carol", POBJ_ENDPOINT, "http://example.net/p", BLOCK, 76 },
		{ "dave", POBJ_TCPMUX, "x", PASS, 74 },
		{ "erin", POBJ_TCPMUX, "x", BLOCK, 76 },
		{ NULL, POBJ_TCPMUX, "mail", BLOCK, 0 },
	};
	static const struct addr_case ta[] = {
		/* service rules never match addresses */
		{ "alice", NULL, NULL, "mail", "192.0.2.1", 25, BLOCK, 0, R_NONE },
		{ "bob", NULL, NULL, NULL, "192.0.2.1", 25, BLOCK, 0, R_NONE },
		{ "erin", NULL, NULL, NULL, "192.0.2.1", 22, PASS, 75, R_RULE },
		{ "erin", NULL, NULL, NULL, "192.0.2.1", 23, BLOCK, 0, R_NONE },
	};
	struct policy p;
	struct policy_request req;
	struct policy_decision d;
	size_t i;

	build(&p, rules, N(rules));
	for (i = 0; i < N(t); i++) {
		memset(&req, 0, sizeof(req));
		req.user = t[i].user;
		req.kind = PREQ_SERVICE;
		req.via = t[i].via;
		req.service = t[i].service;
		policy_decide(&p, &req, &d);
		int line = d.rule != NULL ? d.rule->line : 0;

		if (d.action != t[i].want || line != t[i].line) {
			fprintf(stderr, "service case %zu: got line %d, want %d\n", i, line, t[i].line);
			CU_FAIL("service decision");
		} else
			CU_PASS("service decision");
	}
	check_addr_cases(&p, ta, N(ta));
	policy_free(&p);
}

static void
test_catalog_only(void)
{
	static const struct rule_spec rules[] = {
		{ 80, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		{ 81, PASS, "*", NULL, NULL, NULL, POBJ_CIDR, "0.0.0.0/0", 0, 0 },
	};
	static const struct addr_case t[] = {
		{ "alice", NULL, NULL, "www.example.net", "192.0.2.1", 80, BLOCK, 0,
		  POLICY_REASON_CATALOG },
		{ "alice", NULL, NULL, NULL, "192.0.2.1", 80, BLOCK, 0, POLICY_REASON_CATALOG },
		{ "alice", NULL, NULL, NULL, "2001:db8::1", 80, BLOCK, 0, POLICY_REASON_CATALOG },
		{ "alice", NULL, NULL, NULL, NULL, 80, BLOCK, 0, POLICY_REASON_CATALOG },
	};
	struct policy p;
	struct policy_request req;
	struct policy_decision d;

	build(&p, rules, N(rules));
	p.catalog_only = true;
	check_addr_cases(&p, t, N(t));
	CU_ASSERT_EQUAL(p.rules[0].hits, 0);
	memset(&req, 0, sizeof(req));
	req.user = "alice";
	req.kind = PREQ_SERVICE;
	req.via = POBJ_ENDPOINT;
	req.service = "mail";
	policy_decide(&p, &req, &d);
	CU_ASSERT_EQUAL(d.action, POLICY_PASS);
	CU_ASSERT_PTR_EQUAL(d.rule, &p.rules[0]);
	/* the same policy without the mode routes by address */
	p.catalog_only = false;
	decide_addr(&p, &t[1], &d);
	CU_ASSERT_EQUAL(d.action, POLICY_PASS);
	policy_free(&p);
}

static void
test_audit(void)
{
	static const struct rule_spec rules[] = {
		{ 30, PASS, "*", NULL, NULL, NULL, POBJ_HOST, "*.example.net", 0, 0 },
		{ 31, PASS, "*", NULL, NULL, NULL, POBJ_ENDPOINT, "*", 0, 0 },
	};
	struct policy p;
	struct policy_request req;
	struct policy_decision d;
	struct addr src, dest;
	char buf[512], small[16];
	size_t n;

	build(&p, rules, N(rules));
	CU_ASSERT_FATAL(addr_parse("198.51.100.7", &src));
	CU_ASSERT_FATAL(addr_parse("192.0.2.10", &dest));
	memset(&req, 0, sizeof(req));
	req.user = "alice";
	req.source = &src;
	req.kind = PREQ_ADDRESS;
	req.host = "www.example.net";
	req.dest = &dest;
	req.port = 603;
	policy_decide(&p, &req, &d);
	n = policy_audit_format(&req, &d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "user=alice src=198.51.100.7 req=www.example.net:603 "
	    "dest=192.0.2.10:603 rule=test.conf:30 decision=pass reason=rule");
	CU_ASSERT_EQUAL(n, strlen(buf));

	/* guard: no deciding rule, the matched one is named */
	CU_ASSERT_FATAL(addr_parse("::1", &dest));
	policy_decide(&p, &req, &d);
	policy_audit_format(&req, &d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "user=alice src=198.51.100.7 req=www.example.net:603 "
	    "dest=[::1]:603 rule=- decision=block reason=loopback matched=test.conf:30");

	/* names from the network cannot forge fields or lines */
	req.user = "eve decision=pass\n\"x\\";
	req.cert = "CN=a b";
	req.host = NULL;
	CU_ASSERT_FATAL(addr_parse("2001:db8::5", &dest));
	policy_decide(&p, &req, &d);
	policy_audit_format(&req, &d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "user=\"eve decision=pass\\x0a\\\"x\\\\\" src=198.51.100.7 "
	    "cert=\"CN=a b\" req=[2001:db8::5]:603 dest=[2001:db8::5]:603 rule=- "
	    "decision=block reason=\"no rule matched\"");
	CU_ASSERT_PTR_NULL(strchr(buf, '\n'));

	/* service request, unauthenticated, odd bytes in the name */
	memset(&req, 0, sizeof(req));
	req.kind = PREQ_SERVICE;
	req.via = POBJ_TCPMUX;
	req.service = "m\xc3\xa9l";
	policy_decide(&p, &req, &d);
	policy_audit_format(&req, &d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "user=- src=- req=\"tcpmux:m\\xc3\\xa9l\" dest=- rule=- "
	    "decision=block reason=\"no rule matched\"");
	req.user = "";
	req.via = POBJ_ENDPOINT;
	req.service = "mail";
	policy_decide(&p, &req, &d);
	policy_audit_format(&req, &d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "user=\"\" src=- req=endpoint:mail dest=- "
	    "rule=test.conf:31 decision=pass reason=rule");

	/* truncation: terminated, and the needed length is returned */
	n = policy_audit_format(&req, &d, small, sizeof(small));
	CU_ASSERT_EQUAL(n, strlen(buf));
	CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
	CU_ASSERT_EQUAL(strncmp(small, buf, sizeof(small) - 1), 0);
	CU_ASSERT_EQUAL(policy_audit_format(&req, &d, NULL, 0), strlen(buf));
	policy_free(&p);
}


/* policy_rule_covers / policy_shadowed_by: which rules can never decide.
 * Each pair is (earlier rule, later rule, does the earlier cover it). */
static void
test_shadowing(void)
{
	static const struct {
		struct rule_spec a, b;
		bool covers;
	} t[] = {
		/* subjects */
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, "alice", NULL, NULL, "10.0.0.0/8", POBJ_ANY, NULL, 0, 0 }, true },
		{ { 1, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, "alice", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 }, true },
		{ { 1, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, "g", NULL, NULL, POBJ_ANY, NULL, 0, 0 }, true },
		{ { 1, PASS, "*", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, "10.0.0.0/8", POBJ_ANY, NULL, 0, 0 }, false },
		{ { 1, PASS, "alice", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, "bob", NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, "CN=a", NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, "10.0.0.0/8", POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, "10.1.0.0/16", POBJ_ANY, NULL, 0, 0 }, true },
		{ { 1, PASS, NULL, NULL, NULL, "10.1.0.0/16", POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, "10.0.0.0/8", POBJ_ANY, NULL, 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, "10.0.0.0/8", POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, "2001:db8::/32", POBJ_ANY, NULL, 0, 0 }, false },
		/* objects and ports */
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_TCPMUX, "x", 0, 0 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 600, 610 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_TCPMUX, "x", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 600, 610 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8", 603, 603 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 600, 610 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ANY, NULL, 600, 610 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8", 605, 611 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8 192.0.2.0/24", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "192.0.2.7 10.9.0.0/16", 22, 22 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8 11.0.0.0/8", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_CIDR, "10.0.0.0/8", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*.corp", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*", 603, 603 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*.corp", 603, 603 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*.corp", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*.CORP", 603, 603 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "*.corp", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_HOST, "a.corp", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_SERVICE, "m", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_ENDPOINT, "M", 0, 0 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_SERVICE, "*", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_TCPMUX, "*", 0, 0 }, true },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_SERVICE, "m", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_SERVICE, "*", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ENDPOINT, "m", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_SERVICE, "m", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_ENDPOINT, "m", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_PROFILE, "m", 0, 0 }, false },
		{ { 1, PASS, NULL, NULL, NULL, NULL, POBJ_TCPMUX, "*", 0, 0 },
		  { 2, PASS, NULL, NULL, NULL, NULL, POBJ_TCPMUX, "x", 0, 0 }, true },
	};
	struct policy p;
	size_t i;
	bool got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		build(&p, &t[i].a, 1);
		add_rule(&p, &t[i].b);
		got = policy_rule_covers(&p.rules[0], &p.rules[1]);
		if (got != t[i].covers)
			fprintf(stderr, "shadowing case %zu: got %d\n", i, (int)got);
		CU_ASSERT_EQUAL(got, t[i].covers);
		CU_ASSERT_EQUAL(policy_shadowed_by(&p, 1) == &p.rules[0], t[i].covers);
		CU_ASSERT_PTR_NULL(policy_shadowed_by(&p, 0));
		policy_free(&p);
	}
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "subjects", test_subjects },
		{ "groups", test_groups },
		{ "first match", test_first_match },
		{ "implicit block", test_implicit_block },
		{ "host match", test_host_match },
		{ "host rules and rebinding", test_host_rules },
		{ "guards, every spelling", test_guards },
		{ "guard unlock", test_guard_unlock },
		{ "self guard", test_self_guard },
		{ "services", test_services },
		{ "catalog only", test_catalog_only },
		{ "audit line", test_audit },
		{ "shadowed rules", test_shadowing },
		CUTEST_END
	};

	return cutest_run("policy", cases);
}
