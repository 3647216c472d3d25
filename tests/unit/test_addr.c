/* addr: strict and lenient parsing, CIDR blocks, canonical form, guards. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "policy/addr.h"
#include "tests/unit/cutest.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

/* family and text after parsing, or NULL: rejected */
struct parse_case {
	const char *in;
	const char *want;
};

static void
check_parse(bool (*fn)(const char *, struct addr *), const struct parse_case *t, size_t n,
            const char *what)
{
	char buf[64];
	struct addr a;
	size_t i;

	for (i = 0; i < n; i++) {
		bool ok = fn(t[i].in, &a);

		if (ok != (t[i].want != NULL) ||
		    (ok && strcmp(addr_str(&a, buf, sizeof(buf)), t[i].want) != 0)) {
			fprintf(stderr, "%s(\"%s\"): got %s%s, want %s\n", what, t[i].in,
			    ok ? "" : "reject", ok ? buf : "", t[i].want ? t[i].want : "reject");
			CU_FAIL("parse mismatch");
		} else
			CU_PASS("ok");
	}
}

static void
test_strict_ip4(void)
{
	static const struct parse_case t[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "0.0.0.0", "0.0.0.0" },
		{ "255.255.255.255", "255.255.255.255" },
		{ "10.0.0.0", "10.0.0.0" },
		{ "127.1", NULL },
		{ "0x7f.0.0.1", NULL },
		{ "017.0.0.1", NULL },
		{ "1.2.3.04", NULL },
		{ "2130706433", NULL },
		{ "0x7f000001", NULL },
		{ "1.2.3", NULL },
		{ "1.2.3.4.", NULL },
		{ "1.2.3.4.5", NULL },
		{ "256.1.1.1", NULL },
		{ "1.2.3.1000", NULL },
		{ "1..2.3", NULL },
		{ ".1.2.3", NULL },
		{ "1.2.3.-1", NULL },
		{ "1.2.3.4 ", NULL },
		{ " 1.2.3.4", NULL },
		{ "1.2.3.4/8", NULL },
		{ "", NULL },
		{ "::1", NULL },
		{ "a.b.c.d", NULL },
	};

	check_parse(addr_parse_ip4, t, N(t), "addr_parse_ip4");
	CU_ASSERT_FALSE(addr_parse_ip4(NULL, &(struct addr){ 0 }));
}

static void
test_strict_ip6(void)
{
	static const struct parse_case t[] = {
		{ "::1", "::1" },
		{ "::", "::" },
		{ "2001:DB8:0:0::1", "2001:db8::1" },
		{ "fe80::1", "fe80::1" },
		{ "ff02::1", "ff02::1" },
		/* IPv4-mapped: canonical IPv4 */
		{ "::ffff:127.0.0.1", "127.0.0.1" },
		{ "::ffff:7f00:1", "127.0.0.1" },
		{ "::FFFF:169.254.169.254", "169.254.169.254" },
		/* IPv4-compatible stays IPv6 */
		{ "::127.0.0.1", "::127.0.0.1" },
		{ "fe80::1%eth0", NULL },
		{ "[::1]", NULL },
		{ "::ffff:127.1", NULL },
		{ ":::", NULL },
		{ "2001:db8::1::2", NULL },
		{ "1:2:3:4:5:6:7:8:9", NULL },
		{ "12345::", NULL },
		{ "192.0.2.1", NULL },
		{ "", NULL },
	};

	check_parse(addr_parse_ip6, t, N(t), "addr_parse_ip6");
}

static void
test_parse_either(void)
{
	static const struct parse_case t[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "127.1", NULL },
		{ "example.net", NULL },
	};

	check_parse(addr_parse, t, N(t), "addr_parse");
}

/* Every spelling a resolver reads as a number, and the number it is. */
static void
test_loose(void)
{
	static const struct parse_case t[] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.1", "127.0.0.1" },
		{ "127.0.1", "127.0.0.1" },
		{ "0x7f.1", "127.0.0.1" },
		{ "0X7F.0.0.1", "127.0.0.1" },
		{ "0177.0.0.1", "127.0.0.1" },
		{ "017700000001", "127.0.0.1" },
		{ "2130706433", "127.0.0.1" },
		{ "0x7f000001", "127.0.0.1" },
		{ "0", "0.0.0.0" },
		{ "00", "0.0.0.0" },
		{ "0x0", "0.0.0.0" },
		{ "4294967295", "255.255.255.255" },
		{ "169.16689662", "169.254.169.254" },
		{ "0xa9.0xfe.0xa9.0xfe", "169.254.169.254" },
		{ "10.0x10000", "10.1.0.0" },     /* a 24-bit last part */
		{ "::1", "::1" },
		{ "::ffff:127.0.0.1", "127.0.0.1" },
		{ "4294967296", NULL },
		{ "0x100000000", NULL },
		{ "08", NULL },
		{ "09.1", NULL },
		{ "256.1", NULL },
		{ "1.16777216", NULL },
		{ "1.2.65536", NULL },
		{ "1.2.3.256", NULL },
		{ "1.2.3.4.5", NULL },
		{ "127.0.0.1.", NULL },
		{ "0x", NULL },
		{ "0xg", NULL },
		{ "1.2.3.4 x", NULL },
		{ "example.net", NULL },
		{ "127.0.0.1.example.net", NULL },
		{ "", NULL },
		{ ".", NULL },
		{ "1.", NULL },
	};
	struct addr a;
	struct in_addr in;
	size_t i;

	check_parse(addr_parse_loose, t, N(t), "addr_parse_loose");
	CU_ASSERT_FALSE(addr_parse_loose(NULL, &a));

	/* The C library agrees on every IPv4 spelling (inet_aton also
	 * accepts trailing blanks and what follows them: ours does not). */
	for (i = 0; i < N(t); i++) {
		int libc;

		if (strchr(t[i].in, ':') != NULL || strchr(t[i].in, ' ') != NULL)
			continue;
		libc = inet_aton(t[i].in, &in);
		if ((libc != 0) != (t[i].want != NULL))
			fprintf(stderr, "inet_aton(\"%s\") = %d\n", t[i].in, libc);
		CU_ASSERT_EQUAL(libc != 0, t[i].want != NULL);
		if (libc != 0 && addr_parse_loose(t[i].in, &a))
			CU_ASSERT_EQUAL(memcmp(a.a, &in, 4), 0);
	}
}

struct cidr_case {
	const char *in;
	const char *base;     /* NULL: rejected */
	int         prefix;
	int         family;
};

static void
test_cidr_parse(void)
{
	static const struct cidr_case t[] = {
		{ "10.0.0.0/8", "10.0.0.0", 8, AF_INET },
		{ "10.1.2.3/8", "10.0.0.0", 8, AF_INET },
		{ "192.0.2.1", "192.0.2.1", 32, AF_INET },
		{ "0.0.0.0/0", "0.0.0.0", 0, AF_INET },
		{ "192.0.2.128/25", "192.0.2.128", 25, AF_INET },
		{ "192.0.2.255/31", "192.0.2.254", 31, AF_INET },
		{ "2001:db8::/32", "2001:db8::", 32, AF_INET6 },
		{ "2001:db8:ffff::1/33", "2001:db8:8000::", 33, AF_INET6 },
		{ "fe80::/10", "fe80::", 10, AF_INET6 },
		{ "febf::/10", "fe80::", 10, AF_INET6 },
		{ "::1", "::1", 128, AF_INET6 },
		{ "::/0", "::", 0, AF_INET6 },
		{ "::ffff:10.0.0.0/104", "10.0.0.0", 8, AF_INET },
		{ "::ffff:127.0.0.1/128", "127.0.0.1", 32, AF_INET },
		{ "::ffff:0:0/96", "0.0.0.0", 0, AF_INET },
		{ "::ffff:0:0/80", "::", 80, AF_INET6 },
		{ "10.0.0.0/33", NULL, 0, 0 },
		{ "::/129", NULL, 0, 0 },
		{ "10.0.0.0/", NULL, 0, 0 },
		{ "/8", NULL, 0, 0 },
		{ "10.0.0.0/08", NULL, 0, 0 },
		{ "10.0.0.0/8/8", NULL, 0, 0 },
		{ "10.0.0.0/-1", NULL, 0, 0 },
		{ "10.0.0.0/ 8", NULL, 0, 0 },
		{ "10.0.0.0/1000", NULL, 0, 0 },
		{ "10/8", NULL, 0, 0 },
		{ "127.1/8", NULL, 0, 0 },
		{ "x/8", NULL, 0, 0 },
		{ "", NULL, 0, 0 },
	};
	struct addr_cidr c;
	char buf[64];
	size_t i;

	for (i = 0; i < N(t); i++) {
		bool ok = addr_parse_cidr(t[i].in, &c);

		CU_ASSERT_EQUAL(ok, t[i].base != NULL);
		if (!ok || t[i].base == NULL) {
			if (ok != (t[i].base != NULL))
				fprintf(stderr, "cidr \"%s\": ok=%d\n", t[i].in, ok);
			continue;
		}
		CU_ASSERT_STRING_EQUAL(addr_str(&c.base, buf, sizeof(buf)), t[i].base);
		CU_ASSERT_EQUAL(c.prefix, t[i].prefix);
		CU_ASSERT_EQUAL(c.base.family, t[i].family);
	}
}

static void
test_in_cidr(void)
{
	static const struct {
		const char *a, *cidr;
		bool in;
	} t[] = {
		{ "10.255.255.255", "10.0.0.0/8", true },
		{ "11.0.0.0", "10.0.0.0/8", false },
		{ "9.255.255.255", "10.0.0.0/8", false },
		{ "192.0.2.1", "0.0.0.0/0", true },
		{ "2001:db8::1", "0.0.0.0/0", false },
		{ "192.0.2.1", "::/0", false },
		{ "2001:db8::1", "::/0", true },
		{ "febf:ffff::1", "fe80::/10", true },
		{ "fec0::1", "fe80::/10", false },
		{ "192.0.2.129", "192.0.2.128/25", true },
		{ "192.0.2.127", "192.0.2.128/25", false },
		{ "::ffff:10.1.2.3", "10.0.0.0/8", true },
		{ "10.1.2.3", "::ffff:10.0.0.0/104", true },
		{ "192.0.2.1", "192.0.2.1", true },
		{ "192.0.2.2", "192.0.2.1", false },
	};
	struct addr a;
	struct addr_cidr c;
	size_t i;

	for (i = 0; i < N(t); i++) {
		CU_ASSERT_FATAL(addr_parse(t[i].a, &a));
		CU_ASSERT_FATAL(addr_parse_cidr(t[i].cidr, &c));
		if (addr_in_cidr(&a, &c) != t[i].in) {
			fprintf(stderr, "%s in %s: want %d\n", t[i].a, t[i].cidr, t[i].in);
			CU_FAIL("addr_in_cidr");
		} else
			CU_PASS("ok");
	}
}

static void
test_classify(void)
{
	static const struct {
		const char     *a;
		enum addr_class c;
	} t[] = {
		{ "126.255.255.255", ADDR_NORMAL },
		{ "127.0.0.0", ADDR_LOOPBACK },
		{ "127.0.0.1", ADDR_LOOPBACK },
		{ "127.255.255.255", ADDR_LOOPBACK },
		{ "128.0.0.0", ADDR_NORMAL },
		{ "0.0.0.0", ADDR_UNSPECIFIED },
		{ "0.255.255.255", ADDR_UNSPECIFIED },
		{ "1.0.0.0", ADDR_NORMAL },
		{ "169.253.255.255", ADDR_NORMAL },
		{ "169.254.0.0", ADDR_LINKLOCAL },
		{ "169.254.169.254", ADDR_LINKLOCAL },
		{ "169.255.0.0", ADDR_NORMAL },
		{ "223.255.255.255", ADDR_NORMAL },
		{ "224.0.0.1", ADDR_MULTICAST },
		{ "239.255.255.255", ADDR_MULTICAST },
		{ "240.0.0.1", ADDR_BROADCAST },
		{ "255.255.255.255", ADDR_BROADCAST },
		{ "10.0.0.1", ADDR_NORMAL },
		{ "192.0.2.1", ADDR_NORMAL },
		{ "::1", ADDR_LOOPBACK },
		{ "::", ADDR_UNSPECIFIED },
		{ "::2", ADDR_UNSPECIFIED },      /* compatible 0.0.0.2 */
		{ "fe80::1", ADDR_LINKLOCAL },
		{ "febf::1", ADDR_LINKLOCAL },
		{ "fec0::1", ADDR_NORMAL },
		{ "ff02::1", ADDR_MULTICAST },
		{ "ff0e::1", ADDR_MULTICAST },
		{ "2001:db8::1", ADDR_NORMAL },
		{ "::ffff:127.0.0.1", ADDR_LOOPBACK },
		{ "::ffff:169.254.169.254", ADDR_LINKLOCAL },
		{ "::127.0.0.1", ADDR_LOOPBACK },
		{ "::192.0.2.1", ADDR_NORMAL },
		{ "64:ff9b::a9fe:a9fe", ADDR_LINKLOCAL },
		{ "64:ff9b::127.0.0.1", ADDR_LOOPBACK },
		{ "64:ff9b::192.0.2.1", ADDR_NORMAL },
		{ "64:ff9b:1::127.0.0.1", ADDR_NORMAL },
	};
	struct addr a;
	size_t i;

	for (i = 0; i < N(t); i++) {
		CU_ASSERT_FATAL(addr_parse(t[i].a, &a));
		if (addr_classify(&a) != t[i].c) {
			fprintf(stderr, "%s: %s, want %s\n", t[i].a,
			    addr_class_name(addr_classify(&a)), addr_class_name(t[i].c));
			CU_FAIL("addr_classify");
		} else
			CU_PASS("ok");
	}
	CU_ASSERT_STRING_EQUAL(addr_class_name(ADDR_LINKLOCAL), "link-local");
	CU_ASSERT_STRING_EQUAL(addr_class_name(ADDR_NORMAL), "normal");
}

static void
test_class_block(void)
{
	static const struct {
		const char *a, *block;   /* NULL: normal */
	} t[] = {
		{ "127.0.0.1", "127.0.0.0/8" },
		{ "169.254.169.254", "169.254.0.0/16" },
		{ "::1", "::1/128" },
		{ "fe80::99", "fe80::/10" },
		{ "239.1.2.3", "224.0.0.0/4" },
		{ "255.255.255.255", "240.0.0.0/4" },
		{ "::127.0.0.1", "::127.0.0.0/104" },
		{ "64:ff9b::a9fe:a9fe", "64:ff9b::169.254.0.0/112" },
		{ "192.0.2.1", NULL },
	};
	struct addr a;
	struct addr_cidr b, want;
	size_t i;

	for (i = 0; i < N(t); i++) {
		CU_ASSERT_FATAL(addr_parse(t[i].a, &a));
		CU_ASSERT_EQUAL(addr_class_block(&a, &b), t[i].block != NULL);
		if (t[i].block == NULL)
			continue;
		CU_ASSERT_FATAL(addr_parse_cidr(t[i].block, &want));
		CU_ASSERT(addr_equal(&b.base, &want.base));
		CU_ASSERT_EQUAL(b.prefix, want.prefix);
	}
}

static void
test_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 sin6;
	struct sockaddr_in *sin;
	struct addr a, b;
	socklen_t len;
	char buf[64];

	CU_ASSERT_FATAL(addr_parse("192.0.2.7", &a));
	len = addr_to_sockaddr(&a, 603, &ss);
	CU_ASSERT_EQUAL(len, sizeof(struct sockaddr_in));
	sin = (struct sockaddr_in *)(void *)&ss;
	CU_ASSERT_EQUAL(sin->sin_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 603);
	addr_from_sockaddr((struct sockaddr *)&ss, &b);
	CU_ASSERT(addr_equal(&a, &b));

	CU_ASSERT_FATAL(addr_parse("2001:db8::7", &a));
	len = addr_to_sockaddr(&a, 10288, &ss);
	CU_ASSERT_EQUAL(len, sizeof(struct sockaddr_in6));
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port), 10288);
	addr_from_sockaddr((struct sockaddr *)&ss, &b);
	CU_ASSERT(addr_equal(&a, &b));

	/* what accept() on a dual-stack socket returns for an IPv4 peer */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	CU_ASSERT_FATAL(inet_pton(AF_INET6, "::ffff:198.51.100.3", &sin6.sin6_addr) == 1);
	addr_from_sockaddr((struct sockaddr *)&sin6, &b);
	CU_ASSERT_EQUAL(b.family, AF_INET);
	CU_ASSERT_STRING_EQUAL(addr_str(&b, buf, sizeof(buf)), "198.51.100.3");
}

static void
test_equal_str(void)
{
	struct addr a, b;
	char buf[64], tiny[4];

	CU_ASSERT_FATAL(addr_parse("::ffff:192.0.2.1", &a));
	CU_ASSERT_FATAL(addr_parse("192.0.2.1", &b));
	CU_ASSERT(addr_equal(&a, &b));
	CU_ASSERT_FATAL(addr_parse("192.0.2.2", &b));
	CU_ASSERT_FALSE(addr_equal(&a, &b));
	CU_ASSERT_FATAL(addr_parse("::192.0.2.1", &b));
	CU_ASSERT_FALSE(addr_equal(&a, &b));
	CU_ASSERT_FATAL(addr_parse("2001:0db8:0000:0000:0000:0000:0000:0001", &a));
	CU_ASSERT_STRING_EQUAL(addr_str(&a, buf, sizeof(buf)), "2001:db8::1");
	/* too small a buffer still gives a terminated string */
	addr_str(&a, tiny, sizeof(tiny));
	CU_ASSERT(memchr(tiny, '\0', sizeof(tiny)) != NULL);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "strict ip4", test_strict_ip4 },
		{ "strict ip6", test_strict_ip6 },
		{ "parse either", test_parse_either },
		{ "loose numeric forms", test_loose },
		{ "cidr parse", test_cidr_parse },
		{ "in cidr", test_in_cidr },
		{ "classify", test_classify },
		{ "class block", test_class_block },
		{ "sockaddr", test_sockaddr },
		{ "equal and str", test_equal_str },
		CUTEST_END
	};

	return cutest_run("addr", cases);
}
