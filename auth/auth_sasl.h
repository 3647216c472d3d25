/* auth_sasl: SASL for both sides of a hop, over Cyrus libsasl2.
 *
 * No BEEP and no libevent here: the BEEP SASL profile code (channel-0 XML,
 * <blob> elements, reply codes on the wire) sits on top of this interface.
 *
 * Threading: libsasl2's default mutexes are no-ops.  Every function here must
 * be called from the one thread that runs the event loop.
 *
 * Secrets: passwords are never logged at any level.  libsasl2 log lines of
 * level TRACE and PASS (which may carry them) are dropped; client secrets are
 * kept in one private copy that is wiped as soon as the exchange ends.
 *
 * Server side, per session:
 *	s = auth_sasl_server_new(...);
 *	n = auth_sasl_server_mechs(s, names, max);   // what the greeting offers
 *	r = auth_sasl_server_start(s, mech, in, inlen, have_in, &out, &outlen);
 *	while (r == AUTH_SASL_CONTINUE)               // send out as <blob>
 *		r = auth_sasl_server_step(s, in, inlen, &out, &outlen);
 *	OK:   send out (maybe empty) as <blob status='complete'>
 *	FAIL: send auth_sasl_server_code(s) / auth_sasl_server_error(s); log
 *	      auth_sasl_server_reason(s) privately.  A new start is allowed.
 *
 * Client side (the relay authenticating to the next hop):
 *	c = auth_sasl_client_new(host, &creds, err, errlen);
 *	r = auth_sasl_client_start(c, offered, noffered, &mech, &out, &outlen, &have_out);
 *	// <start> with profile .../SASL/mech, a <blob> only when have_out
 *	on a challenge <blob>:                   r = auth_sasl_client_step(c, ...);
 *	on <blob status='complete'> (with data or none): r = auth_sasl_client_complete(c, ...);
 *	Only AUTH_SASL_OK from auth_sasl_client_complete() means the next hop
 *	accepted us *and* (for SCRAM, DIGEST-MD5) proved it knows our secret.
 */
#ifndef AUTH_AUTH_SASL_H
#define AUTH_AUTH_SASL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SASL_APPNAME      "beepgate"  /* sasldb entries: saslpasswd2 -a beepgate */
#define AUTH_SASL_SERVICE      "beep"      /* SASL service name (DIGEST-MD5 digest-uri) */
#define AUTH_SASL_DEFAULT_MECH "SCRAM-SHA-256"
#define AUTH_SASL_MECHS_MAX    16      /* fixed: mechanisms configured / offered */
#define AUTH_SASL_MECH_NAME_MAX 20     /* fixed: RFC 4422 3.1: 1-20 characters */
#define AUTH_SASL_DATA_MAX     4096    /* fixed: one decoded SASL message (fits channel 0) */
#define AUTH_SASL_USER_MAX     256     /* fixed: authenticated identity length */
#define AUTH_SASL_SECRET_MAX   1024    /* fixed: client password length */
#define AUTH_SASL_ERR_MAX      256     /* fixed: error/reason text buffers */

/* Base64 sizes: text for n octets (with the NUL sasl_encode64 writes), and the
 * decoded size of n characters of text (with the NUL sasl_decode64 writes). */
#define AUTH_SASL_B64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)
#define AUTH_SASL_B64_DECODED_SIZE(n) ((n) / 4 * 3 + 3)
/* Longest base64 text accepted for one message (whitespace excluded). */
#define AUTH_SASL_B64_TEXT_MAX (AUTH_SASL_B64_ENCODED_SIZE(AUTH_SASL_DATA_MAX) - 1)

enum auth_sasl_result {
	AUTH_SASL_CONTINUE,     /* send/await another round */
	AUTH_SASL_OK,           /* authenticated */
	AUTH_SASL_FAIL          /* failed; see the error accessors */
};

/* ---- process-wide ---- */

/* Server settings, normally from the configuration's sasl { } block. */
struct auth_sasl_settings {
	const char         *database;        /* sasldb file, required */
	const char         *realm;           /* user realm; NULL: none (see below) */
	const char *const  *mechs;           /* upper-case names; NULL/0: SCRAM-SHA-256 */
	size_t              nmechs;
	bool                allow_plaintext; /* PLAIN/LOGIN without TLS */
	bool                anonymous;       /* offer ANONYMOUS (never grants a tunnel) */
};

/* Initializes libsasl2 (server and client) on the first call; later calls
 * (configuration reload) only replace the settings, which then apply to
 * sessions created afterwards; live sessions keep the settings they started
 * with.  Checks that the database is readable and that every mechanism is
 * known to libsasl2.  On error returns -1, leaves the previous settings in
 * place and writes a message to err ("SASL user database /x: No such file
 * or directory").  ANONYMOUS is enabled by `anonymous`, not by `mechs`. */
int auth_sasl_init(const struct auth_sasl_settings *set, char *err, size_t errlen);

/* Initializes only the client side (a tool that authenticates to a relay). */
int auth_sasl_client_init(char *err, size_t errlen);

/* Frees every global libsasl2 resource (sasl_client_done, sasl_server_done).
 * All sessions must have been freed. */
void auth_sasl_done(void);

/* ---- server ---- */

struct auth_sasl_server;

/* A server session.  fqdn: this host's name for DIGEST-MD5 (NULL: the host
 * name); local_addr/remote_addr: "IP;PORT" strings or NULL; ssf_external: bits
 * of TLS protecting the transport (0: none); external_id: the verified TLS
 * client certificate identity, or NULL.  NULL on error (message in err). */
struct auth_sasl_server *auth_sasl_server_new(const char *fqdn,
    const char *local_addr, const char *remote_addr, unsigned ssf_external,
    const char *external_id, char *err, size_t errlen);
void auth_sasl_server_free(struct auth_sasl_server *s);   /* NULL: no-op */

/* The mechanisms that may succeed on this session, in configured order: the
 * configured list as libsasl2 allows it here (PLAIN/LOGIN only with TLS or
 * allow_plaintext; EXTERNAL only with an external id), ANONYMOUS last when
 * enabled.  Fills up to max names (owned by s) and returns the count. */
size_t auth_sasl_server_mechs(const struct auth_sasl_server *s,
    const char **names, size_t max);
bool auth_sasl_server_offers(const struct auth_sasl_server *s, const char *mech);

/* Starts an exchange.  have_in false: no initial response (clientin NULL);
 * have_in true with inlen 0: an empty initial response (they differ).  *out /
 * *outlen: a challenge (CONTINUE) or final server data (OK, may be empty),
 * valid until the next call on s.  A mechanism not offered fails. */
enum auth_sasl_result auth_sasl_server_start(struct auth_sasl_server *s,
    const char *mech, const uint8_t *in, size_t inlen, bool have_in,
    const uint8_t **out, size_t *outlen);
/* A client response to the last challenge (only after CONTINUE). */
enum auth_sasl_result auth_sasl_server_step(struct auth_sasl_server *s,
    const uint8_t *in, size_t inlen, const uint8_t **out, size_t *outlen);
/* The client aborted (status='abort'): back to idle, nothing authenticated. */
void auth_sasl_server_abort(struct auth_sasl_server *s);

/* After FAIL: a public message and a BEEP reply code (RFC 3080 8) for the
 * peer.  Unknown user, wrong password and refused authorization identity
 * all give code 535 "authentication failed".  The private reason (for the
 * log only; no secrets, may name the user) says what really happened. */
int auth_sasl_server_code(const struct auth_sasl_server *s);
const char *auth_sasl_server_error(const struct auth_sasl_server *s);
const char *auth_sasl_server_reason(const struct auth_sasl_server *s);

/* After OK.  The user is libsasl2's canonical name with "@REALM" removed when
 * REALM is the configured realm (so policy names users as in saslpasswd2:
 * "alice"); a name in another realm keeps its "@realm".  EXTERNAL yields the
 * certificate identity; ANONYMOUS yields "anonymous". */
bool auth_sasl_server_authenticated(const struct auth_sasl_server *s);
const char *auth_sasl_server_user(const struct auth_sasl_server *s);  /* NULL before OK */
const char *auth_sasl_server_mech(const struct auth_sasl_server *s);  /* NULL before OK */
bool auth_sasl_server_anonymous(const struct auth_sasl_server *s);
/* True only for an authenticated, non-anonymous identity. */
bool auth_sasl_server_may_tunnel(const struct auth_sasl_server *s);

/* ---- client ---- */

struct auth_sasl_client_creds {
	const char     *user;            /* authentication identity; NULL for EXTERNAL only */
	const uint8_t  *secret;          /* password octets (no NUL needed); NULL: none */
	size_t          secretlen;
	const char     *external_id;     /* our TLS client certificate identity, or NULL */
	unsigned        ssf_external;    /* bits of TLS protecting this hop, 0: none */
	bool            allow_plaintext; /* PLAIN/LOGIN without TLS */
};

struct auth_sasl_client;

/* host: the next hop's name (DIGEST-MD5 digest-uri).  The secret is copied
 * (the caller should wipe its own). */
struct auth_sasl_client *auth_sasl_client_new(const char *host,
    const struct auth_sasl_client_creds *creds, char *err, size_t errlen);
void auth_sasl_client_free(struct auth_sasl_client *c);   /* NULL: no-op; wipes */

/* Picks the best offered mechanism we can use: SCRAM-SHA-256, the other
 * SCRAM-SHA-*, DIGEST-MD5, CRAM-MD5, EXTERNAL (only with a certificate),
 * PLAIN and LOGIN (only with TLS or allow_plaintext); never ANONYMOUS.
 * *mech is the chosen name; *have_out says whether there is an initial
 * response (it may be empty).  CONTINUE on success, FAIL when nothing fits. */
enum auth_sasl_result auth_sasl_client_start(struct auth_sasl_client *c,
    const char *const *offered, size_t noffered, const char **mech,
    const uint8_t **out, size_t *outlen, bool *have_out);
/* A challenge from the next hop: CONTINUE with the response to send (may be
 * empty, send it anyway), or FAIL. */
enum auth_sasl_result auth_sasl_client_step(struct auth_sasl_client *c,
    const uint8_t *in, size_t inlen, const uint8_t **out, size_t *outlen);
/* The next hop said status='complete' with data (have_in) or without.  The
 * data (SCRAM "v=", DIGEST-MD5 "rspauth=") is verified: OK only when the
 * mechanism finished and the server proved itself; a bad SCRAM signature
 * fails with "next hop failed SCRAM server verification". */
enum auth_sasl_result auth_sasl_client_complete(struct auth_sasl_client *c,
    const uint8_t *in, size_t inlen, bool have_in);
/* The message after FAIL (never contains the secret). */
const char *auth_sasl_client_error(const struct auth_sasl_client *c);

/* Reads a client secret file: must be a regular file not accessible by group
 * or others; one trailing newline (LF or CRLF) is removed.  0 or -1 + err. */
int auth_sasl_secret_load(const char *path, uint8_t *buf, size_t bufsize,
    size_t *len, char *err, size_t errlen);

/* ---- base64 for <blob> ---- */

/* Encodes inlen octets into out (outsize >= AUTH_SASL_B64_ENCODED_SIZE(inlen)),
 * NUL-terminated; *outlen excludes the NUL.  0 or -1. */
int auth_sasl_b64_encode(const uint8_t *in, size_t inlen, char *out,
    size_t outsize, size_t *outlen);
/* Decodes base64 text (whitespace ignored, at most AUTH_SASL_B64_TEXT_MAX
 * characters otherwise) into out (outsize >= AUTH_SASL_B64_DECODED_SIZE(inlen)).
 * -1 with *err set ("invalid base64", "truncated base64", ...) on bad input. */
int auth_sasl_b64_decode(const char *in, size_t inlen, uint8_t *out,
    size_t outsize, size_t *outlen, const char **err);
#endif
