/* session: one client connection from accept to close.  Every session ends
 * in session_close(s, reason), which cancels what it owns, closes both
 * descriptors, updates the counters and logs one summary line:
 *   session=ID src=ADDR user=U dst=D in=N out=N duration=S reason=R
 * ("in" counts client-to-destination octets, "out" the other way). */
#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "policy/addr.h"
#include "relay/config.h"

struct server;
struct listener;
struct event;
struct connector;
struct pump;
struct tlsconn;
struct pump_endpoint_ops;

enum session_state {
	SESSION_ACCEPTED,      /* just accepted */
	SESSION_TCPMUX,        /* reading the TCPMUX service line */
	SESSION_BEEP,          /* BEEP greeting / SASL / TUNNEL set-up */
	SESSION_CONNECTING,    /* connecting toward the destination */
	SESSION_NEXTHOP,       /* BEEP with the next hop (chained TUNNEL) */
	SESSION_PUMPING,       /* opaque byte pipe */
	SESSION_CLOSED,
};

struct session;
/* Connects toward host:port for this session and then calls done. */
typedef void session_connected_fn(struct session *s, int fd, int result);

struct session {
	TAILQ_ENTRY(session) entry;
	struct server      *srv;
	struct config      *conf;        /* generation this session started with */
	uint64_t            id;
	enum session_state  state;
	enum listener_kind  kind;
	int                 cfd;         /* client socket */
	int                 sfd;         /* destination socket, -1 until connected */
	struct addr         src;
	uint16_t            sport;
	struct addr         local;       /* address the client connected to */
	uint16_t            lport;
	struct timespec     started;
	struct event       *deadline;    /* total set-up deadline */
	struct connector   *connector;
	void               *connector_arg;
	struct pump        *pump;
	/* TLS on the client socket (a TLS listener) and on the destination
	 * socket (a TLS route), or NULL; the pump takes them for the data phase */
	struct tlsconn     *tls[2];
	const struct conf_listener *lconf; /* the listener's configuration, or NULL */
	char               *cert;        /* verified client certificate identity, or NULL */
	session_connected_fn *tls_done; /* a TLS route's handshake: then this */
	char               *user;        /* authenticated identity, or NULL */
	char                dst[160];    /* destination as logged */
	uint64_t            bytes_c2s, bytes_s2c;
	bool                counted_source; /* holds a per-source slot */
	bool                counted_global; /* holds a max-sessions slot */
	void               *proto;       /* protocol state (tcpmux, beep) */
	void              (*proto_free)(void *);
	/* called when the set-up deadline fires, before the close */
	void              (*on_deadline)(struct session *);
};

/* Takes fd in every case; NULL when the session is already gone (refused
 * by a limit, or out of memory). */
struct session *session_new(struct server *srv, struct listener *l, int fd,
                            const struct sockaddr *sa);
void session_set_state(struct session *s, enum session_state st);
const char *session_state_name(enum session_state st);

/* Starts the total set-up deadline (handshake timeout); ends with
 * session_close(s, "handshake timeout") unless cleared first. */
void session_arm_deadline(struct session *s, unsigned ms);
void session_clear_deadline(struct session *s);

/* Connects toward host:port for this session and then calls done. */
int session_connect(struct session *s, const char *host, uint16_t port,
                    session_connected_fn *done);
/* The same with a policy check asked about every resolved address right
 * before connect() (arg: the session); NULL checks nothing. */
#include "relay/connector.h"
int session_connect_checked(struct session *s, const char *host, uint16_t port,
                            connector_check_fn *check, session_connected_fn *done);

/* The same toward a next hop: with tls (a route's profile, or NULL), TLS is
 * set up on the connected socket first, verifying that the certificate names
 * `name`; a failed handshake ends as CONNECTOR_TLS. */
int session_connect_tls(struct session *s, const char *host, uint16_t port,
                        const struct conf_tls *tls, const char *name,
                        connector_check_fn *check, session_connected_fn *done);

/* I/O on the client (side 0) or destination (side 1) socket, through TLS
 * when that side has it: the semantics of struct pump_endpoint_ops. */
ssize_t session_read(struct session *s, int side, uint8_t *buf, size_t len, short *want);
/* Best effort, for short replies on a fresh connection: the bytes the
 * socket takes now. */
void session_write(struct session *s, int side, const uint8_t *buf, size_t len);
/* The endpoint operations of a side (NULL: a plain socket) and their ctx. */
const struct pump_endpoint_ops *session_endpoint(struct session *s, int side, void **ctx);

/* "127.0.0.1:40112" / "[::1]:40112" */
const char *session_src(const struct session *s, char *buf, size_t len);
/* One audit line for a policy decision about this session. */
struct policy_request;
struct policy_decision;
void session_audit(const struct session *s, const struct policy_request *req,
                   const struct policy_decision *dec);

/* Hands the two sockets to the opaque pump; pre_c2s/pre_s2c are bytes already
 * read from the client/destination that must be delivered first. */
int session_start_pump(struct session *s, const uint8_t *pre_c2s, size_t n_c2s,
                       const uint8_t *pre_s2c, size_t n_s2c);

void session_close(struct session *s, const char *reason);
#endif
