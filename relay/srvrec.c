/* srvrec: build SRV queries and parse their answers with libresolv; order
 * the targets as RFC 2782 says. */
#include "relay/srvrec.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
srvrec_query(const char *qname, uint16_t id, uint8_t *buf, size_t size)
{
	int n;

	if (qname == NULL || qname[0] == '\0' || strlen(qname) >= SRVREC_NAME_MAX - 1)
		return -1;
	n = res_mkquery(ns_o_query, qname, ns_c_in, ns_t_srv, NULL, 0, NULL, buf,
	    size > INT32_MAX ? INT32_MAX : (int)size);
	if (n < NS_HFIXEDSZ)
		return -1;
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	return n;
}

/* Names compare without case and without a trailing dot. */
static bool
srvrec_same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

#define SRVREC_ERR(...) do { if (errlen > 0) snprintf(err, errlen, __VA_ARGS__); } while (0)

enum srvrec_status
srvrec_parse(const uint8_t *msg, size_t len, uint16_t id, const char *qname,
             struct srv_target *out, size_t max, size_t *n, char *err, size_t errlen)
{
	ns_msg h;
	ns_rr rr;
	const uint8_t *rd;
	struct srv_target *t;
	int i, count, rcode;
	bool root = false;

	*n = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (len > INT32_MAX || ns_initparse(msg, (int)len, &h) != 0) {
		SRVREC_ERR("malformed DNS message");
		return SRVREC_BAD;
	}
	if (ns_msg_id(h) != id || !ns_msg_getflag(h, ns_f_qr) ||
	    ns_msg_count(h, ns_s_qd) != 1 || ns_parserr(&h, ns_s_qd, 0, &rr) != 0 ||
	    ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in ||
	    !srvrec_same_name(ns_rr_name(rr), qname)) {
		SRVREC_ERR("not the answer to our query");
		return SRVREC_FOREIGN;
	}
	if (ns_msg_getflag(h, ns_f_tc)) {
		SRVREC_ERR("answer truncated (larger than a UDP message)");
		return SRVREC_TRUNCATED;
	}
	rcode = ns_msg_getflag(h, ns_f_rcode);
	if (rcode == ns_r_nxdomain) {
		SRVREC_ERR("no such name");
		return SRVREC_NONE;
	}
	if (rcode != ns_r_noerror) {
		SRVREC_ERR("server answered rcode %d", rcode);
		return SRVREC_SERVFAIL;
	}
	count = ns_msg_count(h, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) != 0) {
			SRVREC_ERR("malformed answer record");
			*n = 0;
			return SRVREC_BAD;
		}
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in ||
		    !srvrec_same_name(ns_rr_name(rr), qname))
			continue;            /* SRV owners are never aliases */
		if (ns_rr_rdlen(rr) < 7) {
			SRVREC_ERR("malformed SRV record");
			*n = 0;
			return SRVREC_BAD;
		}
		if (*n == max)
			continue;
		rd = ns_rr_rdata(rr);
		t = &out[*n];
		t->prio = ns_get16(rd);
		t->weight = ns_get16(rd + 2);
		t->port = ns_get16(rd + 4);
		if (dn_expand(ns_msg_base(h), ns_msg_end(h), rd + 6, t->host,
		    sizeof(t->host)) < 0) {
			SRVREC_ERR("malformed SRV target name");
			*n = 0;
			return SRVREC_BAD;
		}
		if (t->host[0] == '\0' || strcmp(t->host, ".") == 0) {
			root = true;         /* "." : no service here */
			continue;
		}
		if (t->port == 0)
			continue;            /* not a usable target */
		(*n)++;
	}
	if (*n == 0 && root) {
		SRVREC_ERR("the service is decidedly not available at this domain "
		    "(SRV target \".\")");
		return SRVREC_NOSERVICE;
	}
	if (*n == 0) {
		SRVREC_ERR("no SRV record");
		return SRVREC_NONE;
	}
	return SRVREC_OK;
}

static int
srvrec_cmp_prio(const void *a, const void *b)
{
	const struct srv_target *x = a, *y = b;

	return (int)x->prio - (int)y->prio;
}

void
srvrec_order(struct srv_target *t, size_t n, srvrec_rand_fn *rnd, void *arg)
{
	struct srv_target tmp;
	size_t lo, hi, i, j, z;
	uint64_t sum, pick, run;

	/* a stable order inside each priority first: weight 0 at the front */
	qsort(t, n, sizeof(*t), srvrec_cmp_prio);
	for (lo = 0; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && t[hi].prio == t[lo].prio; hi++)
			;
		for (i = lo, z = lo; i < hi; i++)
			if (t[i].weight == 0) {
				tmp = t[z];
				t[z] = t[i];
				t[i] = tmp;
				z++;
			}
		/* RFC 2782: pick with a running sum, move the pick to the front
		 * of the unordered part, repeat */
		for (i = lo; i + 1 < hi; i++) {
			sum = 0;
			for (j = i; j < hi; j++)
				sum += t[j].weight;
			pick = sum == 0 ? 0 : (uint64_t)rnd(arg) % (sum + 1);
			run = 0;
			for (j = i; j < hi; j++) {
				run += t[j].weight;
				if (run >= pick)
					break;
			}
			if (j == hi)
				j = hi - 1;
			tmp = t[j];
			memmove(&t[i + 1], &t[i], (j - i) * sizeof(*t));
			t[i] = tmp;
		}
	}
}

const char *
srvrec_status_str(enum srvrec_status st)
{
	switch (st) {
	case SRVREC_OK:        return "ok";
	case SRVREC_NONE:      return "no SRV record";
	case SRVREC_NOSERVICE: return "service not available";
	case SRVREC_SERVFAIL:  return "server failure";
	case SRVREC_TRUNCATED: return "truncated";
	case SRVREC_FOREIGN:   return "foreign answer";
	case SRVREC_BAD:       return "malformed answer";
	}
	return "?";
}
