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
	char             *pattern;      /* POBJ_HOST: glob (policy_host_match) */
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
	/* A guard's refusal: the pass rule that matched but does not name the
	 * guarded address (for the audit line); NULL otherwise. */
	const struct policy_rule *matched;
};

/* Reasons (static strings, compared by the tests) */
#define POLICY_REASON_RULE       "rule"
#define POLICY_REASON_NOMATCH    "no rule matched"
#define POLICY_REASON_CATALOG    "source routing refused"
#define POLICY_REASON_NODEST     "no resolved address"
#define POLICY_REASON_SELF       "relay's own address"
/* ... and addr_class_name() of the guarded class ("loopback", ...). */

/* Decides; never fails.  Increments the deciding rule's hits.
 *
 * First match: the first rule whose subject and object both match decides;
 * when none does, the answer is block (POLICY_REASON_NOMATCH).
 * Subject: every field set must hold: any_user needs an authenticated user;
 * user and cert compare exactly; group needs the user to be a member;
 * sources needs the source address inside one of the blocks.
 * Object, for PREQ_ADDRESS (req->dest and req->port are what connect() uses):
 *   POBJ_ANY, POBJ_CIDR (dest inside one of the blocks) and POBJ_HOST (the
 *   requested name matches the glob; a name that is a numeric address in any
 *   spelling never matches a host pattern) with the port range;
 * for PREQ_SERVICE: POBJ_SERVICE matches the catalog name however it was
 *   reached, POBJ_ENDPOINT/PROFILE/TCPMUX only when reached that way
 *   (req->via); names compare case-insensitively, "*" is any; POBJ_ANY
 *   matches a service only when it has no port range.
 * Guards (PREQ_ADDRESS): a pass is turned into a block when the destination
 * is loopback, unspecified, link-local, multicast or broadcast/reserved
 * (addr_classify) unless the rule is a POBJ_CIDR one whose matching block
 * lies inside that class's block (127.0.0.0/8 or 127.0.0.1/32 unlock
 * loopback; 0.0.0.0/0 and "any" do not); and when the destination is one of
 * p->self with its port (a listener on the unspecified address is reached by
 * every loopback or unspecified destination; an unspecified destination
 * reaches every listener on that port) unless the rule names that address
 * with a full-length block and an explicit port range.  In catalog-only
 * mode every PREQ_ADDRESS is refused (POLICY_REASON_CATALOG). */
/* Does rule a match every request rule b matches?  Conservative: true only
 * when that follows from the rules' text (same or wider subject and object;
 * groups are compared by name).  Used to warn about rules that never apply. */
bool policy_rule_covers(const struct policy_rule *a, const struct policy_rule *b);
/* The first rule before p->rules[i] that covers it, or NULL. */
const struct policy_rule *policy_shadowed_by(const struct policy *p, size_t i);

void policy_decide(struct policy *p, const struct policy_request *req,
                   struct policy_decision *out);

/* Writes the tail of an audit line:
 *   user=U src=ADDR [cert=C] req=R dest=ADDR:PORT rule=FILE:LINE
 *   decision=pass|block reason=TEXT [matched=FILE:LINE]
 * R is "host:port", "ip:port" or "endpoint:NAME", "profile:URI",
 * "tcpmux:NAME", "service:NAME"; absent values are "-".  A value holding
 * anything but [A-Za-z0-9._:/@+~%,*[]-] is written in double quotes with
 * '"' and '\' backslash-escaped and other bytes as \xHH, so names from
 * the network cannot forge fields or lines.  Always NUL-terminates (when
 * len > 0); returns the length the whole text needs, as snprintf does. */
size_t policy_audit_format(const struct policy_request *req,
                           const struct policy_decision *d, char *buf, size_t len);

/* Is `user` a member of group `name`? */
bool policy_user_in_group(const struct policy *p, const char *user, const char *group);

/* Host-name glob match, case-insensitive ("*.example.net", "mgr?.corp"):
 * '*' is any run of characters, dots included ("*.example.net" matches
 * "a.b.example.net", not "example.net"), '?' exactly one; one trailing dot
 * on either side is ignored.  An empty host never matches. */
bool policy_host_match(const char *pattern, const char *host);

void policy_free(struct policy *p);
#endif
