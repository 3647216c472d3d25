/* idxp_io: blocking driver of a beep_session, plain or TLS. */
#include "idxp_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "relay/config.h"

uint64_t
idxp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
idxp_ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
}

SSL_CTX *
idxp_tls_ctx(bool server, const char *ca, const char *cert, const char *key, char *err,
             size_t errlen)
{
	SSL_CTX *ctx;

	if (ca == NULL || cert == NULL || key == NULL) {
		snprintf(err, errlen, "TLS needs --ca, --cert and --key (mutual verification)");
		return NULL;
	}
	if (config_check_private("TLS key", key, err, errlen) != 0)
		return NULL;
	if ((ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) == NULL) {
		idxp_ssl_err(err, errlen, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* TLS 1.2: forward-secret AEAD suites only; 1.3: OpenSSL's defaults */
	if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		idxp_ssl_err(err, errlen, ca);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		idxp_ssl_err(err, errlen, cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		idxp_ssl_err(err, errlen, key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

void
idxp_tls_peer_cn(SSL *ssl, char *out, size_t size)
{
	X509 *x = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;

	out[0] = '\0';
	if (x == NULL)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
	    (int)size) < 0)
		out[0] = '\0';
	X509_free(x);
}

static ssize_t
idxp_write(struct idxp_io *io, const uint8_t *p, size_t n)
{
	int r;

	if (io->ssl == NULL)
		return write(io->fd, p, n);
	r = SSL_write(io->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r <= 0) {
		int e = SSL_get_error(io->ssl, r);

		/* (an alert from the peer, or its close right after one) */
		io->tls_failed = e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL;
		idxp_ssl_err(io->err, sizeof(io->err), "TLS write");
		errno = EIO;
		return -1;
	}
	return r;
}

int
idxp_io_flush(struct idxp_io *io)
{
	const uint8_t *p;
	size_t n;
	ssize_t w;

	while ((p = beep_session_output(io->bs, &n)) != NULL && n > 0) {
		w = idxp_write(io, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (io->ssl == NULL)
				snprintf(io->err, sizeof(io->err), "write: %s", strerror(errno));
			return -1;
		}
		beep_session_output_done(io->bs, (size_t)w);
	}
	return 0;
}

static int
idxp_feed(struct idxp_io *io, const uint8_t *buf, size_t n)
{
	size_t used = 0;

	switch (beep_session_input(io->bs, buf, n, &used)) {
	case BEEP_IN_OK:
		return 0;
	case BEEP_IN_DETACHED:
		if (used != n) {
			snprintf(io->err, sizeof(io->err), "the peer sent %zu octets before the "
			    "TLS handshake", n - used);
			return -1;
		}
		return 0;
	case BEEP_IN_DONE:
		return 0;
	}
	return 0;
}

int
idxp_io_step(struct idxp_io *io, int timeout_ms)
{
	uint8_t buf[IDXP_IO_READ];
	struct pollfd pfd = { .fd = io->fd, .events = POLLIN };
	ssize_t r;
	int pr;

	if (idxp_io_flush(io) != 0)
		return -1;
	if (io->nrest > 0) {
		size_t n = io->nrest;
		uint8_t *p = io->rest;

		io->rest = NULL;
		io->nrest = 0;
		pr = idxp_feed(io, p, n);
		free(p);
		if (pr != 0)
			return -1;
		return idxp_io_flush(io) == 0 ? 1 : -1;
	}
	if (io->ssl == NULL || SSL_pending(io->ssl) == 0) {
		pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			return 0;
		if (pr < 0) {
			snprintf(io->err, sizeof(io->err), "poll: %s", strerror(errno));
			return -1;
		}
		if (pr == 0)
			return 0;
	}
	if (io->ssl != NULL) {
		int sr = SSL_read(io->ssl, buf, sizeof(buf));

		if (sr <= 0) {
			int e = SSL_get_error(io->ssl, sr);

			if (e == SSL_ERROR_ZERO_RETURN)
				snprintf(io->err, sizeof(io->err), "the peer closed the TLS session");
			else {
				io->tls_failed = e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL;
				idxp_ssl_err(io->err, sizeof(io->err), "TLS read");
			}
			beep_session_eof(io->bs);
			return -1;
		}
		r = sr;
	} else {
		r = read(io->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			return 0;
		if (r <= 0) {
			snprintf(io->err, sizeof(io->err), "%s",
			    r == 0 ? "the peer closed the connection" : strerror(errno));
			beep_session_eof(io->bs);
			return -1;
		}
	}
	if (idxp_feed(io, buf, (size_t)r) != 0)
		return -1;
	return idxp_io_flush(io) == 0 ? 1 : -1;
}

int
idxp_io_until(struct idxp_io *io, bool (*done)(void *), void *arg, uint64_t deadline)
{
	uint64_t now;
	enum beep_session_state st;

	for (;;) {
		if (done(arg))
			return idxp_io_flush(io);
		st = beep_session_state(io->bs);
		if (st == BEEP_SS_FAILED || st == BEEP_SS_RELEASED) {
			if (io->err[0] == '\0')
				snprintf(io->err, sizeof(io->err), "BEEP session ended: %s",
				    st == BEEP_SS_FAILED ? beep_session_reason(io->bs) : "released");
			return -1;
		}
		now = idxp_now_ms();
		if (now >= deadline) {
			snprintf(io->err, sizeof(io->err), "timed out");
			return -1;
		}
		if (idxp_io_step(io, (int)(deadline - now)) < 0)
			return -1;
	}
}

int
idxp_io_starttls(struct idxp_io *io, SSL_CTX *ctx, bool server, const char *server_name)
{
	int r;

	if (idxp_io_flush(io) != 0)
		return -1;
	if ((io->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(io->ssl, io->fd) != 1) {
		idxp_ssl_err(io->err, sizeof(io->err), "TLS");
		return -1;
	}
	if (!server && server_name != NULL) {
		SSL_set_tlsext_host_name(io->ssl, server_name);
		if (SSL_set1_host(io->ssl, server_name) != 1) {
			idxp_ssl_err(io->err, sizeof(io->err), "TLS peer name");
			return -1;
		}
	}
	r = server ? SSL_accept(io->ssl) : SSL_connect(io->ssl);
	if (r != 1) {
		long v = SSL_get_verify_result(io->ssl);

		if (v != X509_V_OK)
			snprintf(io->err, sizeof(io->err), "TLS handshake: peer certificate "
			    "not accepted (%s)", X509_verify_cert_error_string(v));
		else
			idxp_ssl_err(io->err, sizeof(io->err), "TLS handshake");
		return -1;
	}
	return 0;
}
