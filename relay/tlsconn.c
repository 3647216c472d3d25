#include "relay/tlsconn.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/addr.h"
#include "relay/config.h"
#include "relay/pump.h"

/* TLS 1.2 suites (TLS 1.3 keeps OpenSSL's default three). */
#define TLSCONN_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

struct tlsconn_ctx {
	SSL_CTX *ssl;
	bool     server;
};

enum tlsconn_state {
	TLSCONN_HANDSHAKE,
	TLSCONN_OPEN,
	TLSCONN_FAILED,
};

struct tlsconn {
	SSL                *ssl;
	int                 fd;
	struct event       *ev;
	enum tlsconn_state  state;
	tlsconn_done_fn    *done;
	void               *arg;
	bool                has_peer;
	char                peer[TLSCONN_ID_MAX];
	char                err[TLSCONN_ERR_MAX];
};

/* The most specific OpenSSL error queued, then clears the queue. */
static void
tlsconn_sslerr(char *err, size_t errlen, const char *what)
{
	unsigned long e, last = 0;
	char buf[200];

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0) {
		snprintf(err, errlen, "%s", what);
		return;
	}
	ERR_error_string_n(last, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
}

struct tlsconn_ctx *
tlsconn_ctx_new(const struct conf_tls *t, bool server, char *err, size_t errlen)
{
	struct tlsconn_ctx *x;
	SSL_CTX *c;
	char what[300];

	ERR_clear_error();
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) == NULL) {
		free(x);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->ssl = c;
	x->server = server;
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLSCONN_CIPHERS) != 1) {
		tlsconn_sslerr(err, errlen, "TLS protocol settings");
		goto fail;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                    (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	if (server)
		SSL_CTX_set_num_tickets(c, 0);
	if (t->cert != NULL) {
		snprintf(what, sizeof(what), "certificate %s", t->cert);
		if (SSL_CTX_use_certificate_chain_file(c, t->cert) != 1) {
			tlsconn_sslerr(err, errlen, what);
			goto fail;
		}
	}
	if (t->key != NULL) {
		snprintf(what, sizeof(what), "key %s", t->key);
		if (SSL_CTX_use_PrivateKey_file(c, t->key, SSL_FILETYPE_PEM) != 1) {
			if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
				snprintf(err, errlen, "the key %s does not match the "
				         "certificate %s", t->key, t->cert);
				goto fail;
			}
			tlsconn_sslerr(err, errlen, what);
			goto fail;
		}
	}
	if ((t->cert == NULL) != (t->key == NULL)) {
		snprintf(err, errlen, "a certificate needs its key and a key its certificate");
		goto fail;
	}
	if (t->cert != NULL && SSL_CTX_check_private_key(c) != 1) {
		tlsconn_sslerr(err, errlen, "the key does not match the certificate");
		goto fail;
	}
	if (t->ca != NULL) {
		snprintf(what, sizeof(what), "CA file %s", t->ca);
		if (SSL_CTX_load_verify_locations(c, t->ca, NULL) != 1) {
			tlsconn_sslerr(err, errlen, what);
			goto fail;
		}
	} else if (!server && SSL_CTX_set_default_verify_paths(c) != 1) {
		tlsconn_sslerr(err, errlen, "the system's CA certificates");
		goto fail;
	}
	if (server && t->verify_peer) {
		STACK_OF(X509_NAME) *names;

		if (t->ca == NULL) {
			snprintf(err, errlen, "verify-client needs a ca file");
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(t->ca)) == NULL) {
			snprintf(what, sizeof(what), "CA file %s", t->ca);
			tlsconn_sslerr(err, errlen, what);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names);
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER |
		                   (t->require_peer ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	} else if (!server)
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	else
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	ERR_clear_error();
	return x;
fail:
	ERR_clear_error();
	tlsconn_ctx_free(x);
	return NULL;
}

void
tlsconn_ctx_free(struct tlsconn_ctx *x)
{
	if (x == NULL)
		return;
	SSL_CTX_free(x->ssl);
	free(x);
}

static bool
tlsconn_same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
tlsconn_same_profile(const struct conf_tls *a, const struct conf_tls *b)
{
	return strcmp(a->name, b->name) == 0 && tlsconn_same_str(a->cert, b->cert) &&
	    tlsconn_same_str(a->key, b->key) && tlsconn_same_str(a->ca, b->ca) &&
	    a->verify_peer == b->verify_peer && a->require_peer == b->require_peer;
}

/* One context of t for a role: shared from old when unchanged, else new. */
static int
tlsconn_prepare_one(struct conf_tls *t, const struct config *old, bool server,
                    config_report_fn *report, void *arg)
{
	struct tlsconn_ctx **slot = server ? &t->server_ctx : &t->client_ctx;
	char err[TLSCONN_ERR_MAX], msg[TLSCONN_ERR_MAX + 128];
	size_t i;

	if (*slot != NULL || !t->defined)
		return 0;
	for (i = 0; old != NULL && i < old->ntls; i++) {
		const struct conf_tls *o = old->tls[i];
		struct tlsconn_ctx *ox = server ? o->server_ctx : o->client_ctx;

		if (ox == NULL || !tlsconn_same_profile(o, t))
			continue;
		if ((*slot = calloc(1, sizeof(**slot))) == NULL)
			break;
		SSL_CTX_up_ref(ox->ssl);
		**slot = *ox;
		return 0;
	}
	if ((*slot = tlsconn_ctx_new(t, server, err, sizeof(err))) != NULL)
		return 0;
	snprintf(msg, sizeof(msg), "tls profile \"%s\": %s", t->name, err);
	config_message(report, arg, t->file, t->line, msg);
	return 1;
}

int
tlsconn_prepare(struct config *c, const struct config *old, config_report_fn *report,
                void *arg)
{
	size_t i;
	int errors = 0;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tls != NULL)
			errors += tlsconn_prepare_one(c->listeners[i].tls, old, true, report, arg);
	for (i = 0; i < c->catalog.nroutes; i++)
		if (c->catalog.routes[i].tls != NULL)
			errors += tlsconn_prepare_one(c->catalog.routes[i].tls, old, false,
			                              report, arg);
	return errors;
}

/* The verified peer's CN, printable ASCII only. */
static void
tlsconn_take_peer(struct tlsconn *t)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	char cn[TLSCONN_ID_MAX];
	int n, i;

	if (cert == NULL || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	                              sizeof(cn));
	if (n <= 0 || (size_t)n >= sizeof(cn))
		return;
	for (i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] > 0x7e)
			return;
	memcpy(t->peer, cn, (size_t)n + 1);
	t->has_peer = true;
}

static void tlsconn_step(evutil_socket_t fd, short what, void *arg);

static void
tlsconn_wait(struct tlsconn *t, short what)
{
	event_del(t->ev);
	event_assign(t->ev, event_get_base(t->ev), t->fd, what, tlsconn_step, t);
	event_add(t->ev, NULL);
}

static void
tlsconn_step(evutil_socket_t fd, short what, void *arg)
{
	struct tlsconn *t = arg;
	long vr;
	int r;

	(void)fd;
	(void)what;
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		t->state = TLSCONN_OPEN;
		tlsconn_take_peer(t);
		event_free(t->ev);          /* the owner drives the I/O from now on */
		t->ev = NULL;
		t->done(t->arg, t, NULL);
		return;
	}
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		tlsconn_wait(t, EV_READ);
		return;
	case SSL_ERROR_WANT_WRITE:
		tlsconn_wait(t, EV_WRITE);
		return;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			snprintf(t->err, sizeof(t->err), "TLS handshake: %s",
			         errno != 0 ? strerror(errno) : "connection closed by the peer");
			break;
		}
		/* FALLTHROUGH */
	default:
		vr = SSL_get_verify_result(t->ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			snprintf(t->err, sizeof(t->err), "TLS handshake: certificate verify "
			         "failed: %s", X509_verify_cert_error_string(vr));
		} else
			tlsconn_sslerr(t->err, sizeof(t->err), "TLS handshake");
		break;
	}
	ERR_clear_error();
	t->state = TLSCONN_FAILED;
	t->done(t->arg, t, t->err);
}

static struct tlsconn *
tlsconn_new(struct event_base *base, int fd, struct tlsconn_ctx *x,
            tlsconn_done_fn *done, void *arg)
{
	struct tlsconn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->fd = fd;
	t->done = done;
	t->arg = arg;
	t->state = TLSCONN_HANDSHAKE;
	if ((t->ssl = SSL_new(x->ssl)) == NULL || SSL_set_fd(t->ssl, fd) != 1 ||
	    (t->ev = event_new(base, fd, 0, tlsconn_step, t)) == NULL) {
		ERR_clear_error();
		tlsconn_free(t);
		return NULL;
	}
	/* the first step runs from the loop */
	event_active(t->ev, EV_WRITE, 0);
	return t;
}

struct tlsconn *
tlsconn_accept(struct event_base *base, int fd, struct tlsconn_ctx *x,
               tlsconn_done_fn *done, void *arg)
{
	struct tlsconn *t = tlsconn_new(base, fd, x, done, arg);

	if (t != NULL)
		SSL_set_accept_state(t->ssl);
	return t;
}

struct tlsconn *
tlsconn_connect(struct event_base *base, int fd, struct tlsconn_ctx *x, const char *name,
                tlsconn_done_fn *done, void *arg)
{
	struct tlsconn *t = tlsconn_new(base, fd, x, done, arg);
	X509_VERIFY_PARAM *vp;
	struct addr a;

	if (t == NULL)
		return NULL;
	SSL_set_connect_state(t->ssl);
	vp = SSL_get0_param(t->ssl);
	if (addr_parse(name, &a)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
			goto fail;
	} else {
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(t->ssl, name) != 1 ||
		    SSL_set_tlsext_host_name(t->ssl, name) != 1)
			goto fail;
	}
	return t;
fail:
	ERR_clear_error();
	tlsconn_free(t);
	return NULL;
}

/* Maps a failed SSL call to errno and *want; -1. */
static int
tlsconn_io_error(struct tlsconn *t, int r, short *want)
{
	int e = errno;

	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		errno = 0;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			ERR_clear_error();
			errno = e != 0 ? e : ECONNRESET;
			return -1;
		}
		break;
	default:
		break;
	}
	ERR_clear_error();
	t->state = TLSCONN_FAILED;
	errno = EPROTO;
	return -1;
}

ssize_t
tlsconn_read(struct tlsconn *t, uint8_t *buf, size_t len, short *want)
{
	size_t n = 0;
	int r;

	if (t->state != TLSCONN_OPEN) {
		errno = EPROTO;
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_read_ex(t->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return tlsconn_io_error(t, r, want);
}

ssize_t
tlsconn_write(struct tlsconn *t, const uint8_t *buf, size_t len, short *want)
{
	size_t n = 0;
	int r;

	if (t->state != TLSCONN_OPEN) {
		errno = EPROTO;
		return -1;
	}
	if (len == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_write_ex(t->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	if (tlsconn_io_error(t, r, want) == 0)
		errno = EPIPE;          /* the peer closed: nothing more can be sent */
	return -1;
}

int
tlsconn_shutdown_write(struct tlsconn *t, short *want)
{
	int r;

	if (t->state == TLSCONN_OPEN) {
		ERR_clear_error();
		errno = 0;
		r = SSL_shutdown(t->ssl);
		if (r < 0) {
			if (tlsconn_io_error(t, r, want) == 0)
				errno = EPIPE;
			if (errno == EAGAIN)
				return -1;
			/* the peer is gone; the other direction will tell */
		}
	}
	*want = EV_WRITE;
	if (shutdown(t->fd, SHUT_WR) != 0 && errno != ENOTCONN)
		return -1;
	return 0;
}

bool
tlsconn_pending(const struct tlsconn *t)
{
	return t->state == TLSCONN_OPEN && SSL_pending(t->ssl) > 0;
}

const char *
tlsconn_peer_id(const struct tlsconn *t)
{
	return t != NULL && t->has_peer ? t->peer : NULL;
}

unsigned
tlsconn_bits(const struct tlsconn *t)
{
	int bits;

	if (t == NULL || t->state != TLSCONN_OPEN)
		return 0;
	bits = SSL_get_cipher_bits(t->ssl, NULL);
	return bits > 0 ? (unsigned)bits : 0;
}

const char *
tlsconn_describe(const struct tlsconn *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
	return buf;
}

static ssize_t
tlsconn_pump_read(void *ctx, int fd, uint8_t *buf, size_t len, short *want)
{
	(void)fd;
	return tlsconn_read(ctx, buf, len, want);
}

static ssize_t
tlsconn_pump_write(void *ctx, int fd, const uint8_t *buf, size_t len, short *want)
{
	(void)fd;
	return tlsconn_write(ctx, buf, len, want);
}

static int
tlsconn_pump_shutdown(void *ctx, int fd, short *want)
{
	(void)fd;
	return tlsconn_shutdown_write(ctx, want);
}

static void
tlsconn_pump_free(void *ctx)
{
	tlsconn_free(ctx);
}

const struct pump_endpoint_ops tlsconn_pump_ops = {
	tlsconn_pump_read, tlsconn_pump_write, tlsconn_pump_shutdown, tlsconn_pump_free
};

void
tlsconn_free(struct tlsconn *t)
{
	if (t == NULL)
		return;
	if (t->ev != NULL)
		event_free(t->ev);
	SSL_free(t->ssl);
	free(t);
}
