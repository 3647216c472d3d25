/* catalog: the service catalog.  Named services shared by TUNNEL endpoint= and
 * profile= (RFC 3620 sec. 2.5-2.6) and TCPMUX names (RFC 1078), and the routes
 * to next-hop relays they may go through.  Internal names and addresses stay
 * here: what crosses the wire is only what a route says to send onward. */
#ifndef POLICY_CATALOG_H
#define POLICY_CATALOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_tls;

enum catalog_kind {
	SVC_BEEP,        /* the relay's own BEEP/TUNNEL engine (TCPMUX only) */
	SVC_CONNECT,     /* a direct backend: host + port (also a local "final") */
	SVC_ROUTE,       /* onward through a next-hop relay */
};

/* Who sends the TCPMUX "+": the relay once its backend is connected, or the
 * backend itself (RFC 1078 lets the service answer). */
enum catalog_ack { ACK_RELAY = 0, ACK_BACKEND };

/* What a route asks of the next hop. */
enum catalog_next_kind {
	NEXT_ENDPOINT,   /* <tunnel endpoint='value'/> */
	NEXT_PROFILE,    /* <tunnel profile='value'/> */
	NEXT_HOST,       /* <tunnel fqdn|ip4|ip6='value' port='port'> [<tunnel/>] */
	NEXT_EMPTY,      /* <tunnel/>: the next hop's own final service */
	NEXT_TCPMUX,     /* the next relay's TCPMUX port: send "value\r\n" */
};

struct catalog_next {
	enum catalog_next_kind kind;
	char    *value;
	uint16_t port;
	bool     beep;   /* NEXT_HOST: the final host speaks BEEP (nest <tunnel/>) */
};

struct catalog_service {
	char              *name;       /* matched case-insensitively */
	char              *file;
	int                line;
	enum catalog_kind  kind;
	char              *host;       /* SVC_CONNECT: address or name */
	uint16_t           port;
	char              *route;      /* SVC_ROUTE: catalog_route name */
	struct catalog_next next;      /* SVC_ROUTE */
	/* How clients may name it; a service not named any way is unreachable. */
	bool               as_endpoint;
	bool               as_profile; /* name is then a profile URI */
	bool               as_tcpmux;
	bool               as_final;   /* answers an empty <tunnel/> */
	enum catalog_ack   ack;
	char              *description;
};

struct catalog_route {
	char            *name;
	char            *file;
	int              line;
	char            *host;         /* the next relay */
	uint16_t         port;
	bool             tcpmux;       /* reach it through its TCPMUX port */
	char            *user;         /* SASL credentials toward it, or NULL */
	char            *secret_file;
	char            *secret;       /* loaded from secret_file (never logged) */
	struct conf_tls *tls;          /* implicit TLS toward it, or NULL; a named
	                                * profile owned by the configuration
	                                * (config.tls), not by the route */
};

struct catalog {
	struct catalog_service *services;
	size_t                  nservices;
	struct catalog_route   *routes;
	size_t                  nroutes;
};

/* Look-ups by how the client named it; NULL when unknown or not reachable
 * that way.  Names compare case-insensitively. */
const struct catalog_service *catalog_find_endpoint(const struct catalog *c, const char *name);
const struct catalog_service *catalog_find_profile(const struct catalog *c, const char *uri);
const struct catalog_service *catalog_find_tcpmux(const struct catalog *c, const char *name);
const struct catalog_service *catalog_find_final(const struct catalog *c);
const struct catalog_route   *catalog_find_route(const struct catalog *c, const char *name);

/* Frees what the catalog holds (not the struct itself, nor the routes' TLS
 * profiles); each route secret is wiped before it is freed.  The catalog is
 * left empty.  NULL is a no-op. */
void catalog_free(struct catalog *c);
#endif
