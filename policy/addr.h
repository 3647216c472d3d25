/* addr: canonical addresses, CIDR blocks and the built-in address guards.
 * Pure code: no sockets are opened, no names resolved. */
#ifndef POLICY_ADDR_H
#define POLICY_ADDR_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address in canonical form: IPv4 is always AF_INET (an IPv4-mapped IPv6
 * address is turned into its IPv4 form), bytes in network order. */
struct addr {
	int     family;          /* AF_INET or AF_INET6 */
	uint8_t a[16];           /* 4 or 16 bytes used */
};

struct addr_cidr {
	struct addr base;        /* host bits cleared */
	uint8_t     prefix;      /* 0..32 or 0..128 */
};

/* Strict literal parsing, as for the TUNNEL ip4/ip6 attributes and the
 * configuration: dotted-quad only ("127.1", "0x7f.1", "017.0.0.1" and
 * decimal "2130706433" are rejected).  ip6 accepts RFC 4291 text forms. */
bool addr_parse_ip4(const char *s, struct addr *out);
bool addr_parse_ip6(const char *s, struct addr *out);
bool addr_parse(const char *s, struct addr *out);  /* either */

/* Lenient parsing as inet_aton(3) and the C library resolvers accept it
 * ("127.1", "0x7f000001", "017700000001", "2130706433"): used to recognise
 * a host name that a resolver would treat as a numeric address, so that
 * policy sees through every spelling.  Returns false when s is not numeric. */
bool addr_parse_loose(const char *s, struct addr *out);

/* "10.0.0.0/8", "2001:db8::/32", or a plain address (full-length prefix). */
bool addr_parse_cidr(const char *s, struct addr_cidr *out);

void addr_from_sockaddr(const struct sockaddr *sa, struct addr *out);
/* Fills a sockaddr_in/in6 with the address and port; returns its length. */
socklen_t addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss);
bool addr_equal(const struct addr *a, const struct addr *b);
bool addr_in_cidr(const struct addr *a, const struct addr_cidr *c);
/* Canonical text ("192.0.2.1", "2001:db8::1") */
const char *addr_str(const struct addr *a, char *buf, unsigned int len);

/* The built-in guards: address classes refused unless a rule names them. */
enum addr_class {
	ADDR_NORMAL = 0,
	ADDR_LOOPBACK,           /* 127/8, ::1 */
	ADDR_UNSPECIFIED,        /* 0/8, :: */
	ADDR_LINKLOCAL,          /* 169.254/16 (incl. 169.254.169.254), fe80::/10 */
	ADDR_MULTICAST,          /* 224/4, ff00::/8 */
	ADDR_BROADCAST,          /* 255.255.255.255 and 240/4 reserved */
};
enum addr_class addr_classify(const struct addr *a);
/* The guard block holding a (127.0.0.0/8, fe80::/10, ...); false when a is
 * ADDR_NORMAL.  A rule unlocks a guard only with a CIDR inside this block.
 * IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses are
 * classified by the IPv4 address they embed; their block is the IPv4 block
 * under that IPv6 prefix. */
bool addr_class_block(const struct addr *a, struct addr_cidr *block);
const char *addr_class_name(enum addr_class c);
#endif
