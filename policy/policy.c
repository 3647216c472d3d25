/* policy: deny-by-default decisions on who may reach what (see policy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"

bool
policy_user_in_group(const struct policy *p, const char *user, const char *group)
{
	size_t i, j;

	if (p == NULL || user == NULL || group == NULL)
		return false;
	for (i = 0; i < p->ngroups; i++) {
		const struct policy_group *g = &p->groups[i];

		if (g->name == NULL || strcmp(g->name, group) != 0)
			continue;
		for (j = 0; j < g->nmembers; j++)
			if (g->members[j] != NULL && strcmp(g->members[j], user) == 0)
				return true;
	}
	return false;
}

static char
policy_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Length without one trailing dot: "a.example." names "a.example". */
static size_t
policy_name_len(const char *s)
{
	size_t n = strlen(s);

	return (n > 1 && s[n - 1] == '.') ? n - 1 : n;
}

bool
policy_host_match(const char *pattern, const char *host)
{
	size_t pn, hn, pi = 0, hi = 0, star_p = 0, star_h = 0;
	bool star = false;

	if (pattern == NULL || host == NULL || *host == '\0')
		return false;
	pn = policy_name_len(pattern);
	hn = policy_name_len(host);
	/* Iterative glob with one backtrack point: '*' any run (also of
	 * dots), '?' one character; linear in practice, O(pn * hn) at worst. */
	while (hi < hn) {
		if (pi < pn && pattern[pi] == '*') {
			star = true;
			star_p = ++pi;
			star_h = hi;
		} else if (pi < pn && (pattern[pi] == '?' ||
		    policy_lower(pattern[pi]) == policy_lower(host[hi]))) {
			pi++;
			hi++;
		} else if (star) {
			pi = star_p;
			hi = ++star_h;
		} else
			return false;
	}
	while (pi < pn && pattern[pi] == '*')
		pi++;
	return pi == pn;
}

static bool
policy_subject_match(const struct policy *p, const struct policy_subject *s,
                     const struct policy_request *req)
{
	size_t i;

	if (s->any_user && req->user == NULL)
		return false;
	if (s->user != NULL && (req->user == NULL || strcmp(s->user, req->user) != 0))
		return false;
	if (s->group != NULL && !policy_user_in_group(p, req->user, s->group))
		return false;
	if (s->cert != NULL && (req->cert == NULL || strcmp(s->cert, req->cert) != 0))
		return false;
	if (s->nsources > 0) {
		if (req->source == NULL)
			return false;
		for (i = 0; i < s->nsources; i++)
			if (addr_in_cidr(req->source, &s->sources[i]))
				break;
		if (i == s->nsources)
			return false;
	}
	return true;
}

static bool
policy_port_any(const struct policy_object *o)
{
	return o->port_lo == 0 && o->port_hi == 0;
}

static bool
policy_port_match(const struct policy_object *o, uint16_t port)
{
	uint16_t hi = o->port_hi < o->port_lo ? o->port_lo : o->port_hi;

	return policy_port_any(o) || (port >= o->port_lo && port <= hi);
}

static bool
policy_name_match(const char *name, const char *want)
{
	if (name == NULL || want == NULL)
		return false;
	return strcmp(name, "*") == 0 || strcasecmp(name, want) == 0;
}

static bool
policy_object_match(const struct policy_object *o, const struct policy_request *req)
{
	struct addr num;
	size_t i;

	switch (req->kind) {
	case PREQ_ADDRESS:
		if (req->dest == NULL || !policy_port_match(o, req->port))
			return false;
		switch (o->kind) {
		case POBJ_ANY:
			return true;
		case POBJ_CIDR:
			for (i = 0; i < o->ncidrs; i++)
				if (addr_in_cidr(req->dest, &o->cidrs[i]))
					return true;
			return false;
		case POBJ_HOST:
			/* Names only: an address in any spelling is for CIDR rules. */
			if (req->host == NULL || addr_parse_loose(req->host, &num))
				return false;
			return policy_host_match(o->pattern, req->host);
		case POBJ_SERVICE:
		case POBJ_ENDPOINT:
		case POBJ_PROFILE:
		case POBJ_TCPMUX:
			return false;
		}
		return false;
	case PREQ_SERVICE:
		switch (o->kind) {
		case POBJ_ANY:
			return policy_port_any(o);
		case POBJ_CIDR:
		case POBJ_HOST:
			return false;
		case POBJ_SERVICE:
			return policy_name_match(o->name, req->service);
		case POBJ_ENDPOINT:
		case POBJ_PROFILE:
		case POBJ_TCPMUX:
			return req->via == o->kind && policy_name_match(o->name, req->service);
		}
		return false;
	}
	return false;
}

/* Is the block `in` inside `out`? */
static bool
policy_cidr_inside(const struct addr_cidr *in, const struct addr_cidr *out)
{
	return in->prefix >= out->prefix && addr_in_cidr(&in->base, out);
}

/* Is every CIDR of `in` inside one of `out`? (in non-empty) */
static bool
policy_cidrs_inside(const struct addr_cidr *in, size_t nin,
                    const struct addr_cidr *out, size_t nout)
{
	size_t i, j;

	if (nin == 0)
		return false;
	for (i = 0; i < nin; i++) {
		for (j = 0; j < nout; j++)
			if (policy_cidr_inside(&in[i], &out[j]))
				break;
		if (j == nout)
			return false;
	}
	return true;
}

static bool
policy_subject_covers(const struct policy_subject *a, const struct policy_subject *b)
{
	if (a->any_user && !b->any_user && b->user == NULL && b->group == NULL)
		return false;
	if (a->user != NULL && (b->user == NULL || strcmp(a->user, b->user) != 0))
		return false;
	if (a->group != NULL && (b->group == NULL || strcmp(a->group, b->group) != 0))
		return false;
	if (a->cert != NULL && (b->cert == NULL || strcmp(a->cert, b->cert) != 0))
		return false;
	if (a->nsources > 0 &&
	    !policy_cidrs_inside(b->sources, b->nsources, a->sources, a->nsources))
		return false;
	return true;
}

static bool
policy_ports_cover(const struct policy_object *a, const struct policy_object *b)
{
	uint16_t ahi = a->port_hi < a->port_lo ? a->port_lo : a->port_hi;
	uint16_t bhi = b->port_hi < b->port_lo ? b->port_lo : b->port_hi;

	if (policy_port_any(a))
		return true;
	return !policy_port_any(b) && b->port_lo >= a->port_lo && bhi <= ahi;
}

static bool
policy_object_covers(const struct policy_object *a, const struct policy_object *b)
{
	switch (a->kind) {
	case POBJ_ANY:
		/* without ports it also matches every service request */
		if (policy_port_any(a))
			return true;
		return (b->kind == POBJ_ANY || b->kind == POBJ_CIDR ||
		    b->kind == POBJ_HOST) && policy_ports_cover(a, b);
	case POBJ_CIDR:
		return b->kind == POBJ_CIDR && policy_ports_cover(a, b) &&
		    policy_cidrs_inside(b->cidrs, b->ncidrs, a->cidrs, a->ncidrs);
	case POBJ_HOST:
		return b->kind == POBJ_HOST && policy_ports_cover(a, b) &&
		    a->pattern != NULL && b->pattern != NULL &&
		    (strcmp(a->pattern, "*") == 0 ||
		    strcasecmp(a->pattern, b->pattern) == 0);
	case POBJ_SERVICE:
		/* a service rule matches the name however it is reached */
		if (b->kind != POBJ_SERVICE && b->kind != POBJ_ENDPOINT &&
		    b->kind != POBJ_PROFILE && b->kind != POBJ_TCPMUX)
			return false;
		return b->name != NULL && policy_name_match(a->name, b->name) &&
		    (strcmp(b->name, "*") != 0 || strcmp(a->name, "*") == 0);
	case POBJ_ENDPOINT:
	case POBJ_PROFILE:
	case POBJ_TCPMUX:
		return b->kind == a->kind && b->name != NULL &&
		    policy_name_match(a->name, b->name) &&
		    (strcmp(b->name, "*") != 0 || strcmp(a->name, "*") == 0);
	}
	return false;
}

bool
policy_rule_covers(const struct policy_rule *a, const struct policy_rule *b)
{
	return policy_subject_covers(&a->subj, &b->subj) &&
	    policy_object_covers(&a->obj, &b->obj);
}

const struct policy_rule *
policy_shadowed_by(const struct policy *p, size_t i)
{
	size_t j;

	for (j = 0; j < i && j < p->nrules; j++)
		if (policy_rule_covers(&p->rules[j], &p->rules[i]))
			return &p->rules[j];
	return NULL;
}

/* Does the (matching) rule name the guard block holding dest? */
static bool
policy_unlocks_class(const struct policy_rule *r, const struct addr *dest)
{
	struct addr_cidr block;
	size_t i;

	if (r->obj.kind != POBJ_CIDR || !addr_class_block(dest, &block))
		return false;
	for (i = 0; i < r->obj.ncidrs; i++) {
		const struct addr_cidr *c = &r->obj.cidrs[i];

		if (addr_in_cidr(dest, c) && c->prefix >= block.prefix &&
		    addr_in_cidr(&c->base, &block))
			return true;
	}
	return false;
}

static bool
policy_is_self(const struct policy *p, const struct addr *dest, uint16_t port)
{
	enum addr_class dc = addr_classify(dest);
	size_t i;

	for (i = 0; i < p->nself; i++) {
		if (p->self[i].port != port)
			continue;
		if (addr_equal(&p->self[i].addr, dest) || dc == ADDR_UNSPECIFIED)
			return true;
		if (addr_classify(&p->self[i].addr) == ADDR_UNSPECIFIED &&
		    dc == ADDR_LOOPBACK)
			return true;
	}
	return false;
}

static bool
policy_unlocks_self(const struct policy_rule *r, const struct addr *dest)
{
	size_t i;

	if (r->obj.kind != POBJ_CIDR || policy_port_any(&r->obj))
		return false;
	for (i = 0; i < r->obj.ncidrs; i++) {
		const struct addr_cidr *c = &r->obj.cidrs[i];

		if (c->base.family == dest->family &&
		    c->prefix == (dest->family == AF_INET ? 32 : 128) &&
		    addr_equal(&c->base, dest))
			return true;
	}
	return false;
}

/* NULL when the pass by r stands; else why a guard refuses it. */
static const char *
policy_guard(const struct policy *p, const struct policy_rule *r,
             const struct policy_request *req)
{
	enum addr_class c = addr_classify(req->dest);

	if (c != ADDR_NORMAL && !policy_unlocks_class(r, req->dest))
		return addr_class_name(c);
	if (policy_is_self(p, req->dest, req->port) && !policy_unlocks_self(r, req->dest))
		return POLICY_REASON_SELF;
	return NULL;
}

void
policy_decide(struct policy *p, const struct policy_request *req,
              struct policy_decision *out)
{
	const char *guard;
	size_t i;

	out->action = POLICY_BLOCK;
	out->rule = NULL;
	out->matched = NULL;
	out->reason = POLICY_REASON_NOMATCH;
	if (req->kind == PREQ_ADDRESS) {
		if (p->catalog_only) {
			out->reason = POLICY_REASON_CATALOG;
			return;
		}
		if (req->dest == NULL) {
			out->reason = POLICY_REASON_NODEST;
			return;
		}
	}
	for (i = 0; i < p->nrules; i++) {
		struct policy_rule *r = &p->rules[i];

		if (!policy_subject_match(p, &r->subj, req) ||
		    !policy_object_match(&r->obj, req))
			continue;
		if (r->action == POLICY_PASS && req->kind == PREQ_ADDRESS &&
		    (guard = policy_guard(p, r, req)) != NULL) {
			out->matched = r;
			out->reason = guard;
			return;
		}
		r->hits++;
		out->action = r->action;
		out->rule = r;
		out->reason = POLICY_REASON_RULE;
		return;
	}
}

void
policy_free(struct policy *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++) {
		struct policy_rule *r = &p->rules[i];

		free(r->subj.user);
		free(r->subj.group);
		free(r->subj.cert);
		free(r->subj.sources);
		free(r->obj.cidrs);
		free(r->obj.pattern);
		free(r->obj.name);
		free(r->file);
	}
	free(p->rules);
	for (i = 0; i < p->ngroups; i++) {
		for (j = 0; j < p->groups[i].nmembers; j++)
			free(p->groups[i].members[j]);
		free(p->groups[i].members);
		free(p->groups[i].name);
	}
	free(p->groups);
	free(p->self);
	p->rules = NULL;
	p->nrules = 0;
	p->groups = NULL;
	p->ngroups = 0;
	p->self = NULL;
	p->nself = 0;
}

/* The audit line: a bounded writer that counts what it could not store. */
struct policy_out {
	char   *buf;
	size_t  len;
	size_t  pos;
};

static void
policy_putc(struct policy_out *w, char c)
{
	if (w->len > 0 && w->pos < w->len - 1)
		w->buf[w->pos] = c;
	w->pos++;
}

static void
policy_puts(struct policy_out *w, const char *s)
{
	while (*s != '\0')
		policy_putc(w, *s++);
}

static bool
policy_safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    strchr("._:/@+~%,*[]-", c) != NULL;
}

/* Writes " key=value" where value is the concatenation of parts, quoted and
 * escaped when anything in it is not a plain token character. */
static void
policy_field(struct policy_out *w, const char *key, const char *const *parts, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s;
	bool safe = false;
	size_t i;

	for (i = 0; i < n; i++) {
		for (s = (const unsigned char *)parts[i]; *s != '\0'; s++) {
			if (!policy_safe_char(*s))
				break;
			safe = true;
		}
		if (*s != '\0') {
			safe = false;
			break;
		}
	}
	if (w->pos > 0)
		policy_putc(w, ' ');
	policy_puts(w, key);
	policy_putc(w, '=');
	if (safe) {
		for (i = 0; i < n; i++)
			policy_puts(w, parts[i]);
		return;
	}
	policy_putc(w, '"');
	for (i = 0; i < n; i++) {
		for (s = (const unsigned char *)parts[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\') {
				policy_putc(w, '\\');
				policy_putc(w, (char)*s);
			} else if (*s < 0x20 || *s >= 0x7f) {
				policy_puts(w, "\\x");
				policy_putc(w, hex[*s >> 4]);
				policy_putc(w, hex[*s & 15]);
			} else
				policy_putc(w, (char)*s);
		}
	}
	policy_putc(w, '"');
}

static void
policy_field1(struct policy_out *w, const char *key, const char *value)
{
	const char *parts[1] = { value != NULL ? value : "-" };

	policy_field(w, key, parts, 1);
}

static void
policy_field_rule(struct policy_out *w, const char *key, const struct policy_rule *r)
{
	char line[24];
	const char *parts[2] = { r->file != NULL ? r->file : "-", line };

	(void)snprintf(line, sizeof(line), ":%d", r->line);
	policy_field(w, key, parts, 2);
}

/* "192.0.2.1:603" or "[2001:db8::1]:603" */
static void
policy_field_addrport(struct policy_out *w, const char *key, const struct addr *a,
                      uint16_t port)
{
	char ab[64], port_s[8];
	const char *parts[4];

	(void)addr_str(a, ab, sizeof(ab));
	(void)snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
	parts[0] = a->family == AF_INET6 ? "[" : "";
	parts[1] = ab;
	parts[2] = a->family == AF_INET6 ? "]:" : ":";
	parts[3] = port_s;
	policy_field(w, key, parts, 4);
}

size_t
policy_audit_format(const struct policy_request *req, const struct policy_decision *d,
                    char *buf, size_t len)
{
	struct policy_out w = { buf, len, 0 };
	char ab[64], port_s[8];
	const char *parts[3];

	policy_field1(&w, "user", req->user);
	policy_field1(&w, "src", req->source != NULL ?
	    addr_str(req->source, ab, sizeof(ab)) : NULL);
	if (req->cert != NULL)
		policy_field1(&w, "cert", req->cert);
	switch (req->kind) {
	case PREQ_ADDRESS:
		if (req->host != NULL) {
			(void)snprintf(port_s, sizeof(port_s), "%u", (unsigned)req->port);
			parts[0] = req->host;
			parts[1] = ":";
			parts[2] = port_s;
			policy_field(&w, "req", parts, 3);
		} else if (req->dest != NULL)
			policy_field_addrport(&w, "req", req->dest, req->port);
		else
			policy_field1(&w, "req", NULL);
		break;
	case PREQ_SERVICE:
		switch (req->via) {
		case POBJ_ENDPOINT:
			parts[0] = "endpoint:";
			break;
		case POBJ_PROFILE:
			parts[0] = "profile:";
			break;
		case POBJ_TCPMUX:
			parts[0] = "tcpmux:";
			break;
		case POBJ_ANY:
		case POBJ_CIDR:
		case POBJ_HOST:
		case POBJ_SERVICE:
			parts[0] = "service:";
			break;
		}
		parts[1] = req->service != NULL ? req->service : "-";
		policy_field(&w, "req", parts, 2);
		break;
	}
	if (req->dest != NULL)
		policy_field_addrport(&w, "dest", req->dest, req->port);
	else
		policy_field1(&w, "dest", NULL);
	if (d->rule != NULL)
		policy_field_rule(&w, "rule", d->rule);
	else
		policy_field1(&w, "rule", NULL);
	policy_field1(&w, "decision", d->action == POLICY_PASS ? "pass" : "block");
	policy_field1(&w, "reason", d->reason);
	if (d->matched != NULL)
		policy_field_rule(&w, "matched", d->matched);
	if (len > 0)
		buf[w.pos < len ? w.pos : len - 1] = '\0';
	return w.pos;
}
