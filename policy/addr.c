/* addr: canonical addresses, CIDR blocks and the built-in address guards.
 *
 * Canonical form: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4
 * address a.b.c.d, because a dual-stack socket connecting to it reaches the
 * IPv4 host.  IPv4-compatible addresses (::a.b.c.d, deprecated by RFC 4291)
 * stay IPv6: Linux does not translate them, connect() treats them as plain
 * IPv6 destinations.  They are nevertheless classified by the IPv4 address
 * they embed (as is the NAT64 well-known prefix 64:ff9b::/96, which a NAT64
 * gateway does translate), so "::127.0.0.1" and "64:ff9b::a9fe:a9fe" fall
 * under the loopback and link-local guards. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "policy/addr.h"

static const uint8_t addr_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};
static const uint8_t addr_nat64_prefix[12] = {
	0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
};

/* Turns an IPv4-mapped IPv6 address into its IPv4 form, in place. */
static void
addr_canon(struct addr *a)
{
	if (a->family == AF_INET6 &&
	    memcmp(a->a, addr_mapped_prefix, sizeof(addr_mapped_prefix)) == 0) {
		a->family = AF_INET;
		memmove(a->a, a->a + 12, 4);
		memset(a->a + 4, 0, 12);
	}
}

static void
addr_set4(struct addr *out, uint32_t v)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->a[0] = (uint8_t)(v >> 24);
	out->a[1] = (uint8_t)(v >> 16);
	out->a[2] = (uint8_t)(v >> 8);
	out->a[3] = (uint8_t)v;
}

bool
addr_parse_ip4(const char *s, struct addr *out)
{
	uint32_t v = 0;
	int part, ndig;
	unsigned n;

	if (s == NULL)
		return false;
	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (*s != '.')
				return false;
			s++;
		}
		n = 0;
		for (ndig = 0; s[ndig] >= '0' && s[ndig] <= '9'; ndig++) {
			if (ndig == 3)
				return false;
			n = n * 10 + (unsigned)(s[ndig] - '0');
		}
		/* one to three digits, no leading zero (octal in other parsers) */
		if (ndig == 0 || n > 255 || (ndig > 1 && s[0] == '0'))
			return false;
		v = (v << 8) | n;
		s += ndig;
	}
	if (*s != '\0')
		return false;
	addr_set4(out, v);
	return true;
}

bool
addr_parse_ip6(const char *s, struct addr *out)
{
	struct in6_addr in6;

	/* inet_pton accepts exactly the RFC 4291 text forms (no zone index,
	 * no brackets, an embedded IPv4 part only as a strict dotted quad). */
	if (s == NULL || strchr(s, ':') == NULL || inet_pton(AF_INET6, s, &in6) != 1)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	memcpy(out->a, &in6, 16);
	addr_canon(out);
	return true;
}

bool
addr_parse(const char *s, struct addr *out)
{
	return addr_parse_ip4(s, out) || addr_parse_ip6(s, out);
}

/* One inet_aton(3) component: decimal, 0x hex or 0 octal; false on
 * garbage or when it exceeds 32 bits.  *sp is left after the number. */
static bool
addr_loose_number(const char **sp, uint32_t *v)
{
	const char *s = *sp;
	uint64_t n = 0;
	unsigned base = 10, d;
	bool any = false;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
		any = true;         /* "0" alone is zero */
		s++;
	}
	for (;; s++) {
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (d >= base)
			return false;
		n = n * base + d;
		if (n > 0xffffffffu)
			return false;
		any = true;
	}
	if (!any)
		return false;
	*sp = s;
	*v = (uint32_t)n;
	return true;
}

bool
addr_parse_loose(const char *s, struct addr *out)
{
	uint32_t parts[4];
	uint32_t v;
	int n = 0;

	if (s == NULL || *s == '\0')
		return false;
	if (addr_parse_ip6(s, out))
		return true;
	for (;;) {
		if (n == 4 || !addr_loose_number(&s, &parts[n]))
			return false;
		n++;
		if (*s == '\0')
			break;
		if (*s != '.')
			return false;
		s++;
	}
	/* a.b.c.d, a.b.c (c: 16 bits), a.b (b: 24 bits), a (32 bits) */
	switch (n) {
	case 1:
		v = parts[0];
		break;
	case 2:
		if (parts[0] > 0xff || parts[1] > 0xffffff)
			return false;
		v = parts[0] << 24 | parts[1];
		break;
	case 3:
		if (parts[0] > 0xff || parts[1] > 0xff || parts[2] > 0xffff)
			return false;
		v = parts[0] << 24 | parts[1] << 16 | parts[2];
		break;
	default:
		if (parts[0] > 0xff || parts[1] > 0xff || parts[2] > 0xff || parts[3] > 0xff)
			return false;
		v = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3];
		break;
	}
	addr_set4(out, v);
	return true;
}

static unsigned
addr_bits(const struct addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

static void
addr_mask(struct addr *a, unsigned prefix)
{
	unsigned i, bytes = addr_bits(a) / 8;

	for (i = 0; i < bytes; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		if (prefix <= 8 * i)
			a->a[i] = 0;
		else
			a->a[i] &= (uint8_t)(0xff00u >> (prefix - 8 * i));
	}
}

bool
addr_parse_cidr(const char *s, struct addr_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	unsigned prefix = 0, max;
	int ndig;
	bool v6text;

	if (s == NULL || (slash = strchr(s, '/')) == NULL) {
		if (!addr_parse(s, &out->base))
			return false;
		out->prefix = (uint8_t)addr_bits(&out->base);
		return true;
	}
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(buf))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (!addr_parse(buf, &out->base))
		return false;
	slash++;
	for (ndig = 0; slash[ndig] >= '0' && slash[ndig] <= '9'; ndig++) {
		if (ndig == 3)
			return false;
		prefix = prefix * 10 + (unsigned)(slash[ndig] - '0');
	}
	if (ndig == 0 || slash[ndig] != '\0' || (ndig > 1 && slash[0] == '0'))
		return false;
	/* The prefix counts bits of the address as written: a mapped
	 * "::ffff:10.0.0.0/104" is 10.0.0.0/8 once canonical. */
	v6text = strchr(buf, ':') != NULL;
	max = v6text ? 128 : 32;
	if (prefix > max)
		return false;
	if (v6text && out->base.family == AF_INET) {
		if (prefix < 96) {
			/* wider than the mapped block: keep it as IPv6 */
			memset(&out->base, 0, sizeof(out->base));
			if (!(inet_pton(AF_INET6, buf, out->base.a) == 1))
				return false;
			out->base.family = AF_INET6;
		} else
			prefix -= 96;
	}
	addr_mask(&out->base, prefix);
	out->prefix = (uint8_t)prefix;
	return true;
}

void
addr_from_sockaddr(const struct sockaddr *sa, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		memcpy(out->a, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		out->family = AF_INET6;
		memcpy(out->a, &sin6->sin6_addr, 16);
		addr_canon(out);
	} else {
		/* Not an IP address: an unspecified IPv6 address, which every
		 * guard refuses. */
		out->family = AF_INET6;
	}
}

socklen_t
addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->a, 4);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->a, 16);
		return sizeof(*sin6);
	}
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->a, b->a, addr_bits(a) / 8) == 0;
}

bool
addr_in_cidr(const struct addr *a, const struct addr_cidr *c)
{
	struct addr m;

	if (a->family != c->base.family || c->prefix > addr_bits(a))
		return false;
	m = *a;
	addr_mask(&m, c->prefix);
	return memcmp(m.a, c->base.a, addr_bits(a) / 8) == 0;
}

const char *
addr_str(const struct addr *a, char *buf, unsigned int len)
{
	if (len == 0)
		return buf;
	if (inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->a, buf,
	    (socklen_t)len) == NULL)
		(void)snprintf(buf, len, "?");
	return buf;
}

/* The guard blocks, in the order they are checked. */
struct addr_guard {
	enum addr_class  cls;
	int              family;
	uint8_t          base[16];
	uint8_t          prefix;
};

static const struct addr_guard addr_guards[] = {
	{ ADDR_LOOPBACK,    AF_INET,  { 127 }, 8 },
	{ ADDR_UNSPECIFIED, AF_INET,  { 0 }, 8 },
	{ ADDR_LINKLOCAL,   AF_INET,  { 169, 254 }, 16 },
	{ ADDR_MULTICAST,   AF_INET,  { 224 }, 4 },
	{ ADDR_BROADCAST,   AF_INET,  { 240 }, 4 },
	{ ADDR_LOOPBACK,    AF_INET6, { [15] = 1 }, 128 },
	{ ADDR_UNSPECIFIED, AF_INET6, { 0 }, 128 },
	{ ADDR_LINKLOCAL,   AF_INET6, { 0xfe, 0x80 }, 10 },
	{ ADDR_MULTICAST,   AF_INET6, { 0xff }, 8 },
};

static bool
addr_guard_contains(const struct addr_guard *g, const struct addr *a)
{
	struct addr_cidr c;

	memset(&c, 0, sizeof(c));
	c.base.family = g->family;
	memcpy(c.base.a, g->base, sizeof(g->base));
	c.prefix = g->prefix;
	return addr_in_cidr(a, &c);
}

/* The IPv4 address embedded in an IPv4-compatible or NAT64 address. */
static bool
addr_embedded4(const struct addr *a, struct addr *v4)
{
	if (a->family != AF_INET6)
		return false;
	if (memcmp(a->a, addr_nat64_prefix, 12) != 0) {
		static const uint8_t zero[12];

		if (memcmp(a->a, zero, 12) != 0)
			return false;
		/* :: and ::1 are themselves */
		if (a->a[12] == 0 && a->a[13] == 0 && a->a[14] == 0 && a->a[15] <= 1)
			return false;
	}
	memset(v4, 0, sizeof(*v4));
	v4->family = AF_INET;
	memcpy(v4->a, a->a + 12, 4);
	return true;
}

bool
addr_class_block(const struct addr *a, struct addr_cidr *block)
{
	struct addr v4;
	size_t i;

	for (i = 0; i < sizeof(addr_guards) / sizeof(addr_guards[0]); i++) {
		const struct addr_guard *g = &addr_guards[i];

		if (addr_guard_contains(g, a)) {
			memset(block, 0, sizeof(*block));
			block->base.family = g->family;
			memcpy(block->base.a, g->base, sizeof(g->base));
			block->prefix = g->prefix;
			return true;
		}
	}
	if (addr_embedded4(a, &v4) && addr_class_block(&v4, block)) {
		/* the IPv4 block, inside the IPv6 prefix that embeds it */
		struct addr_cidr b4 = *block;

		memset(block, 0, sizeof(*block));
		block->base.family = AF_INET6;
		memcpy(block->base.a, a->a, 12);
		memcpy(block->base.a + 12, b4.base.a, 4);
		block->prefix = (uint8_t)(96 + b4.prefix);
		return true;
	}
	return false;
}

enum addr_class
addr_classify(const struct addr *a)
{
	struct addr v4;
	size_t i;

	for (i = 0; i < sizeof(addr_guards) / sizeof(addr_guards[0]); i++)
		if (addr_guard_contains(&addr_guards[i], a))
			return addr_guards[i].cls;
	if (addr_embedded4(a, &v4))
		return addr_classify(&v4);
	return ADDR_NORMAL;
}

const char *
addr_class_name(enum addr_class c)
{
	switch (c) {
	case ADDR_NORMAL:
		return "normal";
	case ADDR_LOOPBACK:
		return "loopback";
	case ADDR_UNSPECIFIED:
		return "unspecified";
	case ADDR_LINKLOCAL:
		return "link-local";
	case ADDR_MULTICAST:
		return "multicast";
	case ADDR_BROADCAST:
		return "broadcast";
	}
	return "?";
}
