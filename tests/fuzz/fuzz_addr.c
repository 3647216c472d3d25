/* Fuzz target for policy/addr and the text side of policy.
 *
 * The input up to the first newline is an address text; after it comes a
 * host name.  Properties, each abort()ing when broken:
 *   - whatever the strict parser accepts the lenient one accepts as the same
 *     address, and a strict IPv4 literal prints back as itself;
 *   - on IPv4 spellings the lenient parser agrees with inet_aton(3) (inputs
 *     with blanks are skipped: inet_aton ignores what follows one);
 *   - a parsed address prints to text that parses back to it;
 *   - a CIDR block contains its base and has no host bits;
 *   - addr_class_block exists exactly for guarded addresses, and holds them;
 *   - the host glob matches a host against itself, and the audit line never
 *     contains a control byte whatever the names. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "policy/addr.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TEXT 256

static void
fuzz_check(bool ok)
{
	if (!ok)
		abort();
}

static void
fuzz_addr_text(const char *s)
{
	struct addr a, b;
	struct addr_cidr c, blk;
	struct in_addr in;
	char buf[64];
	bool strict4, strict, loose;
	const char *p;

	strict4 = addr_parse_ip4(s, &a);
	if (strict4)
		fuzz_check(strcmp(addr_str(&a, buf, sizeof(buf)), s) == 0);
	strict = addr_parse(s, &a);
	loose = addr_parse_loose(s, &b);
	if (strict)
		fuzz_check(loose && addr_equal(&a, &b));
	if (loose) {
		struct addr r;

		fuzz_check(addr_parse(addr_str(&b, buf, sizeof(buf)), &r) && addr_equal(&r, &b));
		fuzz_check((addr_classify(&b) != ADDR_NORMAL) == addr_class_block(&b, &blk));
		if (addr_classify(&b) != ADDR_NORMAL)
			fuzz_check(addr_in_cidr(&b, &blk));
	}
	for (p = s; *p != '\0'; p++)
		if (isspace((unsigned char)*p) || *p == ':')
			break;
	if (*p == '\0') {
		bool libc = inet_aton(s, &in) != 0;

		fuzz_check(libc == (loose && b.family == AF_INET));
		if (libc)
			fuzz_check(memcmp(&in, b.a, 4) == 0);
	}
	if (addr_parse_cidr(s, &c)) {
		fuzz_check(c.prefix <= (c.base.family == AF_INET ? 32 : 128));
		fuzz_check(addr_in_cidr(&c.base, &c));
		b = c.base;
		fuzz_check(addr_in_cidr(&b, &c));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_TEXT + 1], host[FUZZ_TEXT + 1], line[4096];
	const uint8_t *nl;
	size_t n, m;
	struct policy_request req;
	struct policy_decision d;
	struct policy p;
	struct addr dest;

	nl = memchr(data, '\n', size);
	n = nl != NULL ? (size_t)(nl - data) : size;
	m = nl != NULL ? size - n - 1 : 0;
	if (n > FUZZ_TEXT)
		n = FUZZ_TEXT;
	memcpy(text, data, n);
	text[n] = '\0';
	if (m > FUZZ_TEXT)
		m = FUZZ_TEXT;
	if (nl != NULL)
		memcpy(host, nl + 1, m);
	host[m] = '\0';

	fuzz_addr_text(text);

	if (host[0] != '\0' && strchr(host, '*') == NULL && strchr(host, '?') == NULL)
		fuzz_check(policy_host_match(host, host));
	(void)policy_host_match(text, host);

	memset(&p, 0, sizeof(p));
	memset(&req, 0, sizeof(req));
	memset(&dest, 0, sizeof(dest));
	dest.family = AF_INET6;
	req.user = text;
	req.cert = host;
	req.source = &dest;
	req.kind = PREQ_ADDRESS;
	req.host = host;
	req.dest = &dest;
	policy_decide(&p, &req, &d);
	fuzz_check(d.action == POLICY_BLOCK);
	n = policy_audit_format(&req, &d, line, sizeof(line));
	fuzz_check(n < sizeof(line));
	for (m = 0; m < n; m++)
		fuzz_check((unsigned char)line[m] >= 0x20 && (unsigned char)line[m] < 0x7f);
	return 0;
}
