/* tlsconn: implicit TLS (from the first byte) on a relay socket, with
 * OpenSSL 3 directly over the non-blocking descriptor.
 *
 * A TLS profile (struct conf_tls) gives one context per role, built when the
 * configuration is loaded: TLS 1.2 and later, ECDHE with AES-GCM or
 * ChaCha20-Poly1305 (TLS 1.2) and OpenSSL's TLS 1.3 suites.  (RFC 4767's
 * TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA is compiled out of Debian's OpenSSL and
 * is not offered.)  Renegotiation is off.
 *  - server (listeners): certificate + key; with verify-client a client
 *    certificate is requested and verified against `ca`, with require it
 *    must be present.
 *  - client (routes): the next hop's certificate is always verified (against
 *    `ca`, else the system's CAs) and must name verify-name or the route's
 *    host (DNS name or IP address); a certificate + key are presented when
 *    the profile has them.
 *
 * A connection first runs its handshake (tlsconn_accept/tlsconn_connect, the
 * callback says how it ended), then moves bytes through tlsconn_read/write/
 * shutdown_write, which have the semantics of struct pump_endpoint_ops (so a
 * tlsconn is also a pump endpoint: tlsconn_pump_ops).  A peer that closes
 * without close_notify is taken as an ordinary end of stream: the bytes it
 * carries are end-to-end protected by the tunnelled protocol's own TLS. */
#ifndef RELAY_TLSCONN_H
#define RELAY_TLSCONN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relay/config.h"

struct event_base;
struct tlsconn_ctx;
struct tlsconn;
struct pump_endpoint_ops;

#define TLSCONN_ID_MAX   256   /* fixed: a peer identity (certificate CN) */
#define TLSCONN_ERR_MAX  256   /* fixed: error texts */

/* Builds the context of a profile for one role (server: a listener).
 * NULL with a message in err ("certificate /x: ...", "key does not match
 * the certificate", ...). */
struct tlsconn_ctx *tlsconn_ctx_new(const struct conf_tls *t, bool server, char *err,
                                    size_t errlen);
void tlsconn_ctx_free(struct tlsconn_ctx *x);     /* NULL: no-op */

/* Builds the contexts a configuration uses: a server context for each
 * profile a listener names, a client context for each one a route names.
 * old (the running generation, or NULL): a profile of the same name and the
 * same settings keeps its loaded context, so a reload made after the
 * privilege drop does not need to read root's key files again; a changed
 * profile is loaded anew.  Reports "file:line: tls profile \"x\": why" for
 * each failure and returns their count. */
int tlsconn_prepare(struct config *c, const struct config *old, config_report_fn *report,
                    void *arg);

/* Called once when the handshake ends: err NULL on success, else why it
 * failed (the connection must then be freed). */
typedef void tlsconn_done_fn(void *arg, struct tlsconn *t, const char *err);

/* Starts the server / client handshake on fd (connected, non-blocking; not
 * taken: the owner closes it).  name: the name or address the next hop's
 * certificate must carry (client only).  The callback never runs from inside
 * these calls.  NULL when out of memory. */
struct tlsconn *tlsconn_accept(struct event_base *base, int fd, struct tlsconn_ctx *x,
                               tlsconn_done_fn *done, void *arg);
struct tlsconn *tlsconn_connect(struct event_base *base, int fd, struct tlsconn_ctx *x,
                                const char *name, tlsconn_done_fn *done, void *arg);

/* After a successful handshake.  read: bytes, 0 at the end of the stream, or
 * -1 with errno (EAGAIN: *want is the readiness to wait for).  It also
 * returns -1/EAGAIN only once nothing decrypted is left inside. */
ssize_t tlsconn_read(struct tlsconn *t, uint8_t *buf, size_t len, short *want);
ssize_t tlsconn_write(struct tlsconn *t, const uint8_t *buf, size_t len, short *want);
/* close_notify, then shutdown(SHUT_WR).  0, or -1 with errno as above. */
int tlsconn_shutdown_write(struct tlsconn *t, short *want);
/* Decrypted bytes waiting inside (read them before waiting on the fd). */
bool tlsconn_pending(const struct tlsconn *t);

/* The verified peer certificate's subject common name, or NULL (no
 * certificate, or not verified, or no CN). */
const char *tlsconn_peer_id(const struct tlsconn *t);
/* Bits of the negotiated cipher (for SASL's external security strength). */
unsigned tlsconn_bits(const struct tlsconn *t);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for the log. */
const char *tlsconn_describe(const struct tlsconn *t, char *buf, size_t len);

/* Endpoint operations for the pump: ctx is the struct tlsconn (freed by the
 * pump), the fd is the one the connection was made on. */
extern const struct pump_endpoint_ops tlsconn_pump_ops;

void tlsconn_free(struct tlsconn *t);      /* NULL: no-op; does not close the fd */
#endif
