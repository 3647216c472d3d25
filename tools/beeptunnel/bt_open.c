#include "bt_open.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/connector.h"
#include "relay/log.h"
#include "relay/nexthop.h"

enum bt_open_phase {
	BO_CONNECT,              /* resolving and connecting */
	BO_TCPMUX,               /* waiting for the TCPMUX reply line */
	BO_BEEP,                 /* greeting, SASL, TUNNEL (nexthop) */
	BO_DONE,
};

struct bt_open {
	struct event_base     *base;
	struct evdns_base     *dns;
	struct bt_open_target  t;
	bt_open_done_fn       *done;
	void                  *arg;
	enum bt_open_phase     phase;
	struct connector      *conn;
	int                    fd;
	struct event          *rd;        /* TCPMUX reply */
	struct event          *timer;     /* the total deadline */
	struct nexthop        *nh;
	uint8_t                line[BT_OPEN_TCPMUX_REPLY_MAX];
	size_t                 nline;
	char                   text[BT_OPEN_TEXT_MAX];
};

static void
bt_open_release(struct bt_open *op)
{
	connector_cancel(op->conn);
	nexthop_cancel(op->nh);
	if (op->rd != NULL)
		event_free(op->rd);
	if (op->timer != NULL)
		event_free(op->timer);
	if (op->fd >= 0)
		close(op->fd);
	free(op);
}

/* Reports a failure and frees op.  Only called from event callbacks. */
static void __attribute__((format(printf, 4, 5)))
bt_open_fail(struct bt_open *op, enum bt_exit status, unsigned code, const char *fmt, ...)
{
	struct bt_open_result r;
	va_list ap;

	op->phase = BO_DONE;
	va_start(ap, fmt);
	vsnprintf(op->text, sizeof(op->text), fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.code = code;
	r.text = op->text;
	r.fd = -1;
	op->done(op->arg, &r);
	bt_open_release(op);
}

/* Printable form of octets from the network: \xHH for anything else. */
static void
bt_open_printable(const uint8_t *p, size_t n, char *buf, size_t len)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 5 < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[j++] = (char)p[i];
		else
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", p[i]);
	}
	buf[j < len ? j : len - 1] = '\0';
}

static void
bt_open_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct bt_open *op = arg;
	unsigned s = (op->t.timeout_ms + 999) / 1000;

	(void)fd;
	(void)what;
	switch (op->phase) {
	case BO_CONNECT:
		bt_open_fail(op, BT_EXIT_CONNECT, 0, "no connection to %s port %u within %u s",
		             op->t.host, (unsigned)op->t.port, s);
		return;
	case BO_TCPMUX:
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0, "no TCPMUX reply from %s port %u within %u s",
		             op->t.host, (unsigned)op->t.port, s);
		return;
	case BO_BEEP:
		bt_open_fail(op, BT_EXIT_OTHER, 0,
		             "the relay did not complete the BEEP handshake within %u s", s);
		return;
	case BO_DONE:
		return;
	}
}

static void
bt_open_nexthop_done(void *arg, const struct nexthop_result *nr)
{
	struct bt_open *op = arg;
	struct bt_open_result r;
	enum bt_exit st;

	op->nh = NULL;               /* it frees itself */
	if (!nr->ok) {
		st = BT_EXIT_OTHER;
		switch (nr->stage) {
		case NEXTHOP_STAGE_GREETING:
			st = BT_EXIT_NOT_BEEP;
			break;
		case NEXTHOP_STAGE_SASL:
			st = BT_EXIT_AUTH;
			break;
		case NEXTHOP_STAGE_TUNNEL:
			st = bt_exit_for_code(nr->code);
			if (st == BT_EXIT_OK)
				st = BT_EXIT_OTHER;
			break;
		}
		bt_open_fail(op, st, nr->code, "%s", nr->text != NULL ? nr->text : "");
		return;
	}
	log_debug("tunnel open: <ok/> received, %zu octets followed it", nr->nrest);
	op->phase = BO_DONE;
	memset(&r, 0, sizeof(r));
	r.ok = true;
	r.status = BT_EXIT_OK;
	r.fd = nr->fd;
	r.rest = nr->rest;
	r.nrest = nr->nrest;
	op->done(op->arg, &r);
	bt_open_release(op);
}

static void
bt_open_beep(struct bt_open *op)
{
	int fd = op->fd;

	op->phase = BO_BEEP;
	op->fd = -1;                 /* nexthop owns it from here */
	op->nh = nexthop_start(op->base, fd, op->t.host, op->t.route, op->t.elem, 0,
	                       bt_open_nexthop_done, op);
	if (op->nh == NULL) {
		close(fd);
		bt_open_fail(op, BT_EXIT_LOCAL, 0, "out of memory");
	}
}

/* Reads the TCPMUX reply line without consuming a byte past its LF, so
 * that whatever the relay sent after it (the BEEP greeting) stays in the
 * socket for the BEEP session. */
static void
bt_open_tcpmux_read(evutil_socket_t fd, short what, void *arg)
{
	struct bt_open *op = arg;
	uint8_t peek[BT_OPEN_TCPMUX_REPLY_MAX];
	size_t room = sizeof(op->line) - op->nline, take;
	ssize_t n;
	uint8_t *lf;
	char shown[BT_OPEN_TCPMUX_REPLY_MAX * 4 + 1];

	(void)what;
	n = recv(fd, peek, room, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0, "TCPMUX reply: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		bt_open_printable(op->line, op->nline, shown, sizeof(shown));
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0,
		             "the relay closed the connection without a TCPMUX reply%s%s",
		             op->nline ? "; it sent: " : "", shown);
		return;
	}
	lf = memchr(peek, '\n', (size_t)n);
	take = lf != NULL ? (size_t)(lf - peek) + 1 : (size_t)n;
	if (recv(fd, op->line + op->nline, take, 0) != (ssize_t)take) {
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0, "TCPMUX reply: read failed");
		return;
	}
	op->nline += take;
	if (lf == NULL) {
		if (op->nline == sizeof(op->line))
			bt_open_fail(op, BT_EXIT_NOT_BEEP, 0,
			             "TCPMUX reply longer than %zu octets", sizeof(op->line));
		return;
	}
	/* the line without its CR LF */
	take = op->nline - 1;
	if (take > 0 && op->line[take - 1] == '\r')
		take--;
	bt_open_printable(op->line, take, shown, sizeof(shown));
	event_free(op->rd);
	op->rd = NULL;
	if (take > 0 && op->line[0] == '+') {
		log_debug("TCPMUX reply: %s", shown);
		bt_open_beep(op);
		return;
	}
	if (take > 0 && op->line[0] == '-')
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0, "the relay's TCPMUX door refused \"%s\": %s",
		             op->t.tcpmux, shown);
	else
		bt_open_fail(op, BT_EXIT_NOT_BEEP, 0, "not a TCPMUX reply: %s", shown);
}

static void
bt_open_tcpmux(struct bt_open *op)
{
	char line[BT_OPEN_TCPMUX_REPLY_MAX];
	int n;

	op->phase = BO_TCPMUX;
	n = snprintf(line, sizeof(line), "%s\r\n", op->t.tcpmux);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		bt_open_fail(op, BT_EXIT_USAGE, 0, "TCPMUX service name too long");
		return;
	}
	/* a few octets on a fresh connection: the socket buffer takes them */
	if (send(op->fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		bt_open_fail(op, BT_EXIT_CONNECT, 0, "cannot send the TCPMUX service name: %s",
		             strerror(errno));
		return;
	}
	log_debug("TCPMUX: asked for service \"%s\"", op->t.tcpmux);
	op->rd = event_new(op->base, op->fd, EV_READ | EV_PERSIST, bt_open_tcpmux_read, op);
	if (op->rd == NULL || event_add(op->rd, NULL) != 0)
		bt_open_fail(op, BT_EXIT_LOCAL, 0, "out of memory");
}

static bool
bt_open_check(void *arg, const struct addr *a, uint16_t port)
{
	(void)arg;
	(void)a;
	(void)port;
	return true;                 /* the user chose the relay */
}

static void
bt_open_connected(void *arg, enum connector_result res, int fd, const struct addr *a,
                  uint16_t port)
{
	struct bt_open *op = arg;

	(void)a;
	(void)port;
	op->conn = NULL;             /* it frees itself */
	if (res != CONNECTOR_OK) {
		bt_open_fail(op, res == CONNECTOR_RESOURCE ? BT_EXIT_LOCAL : BT_EXIT_CONNECT, 0,
		             "%s port %u: %s", op->t.host, (unsigned)op->t.port,
		             connector_result_str(res));
		return;
	}
	log_debug("connected to %s port %u", op->t.host, (unsigned)op->t.port);
	op->fd = fd;
	if (op->t.tcpmux != NULL)
		bt_open_tcpmux(op);
	else
		bt_open_beep(op);
}

struct bt_open *
bt_open_start(struct event_base *base, struct evdns_base *dns, const struct bt_open_target *t,
              bt_open_done_fn *done, void *arg)
{
	struct bt_open *op;
	struct timeval tv;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->base = base;
	op->dns = dns;
	op->t = *t;
	op->done = done;
	op->arg = arg;
	op->fd = -1;
	op->phase = BO_CONNECT;
	if ((op->timer = evtimer_new(base, bt_open_deadline, op)) == NULL)
		goto fail;
	tv.tv_sec = t->timeout_ms / 1000;
	tv.tv_usec = (suseconds_t)(t->timeout_ms % 1000) * 1000;
	if (evtimer_add(op->timer, &tv) != 0)
		goto fail;
	log_debug("connecting to %s port %u%s%s", t->host, (unsigned)t->port,
	          t->tcpmux ? ", TCPMUX service " : "", t->tcpmux ? t->tcpmux : "");
	op->conn = connector_start(base, dns, t->host, t->port, t->timeout_ms, bt_open_check,
	                           bt_open_connected, op);
	if (op->conn == NULL)
		goto fail;
	return op;
fail:
	bt_open_release(op);
	return NULL;
}

void
bt_open_cancel(struct bt_open *op)
{
	if (op == NULL)
		return;
	bt_open_release(op);
}
