/* idxp_io: drives one beep_session over a blocking socket, in the clear or
 * in TLS (OpenSSL), for the two roles of idxp-peer.  One connection per
 * process: simple blocking I/O with poll() deadlines is all it needs. */
#ifndef IDXP_IO_H
#define IDXP_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tunnel/beep_session.h"

#define IDXP_TLS_URI   "http://iana.org/beep/TLS"
#define IDXP_IO_READ   16384          /* fixed: octets read at once */
#define IDXP_ERR_MAX   256

struct idxp_io {
	int                  fd;
	SSL                 *ssl;          /* NULL: in the clear */
	struct beep_session *bs;
	uint8_t             *rest;         /* input read before the session (owned) */
	size_t               nrest;
	char                 err[IDXP_ERR_MAX];
	bool                 tls_failed;   /* a TLS-level error (an alert), not EOF */
};

/* TLS 1.2 or later, peer certificate required and verified against ca;
 * our certificate and key (the key file must not be readable by others).
 * NULL and err on failure. */
SSL_CTX *idxp_tls_ctx(bool server, const char *ca, const char *cert, const char *key,
                      char *err, size_t errlen);
/* The subject CN of the verified peer certificate, or "" */
void idxp_tls_peer_cn(SSL *ssl, char *out, size_t size);

/* Writes everything the session has queued.  0 or -1 (io->err). */
int idxp_io_flush(struct idxp_io *io);
/* Flushes, then waits up to timeout_ms for input and feeds it to the
 * session.  Returns 1 after input, 0 on timeout, -1 on EOF/error (io->err).
 * When the session detaches, bytes after the pipe point are an error (TLS
 * starts only after our side of the exchange). */
int idxp_io_step(struct idxp_io *io, int timeout_ms);
/* Steps until done(arg) is true, the session ends, or the deadline
 * (monotonic ms) passes.  0 when done, -1 otherwise (io->err). */
int idxp_io_until(struct idxp_io *io, bool (*done)(void *), void *arg, uint64_t deadline);
/* TLS over io->fd after a detach: client (server_name may be NULL) or
 * server.  0 or -1 (io->err). */
int idxp_io_starttls(struct idxp_io *io, SSL_CTX *ctx, bool server, const char *server_name);
uint64_t idxp_now_ms(void);
#endif
