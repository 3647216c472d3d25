/* policy: deny-by-default decisions on who may reach what.  Pure code: the
 * callers pass in the authenticated identity, the source address and the
 * resolved destination; policy answers pass/block with the rule that decided.
 * Rules are evaluated first-match; when none matches the answer is block. */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/addr.h"

enum policy_action { POLICY_BLOCK = 0, POLICY_PASS };

/* Who: every field set must match (AND); a NULL/0 field matches anything. */
struct policy_subject {
	bool             any_user;      /* "from user *": any authenticated user */
	char            *user;          /* "from user NAME" */
	char            *group;         /* "from group NAME" (groups in the config) */
	char            *cert;          /* "from cert ID": TLS client identity */
	struct addr_cidr *sources;      /* "source CIDR ...": any of them */
	size_t           nsources;
};

enum policy_object_kind {
	POBJ_ANY = 0,        /* "to any" (still subject to the guards) */
	POBJ_CIDR,           /* "to 192.0.2.0/24 port 603" */
	POBJ_HOST,           /* "to host \"*.example.net\" port 603" */
	POBJ_SERVICE,        /* "to service NAME": catalog entry, any way reached */
	POBJ_ENDPOINT,       /* "to endpoint NAME": TUNNEL endpoint= */
	POBJ_PROFILE,        /* "to profile URI": TUNNEL profile= */
	POBJ_TCPMUX,         /* "to tcpmux NAME": TCPMUX service name */
};

struct policy_object {
	enum policy_object_kind kind;
	struct addr_cidr *cidrs;        /* POBJ_CIDR: any of them */
	size_t            ncidrs;
	char             *pattern;      /* POBJ_HOST: glob, '*' matches one or more labels' text */
	char             *name;         /* SERVICE/ENDPOINT/PROFILE/TCPMUX: "*" = any */
	uint16_t          port_lo, port_hi;  /* 0,0 = any port */
};

struct policy_rule {
	enum policy_action     action;
	struct policy_subject  subj;
	struct policy_object   obj;
	bool                   quick;     /* reserved: first match always wins */
	char                  *file;      /* where it was written, for audit */
	int                    line;
	uint64_t               hits;      /* decisions made by this rule */
};

struct policy_group {
	char   *name;
	char  **members;
	size_t  nmembers;
};

struct policy {
	struct policy_rule  *rules;
	size_t               nrules;
	struct policy_group *groups;
	size_t               ngroups;
	bool                 catalog_only;   /* refuse source routing (RFC 3620 sec. 7) */
	/* the relay's own listening addresses (guarded like loopback) */
	struct { struct addr addr; uint16_t port; } *self;
	size_t               nself;
};

/* What is being asked for. */
enum policy_req_kind {
	PREQ_ADDRESS,        /* fqdn/ip4/ip6/srv: a resolved address and port */
	PREQ_SERVICE,        /* a catalog name reached as endpoint/profile/tcpmux */
};

struct policy_request {
	/* subject */
	const char        *user;         /* NULL when not authenticated */
	const char        *cert;         /* TLS client identity or NULL */
	const struct addr *source;
	/* object */
	enum policy_req_kind kind;
	const char        *host;         /* requested name (fqdn) or NULL */
	const struct addr *dest;         /* resolved address actually connected to */
	uint16_t           port;
	enum policy_object_kind via;     /* ENDPOINT, PROFILE, TCPMUX for PREQ_SERVICE */
	const char        *service;      /* catalog name for PREQ_SERVICE */
};

struct policy_decision {
	enum policy_action  action;
	const struct policy_rule *rule;  /* NULL: implicit block or a guard */
	const char         *reason;      /* static text: "no rule matched", "loopback", ... */
};

/* Decides; never fails.  Increments the deciding rule's hits. */
void policy_decide(struct policy *p, const struct policy_request *req,
                   struct policy_decision *out);

/* Is `user` a member of group `name`? */
bool policy_user_in_group(const struct policy *p, const char *user, const char *group);

/* Host-name glob match, case-insensitive ("*.example.net", "mgr?.corp"). */
bool policy_host_match(const char *pattern, const char *host);

void policy_free(struct policy *p);
#endif
