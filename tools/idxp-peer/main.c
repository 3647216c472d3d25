/* idxp-peer: an IDXP (RFC 4767) manager and analyzer.
 *
 *   idxp-peer manager  [-l ADDR:PORT] --ca F --cert F --key F --spool FILE ...
 *   idxp-peer analyzer --manager HOST:PORT [--relay HOST:PORT [--via HOST:PORT]...
 *                      -u USER] --ca F --cert F --key F [-n N] [--heartbeats N] ...
 *
 * Both speak BEEP (tunnel/beep_session), negotiate the BEEP TLS profile
 * (RFC 3080 sec. 3.1) with mutual certificate verification, then run IDXP
 * channels.  The analyzer reaches the manager directly or through a chain of
 * beepgate relays (TUNNEL, RFC 3620), with beeptunnel's code (bt_open). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/auth_sasl.h"
#include "bt_open.h"
#include "idxp_io.h"
#include "policy/catalog.h"
#include "relay/log.h"
#include "tunnel/idxp_greeting.h"
#include "tunnel/tunnel_elem.h"

#define IDXP_DEFAULT_PORT   603
#define MGR_TUNNEL_URI      "http://iana.org/beep/TUNNEL"
#define IDXP_CHANNELS_MAX   16          /* fixed: IDXP channels per session */
#define IDXP_VIA_MAX        7           /* fixed: further relays */
#define IDXP_MSG_MAX        (1024 * 1024) /* fixed: one alert file */
#define IDXP_TIMEOUT_S      30          /* default: each phase of a session */

/* Exit statuses (docs/idxp-peer.md). */
enum {
	IX_OK = 0,
	IX_FAIL = 1,        /* BEEP or I/O failure, timeout */
	IX_USAGE = 2,
	IX_TUNNEL = 3,      /* connecting, or the relay chain refused */
	IX_TLS = 4,         /* TLS refused or failed (certificates) */
	IX_REFUSED = 5,     /* the manager refused the IDXP channel */
	IX_UNACKED = 6,     /* messages refused or not acknowledged */
};

static const char *progname = "idxp-peer";
static int timeout_s = IDXP_TIMEOUT_S;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: idxp-peer manager [-v] [-l ADDR:PORT] --ca F --cert F --key F --spool FILE\n"
	    "                         [--uri URI] [--refuse CODE] [--once] [-t SECONDS]\n"
	    "       idxp-peer analyzer [-v] --manager HOST:PORT --ca F --cert F --key F\n"
	    "                         [--manager-name NAME] [--relay HOST:PORT [--via HOST:PORT]...\n"
	    "                         -u USER [--password-file F]] [--uri URI] [-n N]\n"
	    "                         [--heartbeats N] [--file F]... [--content-type TYPE]\n"
	    "                         [--marker TEXT] [--must-understand OPTION] [-t SECONDS]\n"
	    "  -l ADDR:PORT        manager: listen there (default 127.0.0.1:603)\n"
	    "  --spool FILE        manager: append every message received as a JSON line\n"
	    "  --refuse CODE       manager: refuse every IDXP channel with this code\n"
	    "  --once              manager: serve one connection, then exit with its status\n"
	    "  --manager HOST:PORT analyzer: the manager (the final of the relay chain)\n"
	    "  --manager-name NAME analyzer: the name its certificate must carry\n"
	    "  --relay HOST:PORT   analyzer: the first beepgate relay (TUNNEL, port 604)\n"
	    "  --via HOST:PORT     analyzer: a further relay, outermost first (repeatable)\n"
	    "  -u USER             analyzer: SASL user at the first relay\n"
	    "  --password-file F   analyzer: its password (else $IDXP_PASSWORD)\n"
	    "  -n N                analyzer: alerts to generate (default 10)\n"
	    "  --heartbeats N      analyzer: heartbeats on a second channel (default 0)\n"
	    "  --file F            analyzer: send this file as an alert (repeatable)\n"
	    "  --content-type TYPE analyzer: of the files (text/xml, text/plain,\n"
	    "                      application/octet-stream; default text/xml)\n"
	    "  --marker TEXT       analyzer: put TEXT in every generated alert\n"
	    "  --must-understand O analyzer: add option O with mustUnderstand='true'\n"
	    "  --uri URI           the uri of our IDXP-Greeting\n"
	    "  --ca F --cert F --key F   TLS: CA to verify the peer, our chain and key\n"
	    "  -t SECONDS          time for each phase (default 30)\n"
	    "  -v                  show the exchange on stderr\n");
	exit(IX_USAGE);
}

static void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(IX_USAGE);
}

/* "host:port" or "[v6]:port" */
static void
split_hostport(const char *s, char *host, size_t hsize, uint16_t *port, uint16_t dflt)
{
	const char *colon;
	char *end;
	long p;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL)
			die_usage("bad address \"%s\"", s);
		hl = (size_t)(rb - s - 1);
		if (hl >= hsize)
			die_usage("address too long: %s", s);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] != '\0' && rb[1] != ':')
			die_usage("bad address \"%s\"", s);
	} else {
		colon = strrchr(s, ':');
		hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hl == 0 || hl >= hsize)
			die_usage("bad address \"%s\"", s);
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (colon == NULL) {
		*port = dflt;
		return;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		die_usage("bad port in \"%s\"", s);
	*port = (uint16_t)p;
}

/* ---- JSON lines ---- */

static void
json_str(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		switch (p[i]) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f)
				fprintf(f, "\\u%04x", p[i]);
			else
				fputc(p[i], f);
		}
	}
	fputc('"', f);
}

/* ---- manager ---- */

struct mgr_chan {
	uint32_t             ch;
	bool                 used;
	bool                 greeted;      /* the analyzer's greeting accepted */
	bool                 send_greeting;/* ours still to send */
	struct idxp_greeting g;
	unsigned             messages;
};

struct mgr {
	SSL_CTX        *ctx;
	const char     *uri;
	const char     *spool;
	unsigned        refuse;
	bool            verbose;
	struct idxp_io  io;
	bool            tls_asked;
	bool            tunnel_ok;     /* answered a TUNNEL <tunnel/> as its final */
	char            peer_cn[256];
	char            peer_addr[80];
	char            errtext[IDXP_ERRTEXT_MAX];  /* a refusal's text, while sent */
	struct mgr_chan chans[IDXP_CHANNELS_MAX];
	unsigned        stored;
	unsigned        refused;
};

static struct mgr *mgr_current;

static struct mgr_chan *
mgr_chan_new(struct mgr *m, uint32_t ch)
{
	size_t i;

	for (i = 0; i < IDXP_CHANNELS_MAX; i++)
		if (!m->chans[i].used) {
			memset(&m->chans[i], 0, sizeof(m->chans[i]));
			m->chans[i].used = true;
			m->chans[i].ch = ch;
			return &m->chans[i];
		}
	return NULL;
}

static int
mgr_store(struct mgr *m, struct mgr_chan *c, const struct beep_msg *msg)
{
	char ts[40];
	struct timespec now;
	struct tm tm;
	FILE *f;
	int fd;

	if ((fd = open(m->spool, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return -1;
	if ((f = fdopen(fd, "a")) == NULL) {
		close(fd);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	flock(fd, LOCK_EX);
	fprintf(f, "{\"time\":\"%s\",\"peer\":", ts);
	json_str(f, (const uint8_t *)m->peer_addr, strlen(m->peer_addr));
	fputs(",\"peer_cert\":", f);
	json_str(f, (const uint8_t *)m->peer_cn, strlen(m->peer_cn));
	fputs(",\"peer_uri\":", f);
	json_str(f, (const uint8_t *)c->g.uri, strlen(c->g.uri));
	fprintf(f, ",\"channel\":%u,\"stream\":\"%s\",\"priority\":%ld,\"content_type\":",
	    (unsigned)c->ch, idxp_stream_name(c->g.stream),
	    c->g.has_priority ? (long)c->g.priority : -1L);
	json_str(f, (const uint8_t *)msg->content_type, strlen(msg->content_type));
	if (strcmp(msg->content_type, "application/octet-stream") == 0) {
		size_t cap = (msg->len + 2) / 3 * 4 + 1;
		unsigned char *b64 = malloc(cap);

		if (b64 == NULL) {
			flock(fd, LOCK_UN);
			fclose(f);
			return -1;
		}
		EVP_EncodeBlock(b64, msg->body, (int)msg->len);
		fputs(",\"body_base64\":\"", f);
		fputs((char *)b64, f);
		fputc('"', f);
		free(b64);
	} else {
		fputs(",\"body\":", f);
		json_str(f, msg->body, msg->len);
	}
	fputs("}\n", f);
	fflush(f);
	flock(fd, LOCK_UN);
	return fclose(f) == 0 ? 0 : -1;
}

static void
mgr_reply_error(struct mgr *m, const struct beep_msg *msg, unsigned code, const char *text)
{
	char doc[400];
	int n = snprintf(doc, sizeof(doc), "<error code='%u'>%s</error>", code, text);

	(void)beep_session_reply(m->io.bs, msg->channel, msg->msgno, BEEP_ERR, "text/xml",
	    (const uint8_t *)doc, (size_t)n, 0);
}

static void
mgr_greeting_reply(struct beep_session *bs, void *arg, const struct beep_msg *msg)
{
	struct mgr_chan *c = arg;

	(void)bs;
	if (msg->type != BEEP_RPY)
		log_warn("channel %u: the analyzer refused our IDXP-Greeting", (unsigned)c->ch);
}

static void
mgr_message(struct beep_session *bs, void *arg, const struct beep_msg *msg)
{
	struct mgr *m = mgr_current;         /* one connection per process */
	struct mgr_chan *c = arg;
	struct idxp_greeting_error ge;
	struct idxp_greeting g;

	if (!c->greeted) {
		if (idxp_greeting_parse(msg->body, msg->len, &g, &ge) != 0) {
			mgr_reply_error(m, msg, ge.code, ge.text);
			return;
		}
		c->g = g;
		c->greeted = true;
		c->send_greeting = true;
		(void)beep_session_reply(bs, msg->channel, msg->msgno, BEEP_RPY, "text/xml",
		    (const uint8_t *)"<ok/>", 5, 0);
		return;
	}
	if (strcmp(msg->content_type, "text/xml") == 0) {
		if (idxp_idmef_check(msg->body, msg->len, &ge) != 0) {
			m->refused++;
			mgr_reply_error(m, msg, ge.code, ge.text);
			return;
		}
	} else if (strcmp(msg->content_type, "text/plain") != 0 &&
	    strcmp(msg->content_type, "application/octet-stream") != 0) {
		m->refused++;
		mgr_reply_error(m, msg, 501, "IDXP messages are text/xml, text/plain or "
		    "application/octet-stream");
		return;
	}
	if (mgr_store(m, c, msg) != 0) {
		m->refused++;
		mgr_reply_error(m, msg, 450, "cannot store the message");
		return;
	}
	c->messages++;
	m->stored++;
	if (m->verbose)
		log_info("channel %u (%s): stored %zu octets of %s", (unsigned)c->ch,
		    idxp_stream_name(c->g.stream), msg->len, msg->content_type);
	(void)beep_session_reply(bs, msg->channel, msg->msgno, BEEP_RPY, "text/xml",
	    (const uint8_t *)"<ok/>", 5, 0);
}

static enum beep_start_verdict
mgr_idxp_start(struct beep_session *bs, void *arg, const struct beep_start_req *req,
               struct beep_start_answer *ans)
{
	struct mgr *m = arg;
	struct mgr_chan *c;
	struct idxp_greeting_error ge;

	(void)bs;
	if (m->refuse != 0) {
		ans->code = m->refuse;
		ans->text = "this manager accepts no IDXP channel";
		return BEEP_START_ERROR;
	}
	if ((c = mgr_chan_new(m, req->channel)) == NULL) {
		ans->code = 421;
		ans->text = "too many IDXP channels";
		return BEEP_START_ERROR;
	}
	if (req->has_piggyback) {
		if (idxp_greeting_parse(req->piggyback, req->piggyback_len, &c->g, &ge) != 0) {
			c->used = false;
			ans->code = ge.code;
			snprintf(m->errtext, sizeof(m->errtext), "%s", ge.text);
			ans->text = m->errtext;
			return BEEP_START_ERROR;
		}
		c->greeted = true;
		c->send_greeting = true;
		ans->has_piggyback = true;
		ans->piggyback = (const uint8_t *)"<ok/>";
		ans->piggyback_len = 5;
	}
	ans->chan_arg = c;
	if (m->verbose)
		log_info("IDXP channel %u opened", (unsigned)req->channel);
	return BEEP_START_OK;
}

static void
mgr_chan_closed(struct beep_session *bs, void *arg, uint32_t ch, unsigned code)
{
	struct mgr_chan *c = arg;

	(void)bs;
	(void)ch;
	(void)code;
	if (c != NULL)
		c->used = false;
}

/* RFC 3620 sec. 4: an empty <tunnel/> makes us the final peer of a relay
 * chain: <ok/>, then a tuning reset (new greetings).  Anything else names a
 * further hop, and this manager relays nothing. */
static unsigned
mgr_tunnel_check(const uint8_t *xml, size_t len, const char **text)
{
	struct tunnel_elem *e = NULL;
	struct tunnel_elem_error err;
	unsigned code = 0;

	memset(&err, 0, sizeof(err));
	if (tunnel_elem_parse(xml, len, 1, &e, &err) != 0) {
		*text = "poorly formed tunnel element";
		code = err.code != 0 ? err.code : 500;
	} else if (e->kind != TUN_EMPTY) {
		*text = "this IDXP manager is the final peer: it relays nothing";
		code = 550;
	}
	tunnel_elem_free(e);
	return code;
}

static enum beep_start_verdict
mgr_tunnel_start(struct beep_session *bs, void *arg, const struct beep_start_req *req,
                 struct beep_start_answer *ans)
{
	struct mgr *m = arg;

	(void)bs;
	if (!req->has_piggyback)
		return BEEP_START_OK;          /* the element comes as a MSG */
	if ((ans->code = mgr_tunnel_check(req->piggyback, req->piggyback_len,
	    &ans->text)) != 0)
		return BEEP_START_ERROR;
	m->tunnel_ok = true;
	ans->has_piggyback = true;
	ans->piggyback = (const uint8_t *)"<ok/>";
	ans->piggyback_len = 5;
	ans->detach = true;
	return BEEP_START_OK;
}

static void
mgr_tunnel_message(struct beep_session *bs, void *arg, const struct beep_msg *msg)
{
	struct mgr *m = mgr_current;
	const char *text = NULL;
	unsigned code;

	(void)arg;
	if ((code = mgr_tunnel_check(msg->body, msg->len, &text)) != 0) {
		mgr_reply_error(m, msg, code, text);
		return;
	}
	m->tunnel_ok = true;
	(void)beep_session_reply(bs, msg->channel, msg->msgno, BEEP_RPY, BEEP_CT_BEEPXML,
	    (const uint8_t *)"<ok/>", 5, BEEP_REPLY_DETACH);
}

static enum beep_start_verdict
mgr_tls_start(struct beep_session *bs, void *arg, const struct beep_start_req *req,
              struct beep_start_answer *ans)
{
	struct mgr *m = arg;

	(void)bs;
	if (!req->has_piggyback ||
	    !idxp_xml_root_is(req->piggyback, req->piggyback_len, "ready")) {
		ans->code = 501;
		ans->text = "expected <ready/>";
		return BEEP_START_ERROR;
	}
	m->tls_asked = true;
	ans->has_piggyback = true;
	ans->piggyback = (const uint8_t *)"<proceed/>";
	ans->piggyback_len = 10;
	ans->detach = true;
	return BEEP_START_OK;
}

/* The analyzer releases the session when it is done, channels still open:
 * every message on them has been answered by then. */
static unsigned
mgr_release_req(struct beep_session *bs, void *arg)
{
	(void)bs;
	(void)arg;
	return 0;
}

static bool
mgr_detached(void *arg)
{
	struct mgr *m = arg;

	return beep_session_state(m->io.bs) == BEEP_SS_DETACHED;
}

static int
mgr_serve(struct mgr *m, int fd)
{
	struct beep_profile pre[2] = {
		{ .uri = IDXP_TLS_URI, .advertise = true, .start = mgr_tls_start, .arg = m },
		{ .uri = MGR_TUNNEL_URI, .advertise = true, .start = mgr_tunnel_start,
		  .ops = { .message = mgr_tunnel_message }, .arg = m },
	};
	struct beep_profile idxp = {
		.uri = IDXP_PROFILE_URI, .advertise = true, .start = mgr_idxp_start,
		.ops = { .message = mgr_message, .closed = mgr_chan_closed }, .arg = m,
	};
	static const struct beep_session_ops ops = { .release_req = mgr_release_req };
	struct beep_session_config cfg = {
		.role = BEEP_LISTENER, .profiles = pre, .nprofiles = 2, .ops = &ops, .arg = NULL,
	};
	char greet[IDXP_GREETING_MAX];
	struct idxp_greeting ours;
	enum beep_session_state st;
	size_t i, glen;
	int rc = IX_OK;

	mgr_current = m;
	m->io.fd = fd;
	if ((m->io.bs = beep_session_new(&cfg)) == NULL) {
		log_warn("cannot create a BEEP session");
		return IX_FAIL;
	}
	for (;;) {
		if (idxp_io_until(&m->io, mgr_detached, m,
		    idxp_now_ms() + (uint64_t)timeout_s * 1000) != 0) {
			log_warn("%s: before TLS: %s", m->peer_addr, m->io.err);
			rc = IX_FAIL;
			goto out;
		}
		if (!m->tunnel_ok || m->tls_asked)
			break;
		/* the end of a relay chain: greet again, still offering TLS only */
		m->tunnel_ok = false;
		if (beep_session_tuning_reset(m->io.bs, pre, 1) != 0) {
			rc = IX_FAIL;
			goto out;
		}
		log_info("%s: final peer of a TUNNEL", m->peer_addr);
	}
	if (idxp_io_starttls(&m->io, m->ctx, true, NULL) != 0) {
		log_warn("%s: %s", m->peer_addr, m->io.err);
		rc = IX_TLS;
		goto out;
	}
	idxp_tls_peer_cn(m->io.ssl, m->peer_cn, sizeof(m->peer_cn));
	log_info("%s: TLS %s with %s, peer certificate \"%s\"", m->peer_addr,
	    SSL_get_version(m->io.ssl), SSL_get_cipher_name(m->io.ssl), m->peer_cn);
	if (beep_session_tuning_reset(m->io.bs, &idxp, 1) != 0) {
		rc = IX_FAIL;
		goto out;
	}
	memset(&ours, 0, sizeof(ours));
	ours.role = IDXP_ROLE_SERVER;
	snprintf(ours.uri, sizeof(ours.uri), "%s", m->uri);
	glen = idxp_greeting_write(&ours, greet, sizeof(greet));
	/* serve until the analyzer releases the session or goes away */
	for (;;) {
		for (i = 0; i < IDXP_CHANNELS_MAX; i++) {
			struct mgr_chan *c = &m->chans[i];

			if (c->used && c->send_greeting) {
				c->send_greeting = false;
				(void)beep_session_send_msg(m->io.bs, c->ch, "text/xml",
				    (const uint8_t *)greet, glen, mgr_greeting_reply, c, 0, NULL);
			}
		}
		st = beep_session_state(m->io.bs);
		if (st == BEEP_SS_RELEASED)
			break;
		if (st == BEEP_SS_FAILED) {
			log_warn("%s: %s", m->peer_addr, beep_session_reason(m->io.bs));
			rc = IX_FAIL;
			break;
		}
		if (idxp_io_step(&m->io, timeout_s * 1000) <= 0) {
			if (beep_session_state(m->io.bs) == BEEP_SS_RELEASED)
				break;
			log_warn("%s: %s", m->peer_addr, m->io.err[0] ? m->io.err : "idle timeout");
			rc = IX_FAIL;
			break;
		}
	}
	(void)idxp_io_flush(&m->io);
	log_info("%s: session ended: %u messages stored, %u refused", m->peer_addr, m->stored,
	    m->refused);
out:
	if (m->io.ssl != NULL) {
		(void)SSL_shutdown(m->io.ssl);
		SSL_free(m->io.ssl);
	}
	beep_session_free(m->io.bs);
	close(fd);
	return rc;
}

static int
run_manager(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'A' }, { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' }, { "spool", required_argument, NULL, 'S' },
		{ "uri", required_argument, NULL, 'U' }, { "refuse", required_argument, NULL, 'R' },
		{ "once", no_argument, NULL, 'O' }, { NULL, 0, NULL, 0 },
	};
	const char *ca = NULL, *cert = NULL, *key = NULL, *listen_at = "127.0.0.1:603";
	char host[256], err[IDXP_ERR_MAX], port_s[8];
	struct addrinfo hints, *ai = NULL;
	struct mgr m;
	bool once = false, verbose = false;
	uint16_t port;
	int ch, lfd, one = 1, fd, status;
	pid_t pid;

	memset(&m, 0, sizeof(m));
	m.uri = "http://localhost/idxp-manager";
	while ((ch = getopt_long(argc, argv, "l:t:v", lo, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_at = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'v': verbose = true; break;
		case 'A': ca = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'S': m.spool = optarg; break;
		case 'U': m.uri = optarg; break;
		case 'R':
			m.refuse = (unsigned)atoi(optarg);
			if (m.refuse < 400 || m.refuse > 599)
				die_usage("--refuse takes a 4xx or 5xx code, not %s", optarg);
			break;
		case 'O': once = true; break;
		default: usage();
		}
	}
	if (optind != argc || m.spool == NULL || timeout_s <= 0)
		usage();
	m.verbose = verbose;
	log_init("idxp-peer", 1, verbose);
	if ((m.ctx = idxp_tls_ctx(true, ca, cert, key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return IX_USAGE;
	}
	split_hostport(listen_at, host, sizeof(host), &port, IDXP_DEFAULT_PORT);
	snprintf(port_s, sizeof(port_s), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port_s, &hints, &ai) != 0) {
		fprintf(stderr, "%s: -l %s: not a numeric address\n", progname, listen_at);
		return IX_USAGE;
	}
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, 64) != 0) {
		fprintf(stderr, "%s: listen on %s: %s\n", progname, listen_at, strerror(errno));
		freeaddrinfo(ai);
		return IX_FAIL;
	}
	freeaddrinfo(ai);
	printf("idxp-peer: manager listening on %s\n", listen_at);
	fflush(stdout);
	if (!once)
		signal(SIGCHLD, SIG_IGN);    /* no zombies: children are reaped */
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char h[64], s[8];

		if ((fd = accept(lfd, (struct sockaddr *)&ss, &sl)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "%s: accept: %s\n", progname, strerror(errno));
			return IX_FAIL;
		}
		if (getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
		    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(m.peer_addr, sizeof(m.peer_addr), "%s:%s", h, s);
		if (once) {
			close(lfd);
			status = mgr_serve(&m, fd);
			SSL_CTX_free(m.ctx);
			return status;
		}
		if ((pid = fork()) == 0) {
			close(lfd);
			status = mgr_serve(&m, fd);
			SSL_CTX_free(m.ctx);
			_exit(status);
		}
		if (pid < 0)
			fprintf(stderr, "%s: fork: %s\n", progname, strerror(errno));
		close(fd);
	}
}

/* ---- analyzer ---- */

enum an_chan_state { AC_STARTING, AC_OPEN, AC_REFUSED };

struct an_chan {
	uint32_t           ch;
	enum an_chan_state state;
	bool               their_greeting;   /* the manager's IDXP-Greeting received */
	unsigned           code;
	char               text[IDXP_ERRTEXT_MAX];
};

struct analyzer {
	struct idxp_io io;
	bool           verbose;
	/* TLS channel */
	bool           tls_answered, tls_ok;
	unsigned       tls_code;
	char           tls_text[200];
	/* outstanding messages */
	unsigned       sent, acked, refused;
	char           last_refusal[200];
	/* the relay chain */
	struct event_base *base;
	bool           opened;
	struct bt_open_result res;
	uint8_t       *rest;
	char           open_text[BT_OPEN_TEXT_MAX];
};

static void
an_opened(void *arg, const struct bt_open_result *r)
{
	struct analyzer *a = arg;

	a->opened = true;
	a->res = *r;
	a->res.rest = NULL;
	if (r->ok && r->nrest > 0 && (a->rest = malloc(r->nrest)) != NULL)
		memcpy(a->rest, r->rest, r->nrest);
	if (!r->ok)
		snprintf(a->open_text, sizeof(a->open_text), "%s", r->text ? r->text : "");
}

static void
an_tls_started(struct beep_session *bs, void *arg, const struct beep_start_result *r)
{
	struct analyzer *a = arg;

	(void)bs;
	a->tls_answered = true;
	if (!r->ok) {
		a->tls_code = r->code;
		snprintf(a->tls_text, sizeof(a->tls_text), "%s", r->text ? r->text : "");
		return;
	}
	a->tls_ok = r->has_piggyback && idxp_xml_root_is(r->piggyback, r->piggyback_len,
	    "proceed");
	if (!a->tls_ok)
		snprintf(a->tls_text, sizeof(a->tls_text), "no <proceed/> in the answer");
}

static bool
an_tls_done(void *arg)
{
	struct analyzer *a = arg;

	return a->tls_answered &&
	    (!a->tls_ok || beep_session_state(a->io.bs) == BEEP_SS_DETACHED);
}

static bool
an_greeted(void *arg)
{
	struct analyzer *a = arg;

	return beep_session_state(a->io.bs) == BEEP_SS_OPEN;
}

static void
an_idxp_started(struct beep_session *bs, void *arg, const struct beep_start_result *r)
{
	struct an_chan *c = arg;
	unsigned code;

	(void)bs;
	if (!r->ok) {
		c->state = AC_REFUSED;
		c->code = r->code;
		snprintf(c->text, sizeof(c->text), "%s", r->text ? r->text : "");
		return;
	}
	/* our piggybacked greeting is answered inside the <profile> */
	if (!r->has_piggyback) {
		c->state = AC_REFUSED;
		c->code = 500;
		snprintf(c->text, sizeof(c->text), "no answer to our IDXP-Greeting");
		return;
	}
	switch (idxp_answer_parse(r->piggyback, r->piggyback_len, &code, c->text,
	    sizeof(c->text))) {
	case 1:
		c->state = AC_OPEN;
		return;
	case 0:
		c->state = AC_REFUSED;
		c->code = code;
		return;
	default:
		c->state = AC_REFUSED;
		c->code = 500;
		snprintf(c->text, sizeof(c->text), "poorly formed answer to our IDXP-Greeting");
	}
}

static void
an_message(struct beep_session *bs, void *arg, const struct beep_msg *msg)
{
	struct an_chan *c = arg;
	struct idxp_greeting g;
	struct idxp_greeting_error ge;
	char doc[300];
	int n;

	/* the manager's IDXP-Greeting */
	if (idxp_greeting_parse(msg->body, msg->len, &g, &ge) != 0) {
		n = snprintf(doc, sizeof(doc), "<error code='%u'>%s</error>", ge.code, ge.text);
		(void)beep_session_reply(bs, msg->channel, msg->msgno, BEEP_ERR, "text/xml",
		    (const uint8_t *)doc, (size_t)n, 0);
		return;
	}
	c->their_greeting = true;
	(void)beep_session_reply(bs, msg->channel, msg->msgno, BEEP_RPY, "text/xml",
	    (const uint8_t *)"<ok/>", 5, 0);
}

static void
an_reply(struct beep_session *bs, void *arg, const struct beep_msg *msg)
{
	struct analyzer *a = arg;
	unsigned code = 0;
	char text[150];

	(void)bs;
	if (msg->type == BEEP_RPY && idxp_answer_parse(msg->body, msg->len, &code, text,
	    sizeof(text)) == 1) {
		a->acked++;
		return;
	}
	a->refused++;
	if (idxp_answer_parse(msg->body, msg->len, &code, text, sizeof(text)) == 0)
		snprintf(a->last_refusal, sizeof(a->last_refusal), "%u %s", code, text);
	else
		snprintf(a->last_refusal, sizeof(a->last_refusal), "unexpected answer");
}

struct an_wait {
	struct analyzer *a;
	struct an_chan  *chans;
	size_t           n;
};

static bool
an_chans_ready(void *arg)
{
	struct an_wait *w = arg;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->chans[i].state == AC_STARTING ||
		    (w->chans[i].state == AC_OPEN && !w->chans[i].their_greeting))
			return false;
	return true;
}

static bool
an_all_answered(void *arg)
{
	struct analyzer *a = arg;

	return a->acked + a->refused == a->sent;
}

static bool
an_released(void *arg)
{
	struct analyzer *a = arg;

	return beep_session_state(a->io.bs) == BEEP_SS_RELEASED;
}

static int
an_load_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	*buf = malloc(IDXP_MSG_MAX + 1);
	if (*buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(*buf, 1, IDXP_MSG_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > IDXP_MSG_MAX) {
		free(*buf);
		errno = n == 0 ? ENODATA : EFBIG;
		return -1;
	}
	*len = n;
	return 0;
}

static size_t
an_alert(char *out, size_t size, unsigned i, const char *marker, const char *uri)
{
	char ts[40];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(out, size,
	    "<?xml version='1.0' encoding='UTF-8'?>\n"
	    "<idmef:IDMEF-Message xmlns:idmef='http://iana.org/idmef' version='1.0'>"
	    "<idmef:Alert messageid='%u'>"
	    "<idmef:Analyzer analyzerid='%s'/>"
	    "<idmef:CreateTime>%s</idmef:CreateTime>"
	    "<idmef:Classification text='%s alert %u'/>"
	    "</idmef:Alert></idmef:IDMEF-Message>",
	    i, uri, ts, marker, i);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static size_t
an_heartbeat(char *out, size_t size, unsigned i, const char *uri)
{
	int n = snprintf(out, size,
	    "<idmef:IDMEF-Message xmlns:idmef='http://iana.org/idmef' version='1.0'>"
	    "<idmef:Heartbeat messageid='hb-%u'><idmef:Analyzer analyzerid='%s'/>"
	    "</idmef:Heartbeat></idmef:IDMEF-Message>", i, uri);

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static struct tunnel_elem *
an_element(const char *mhost, uint16_t mport, char vias[][256], const uint16_t *vports,
           size_t nvia)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e, *inner;
	struct in6_addr a6;
	size_t i;

	if ((inner = tunnel_elem_new_empty(&err)) == NULL)
		return NULL;
	/* innermost first: the manager (a BEEP final), then the relays backwards */
	for (i = nvia + 1; i-- > 0;) {
		const char *h = i == nvia ? mhost : vias[i];
		uint16_t p = i == nvia ? mport : vports[i];

		if (inet_pton(AF_INET, h, &a6) == 1 || inet_pton(AF_INET6, h, &a6) == 1)
			e = tunnel_elem_new_ip(h, p, inner, &err);
		else
			e = tunnel_elem_new_fqdn(h, NULL, p, inner, &err);
		if (e == NULL) {
			fprintf(stderr, "%s: %s: %s\n", progname, h, err.text);
			tunnel_elem_free(inner);
			return NULL;
		}
		inner = e;
	}
	return inner;
}

static int
an_connect_direct(const char *host, uint16_t port)
{
	struct addrinfo hints, *ai, *p;
	char ps[8];
	int fd = -1;

	snprintf(ps, sizeof(ps), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, ps, &hints, &ai) != 0)
		return -1;
	for (p = ai; p != NULL; p = p->ai_next) {
		if ((fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
run_analyzer(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'A' }, { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' }, { "uri", required_argument, NULL, 'U' },
		{ "manager", required_argument, NULL, 'M' },
		{ "manager-name", required_argument, NULL, 'N' },
		{ "relay", required_argument, NULL, 'R' }, { "via", required_argument, NULL, 'V' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "heartbeats", required_argument, NULL, 'H' },
		{ "file", required_argument, NULL, 'F' },
		{ "content-type", required_argument, NULL, 'T' },
		{ "marker", required_argument, NULL, 'X' },
		{ "must-understand", required_argument, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca = NULL, *cert = NULL, *key = NULL, *manager = NULL, *mname = NULL;
	const char *relay = NULL, *user = NULL, *pwfile = NULL, *ctype = "text/xml";
	const char *marker = "beepgate-demo", *must = NULL, *files[64];
	const char *uri = "http://localhost/idxp-analyzer";
	char mhost[256], rhost[256], vias[IDXP_VIA_MAX][256], err[IDXP_ERR_MAX];
	uint16_t mport, rport = 0, vports[IDXP_VIA_MAX];
	size_t nvia = 0, nfiles = 0, i, len;
	long nalerts = 10, nbeats = 0;
	struct analyzer a;
	struct an_chan chans[2];
	struct an_wait w;
	struct beep_session_config cfg;
	SSL_CTX *ctx = NULL;
	struct catalog_route route;
	struct tunnel_elem *elem = NULL;
	char *buf = NULL;
	uint8_t *fbuf;
	bool verbose = false;
	int ch, rc = IX_FAIL;
	uint64_t deadline;

	memset(&a, 0, sizeof(a));
	memset(&route, 0, sizeof(route));
	a.io.fd = -1;
	while ((ch = getopt_long(argc, argv, "n:t:u:v", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': nalerts = atol(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		case 'u': user = optarg; break;
		case 'v': verbose = true; break;
		case 'A': ca = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'U': uri = optarg; break;
		case 'M': manager = optarg; break;
		case 'N': mname = optarg; break;
		case 'R': relay = optarg; break;
		case 'V':
			if (nvia == IDXP_VIA_MAX)
				die_usage("at most %d --via relays", IDXP_VIA_MAX);
			split_hostport(optarg, vias[nvia], sizeof(vias[0]), &vports[nvia], 604);
			nvia++;
			break;
		case 'P': pwfile = optarg; break;
		case 'H': nbeats = atol(optarg); break;
		case 'F':
			if (nfiles == 64)
				die_usage("at most %d --file", 64);
			files[nfiles++] = optarg;
			break;
		case 'T': ctype = optarg; break;
		case 'X': marker = optarg; break;
		case 'Z': must = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || manager == NULL || nalerts < 0 || nalerts > 1000000 ||
	    nbeats < 0 || nbeats > 1000000 || timeout_s <= 0)
		usage();
	if ((nvia > 0 || user != NULL || pwfile != NULL) && relay == NULL)
		die_usage("%s needs --relay", nvia > 0 ? "--via" : "-u");
	if (strcmp(ctype, "text/xml") != 0 && strcmp(ctype, "text/plain") != 0 &&
	    strcmp(ctype, "application/octet-stream") != 0)
		die_usage("--content-type %s: not an IDXP content type", ctype);
	a.verbose = verbose;
	log_init("idxp-peer", 1, verbose);
	split_hostport(manager, mhost, sizeof(mhost), &mport, IDXP_DEFAULT_PORT);
	if ((ctx = idxp_tls_ctx(false, ca, cert, key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", progname, err);
		return IX_USAGE;
	}

	/* 1. a connection to the manager: direct, or a TUNNEL through relays */
	if (relay == NULL) {
		if ((a.io.fd = an_connect_direct(mhost, mport)) < 0) {
			fprintf(stderr, "%s: cannot connect to %s: %s\n", progname, manager,
			    strerror(errno));
			rc = IX_TUNNEL;
			goto out;
		}
	} else {
		struct bt_open_target t;
		struct evdns_base *dns;
		uint8_t pw[AUTH_SASL_SECRET_MAX + 1];
		size_t pwlen = 0;
		const char *env;

		split_hostport(relay, rhost, sizeof(rhost), &rport, 604);
		if (user != NULL) {
			if (pwfile != NULL) {
				if (auth_sasl_secret_load(pwfile, pw, sizeof(pw), &pwlen, err,
				    sizeof(err)) != 0) {
					fprintf(stderr, "%s: %s\n", progname, err);
					rc = IX_USAGE;
					goto out;
				}
			} else if ((env = getenv("IDXP_PASSWORD")) != NULL &&
			    (pwlen = strlen(env)) < sizeof(pw)) {
				memcpy(pw, env, pwlen);
				explicit_bzero((char *)env, pwlen);
			} else {
				fprintf(stderr, "%s: -u needs --password-file or $IDXP_PASSWORD\n",
				    progname);
				rc = IX_USAGE;
				goto out;
			}
			pw[pwlen] = '\0';
			route.user = (char *)(uintptr_t)user;
			route.secret = strdup((char *)pw);
			explicit_bzero(pw, sizeof(pw));
			if (route.secret == NULL)
				goto out;
		}
		if (auth_sasl_client_init(err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: SASL: %s\n", progname, err);
			goto out;
		}
		/* the element names the further relays, then the manager */
		if ((elem = an_element(mhost, mport, vias, vports, nvia)) == NULL) {
			rc = IX_USAGE;
			goto out;
		}
		if ((a.base = event_base_new()) == NULL)
			goto out;
		dns = evdns_base_new(a.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (dns == NULL && (dns = evdns_base_new(a.base, 0)) != NULL)
			(void)evdns_base_load_hosts(dns, "/etc/hosts");
		route.host = rhost;
		route.port = rport;
		memset(&t, 0, sizeof(t));
		t.host = rhost;
		t.port = rport;
		t.route = &route;
		t.elem = elem;
		t.timeout_ms = (unsigned)timeout_s * 1000;
		if (bt_open_start(a.base, dns, &t, an_opened, &a) == NULL)
			goto out;
		while (!a.opened && event_base_loop(a.base, EVLOOP_ONCE) == 0)
			;
		/* let the opener's deferred clean-up run */
		(void)event_base_loop(a.base, EVLOOP_NONBLOCK);
		(void)event_base_loop(a.base, EVLOOP_NONBLOCK);
		if (dns != NULL)
			evdns_base_free(dns, 0);
		if (!a.opened || !a.res.ok) {
			if (a.res.code != 0)
				fprintf(stderr, "%s: tunnel through %s refused: %u %s\n", progname,
				    relay, a.res.code, a.open_text);
			else
				fprintf(stderr, "%s: tunnel through %s: %s\n", progname, relay,
				    a.open_text);
			rc = IX_TUNNEL;
			goto out;
		}
		a.io.fd = a.res.fd;
		a.io.rest = a.rest;
		a.io.nrest = a.res.nrest;
		a.rest = NULL;
		/* blocking from now on: one connection, driven with poll() */
		(void)fcntl(a.io.fd, F_SETFL, fcntl(a.io.fd, F_GETFL) & ~O_NONBLOCK);
		log_info("tunnel open through %s to %s", relay, manager);
	}

	/* 2. BEEP with the manager, then TLS end to end */
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = BEEP_INITIATOR;
	if ((a.io.bs = beep_session_new(&cfg)) == NULL)
		goto out;
	deadline = idxp_now_ms() + (uint64_t)timeout_s * 1000;
	if (idxp_io_until(&a.io, an_greeted, &a, deadline) != 0) {
		fprintf(stderr, "%s: no BEEP greeting from the manager: %s\n", progname, a.io.err);
		goto out;
	}
	if (!beep_session_peer_offers(a.io.bs, IDXP_TLS_URI)) {
		fprintf(stderr, "%s: the manager does not offer TLS\n", progname);
		rc = IX_TLS;
		goto out;
	}
	if (beep_session_start_channel(a.io.bs, IDXP_TLS_URI, (const uint8_t *)"<ready/>", 8,
	    true, NULL, &(struct beep_channel_ops){ .started = an_tls_started }, &a,
	    BEEP_START_DETACH_ON_OK, NULL) != 0 ||
	    idxp_io_until(&a.io, an_tls_done, &a, deadline) != 0) {
		fprintf(stderr, "%s: asking for TLS: %s\n", progname, a.io.err);
		goto out;
	}
	if (!a.tls_ok) {
		fprintf(stderr, "%s: TLS refused: %u %s\n", progname, a.tls_code, a.tls_text);
		rc = IX_TLS;
		goto out;
	}
	if (idxp_io_starttls(&a.io, ctx, false, mname) != 0) {
		fprintf(stderr, "%s: %s\n", progname, a.io.err);
		rc = IX_TLS;
		goto out;
	}
	{
		char cn[256];

		idxp_tls_peer_cn(a.io.ssl, cn, sizeof(cn));
		log_info("TLS %s with %s, manager certificate \"%s\"", SSL_get_version(a.io.ssl),
		    SSL_get_cipher_name(a.io.ssl), cn);
	}
	if (beep_session_tuning_reset(a.io.bs, NULL, 0) != 0 ||
	    idxp_io_until(&a.io, an_greeted, &a, idxp_now_ms() + (uint64_t)timeout_s * 1000) != 0) {
		/* TLS 1.3: the manager checks our certificate after our side of
		 * the handshake ended; its refusal arrives as an alert here */
		if (a.io.tls_failed) {
			fprintf(stderr, "%s: the manager ended TLS (our certificate refused?): %s\n",
			    progname, a.io.err);
			rc = IX_TLS;
		} else
			fprintf(stderr, "%s: no BEEP greeting after TLS: %s\n", progname, a.io.err);
		goto out;
	}
	if (!beep_session_peer_offers(a.io.bs, IDXP_PROFILE_URI)) {
		fprintf(stderr, "%s: the manager does not offer IDXP after TLS\n", progname);
		rc = IX_REFUSED;
		goto out;
	}

	/* 3. IDXP channels: alerts (priority 1), heartbeats (priority 2) */
	memset(chans, 0, sizeof(chans));
	w.a = &a;
	w.chans = chans;
	w.n = nbeats > 0 ? 2 : 1;
	if ((buf = malloc(IDXP_GREETING_MAX + 200)) == NULL)
		goto out;
	for (i = 0; i < w.n; i++) {
		struct idxp_greeting g;
		size_t gl;

		memset(&g, 0, sizeof(g));
		g.role = IDXP_ROLE_CLIENT;
		snprintf(g.uri, sizeof(g.uri), "%s", uri);
		g.has_priority = true;
		g.priority = (int32_t)i + 1;
		g.stream = i == 0 ? IDXP_STREAM_ALERT : IDXP_STREAM_HEARTBEAT;
		if (must != NULL && i == 0)
			snprintf(g.must_understand, sizeof(g.must_understand), "%s", must);
		if ((gl = idxp_greeting_write(&g, buf, IDXP_GREETING_MAX)) == 0) {
			fprintf(stderr, "%s: --uri is not usable in a greeting\n", progname);
			rc = IX_USAGE;
			goto out;
		}
		if (beep_session_start_channel(a.io.bs, IDXP_PROFILE_URI, (const uint8_t *)buf, gl,
		    true, NULL, &(struct beep_channel_ops){ .started = an_idxp_started,
		    .message = an_message }, &chans[i], 0, &chans[i].ch) != 0) {
			fprintf(stderr, "%s: cannot start an IDXP channel\n", progname);
			goto out;
		}
	}
	if (idxp_io_until(&a.io, an_chans_ready, &w, idxp_now_ms() + (uint64_t)timeout_s * 1000) != 0) {
		fprintf(stderr, "%s: opening IDXP channels: %s\n", progname, a.io.err);
		goto out;
	}
	for (i = 0; i < w.n; i++)
		if (chans[i].state == AC_REFUSED) {
			fprintf(stderr, "%s: the manager refused the %s channel: %u %s\n", progname,
			    i == 0 ? "alert" : "heartbeat", chans[i].code, chans[i].text);
			rc = IX_REFUSED;
			goto out;
		}

	/* 4. the messages; every one must be answered */
	free(buf);
	if ((buf = malloc(8192)) == NULL)
		goto out;
	for (i = 0; i < nfiles; i++) {
		if (an_load_file(files[i], &fbuf, &len) != 0) {
			fprintf(stderr, "%s: %s: %s\n", progname, files[i], strerror(errno));
			rc = IX_USAGE;
			goto out;
		}
		if (beep_session_send_msg(a.io.bs, chans[0].ch, ctype, fbuf, len, an_reply, &a,
		    0, NULL) == 0)
			a.sent++;
		free(fbuf);
		if (idxp_io_flush(&a.io) != 0)
			break;
	}
	for (i = 0; i < (size_t)nalerts || i < (size_t)nbeats; i++) {
		uint64_t until = idxp_now_ms() + (uint64_t)timeout_s * 1000;

		if (i < (size_t)nalerts && (len = an_alert(buf, 8192, (unsigned)i + 1, marker, uri)) > 0) {
			while (beep_session_send_msg(a.io.bs, chans[0].ch, "text/xml",
			    (const uint8_t *)buf, len, an_reply, &a, 0, NULL) != 0) {
				/* send queue full: let replies come in */
				if (errno != ENOBUFS || idxp_now_ms() > until ||
				    idxp_io_step(&a.io, 1000) < 0)
					goto answers;
			}
			a.sent++;
		}
		if (i < (size_t)nbeats && (len = an_heartbeat(buf, 8192, (unsigned)i + 1, uri)) > 0) {
			while (beep_session_send_msg(a.io.bs, chans[1].ch, "text/xml",
			    (const uint8_t *)buf, len, an_reply, &a, 0, NULL) != 0) {
				if (errno != ENOBUFS || idxp_now_ms() > until ||
				    idxp_io_step(&a.io, 1000) < 0)
					goto answers;
			}
			a.sent++;
		}
		if (idxp_io_flush(&a.io) != 0)
			break;
	}
answers:
	if (idxp_io_until(&a.io, an_all_answered, &a,
	    idxp_now_ms() + (uint64_t)timeout_s * 1000) != 0)
		fprintf(stderr, "%s: waiting for acknowledgements: %s\n", progname, a.io.err);
	printf("idxp-peer: messages sent %u, acknowledged %u, refused %u\n", a.sent, a.acked,
	    a.refused);
	if (a.refused > 0)
		fprintf(stderr, "%s: last refusal: %s\n", progname, a.last_refusal);
	rc = a.sent > 0 && a.acked == a.sent ? IX_OK : (a.sent == 0 ? IX_OK : IX_UNACKED);
	if (a.sent == 0 && nalerts + nbeats + (long)nfiles > 0)
		rc = IX_UNACKED;

	/* 5. release the session in order */
	if (beep_session_release(a.io.bs, 200, NULL, NULL, NULL) == 0)
		(void)idxp_io_until(&a.io, an_released, &a, idxp_now_ms() + 5000);
out:
	free(buf);
	if (a.io.ssl != NULL) {
		(void)SSL_shutdown(a.io.ssl);
		SSL_free(a.io.ssl);
	}
	beep_session_free(a.io.bs);
	if (a.io.fd >= 0)
		close(a.io.fd);
	free(a.io.rest);
	free(a.rest);
	tunnel_elem_free(elem);
	if (a.base != NULL)
		event_base_free(a.base);
	if (route.secret != NULL) {
		explicit_bzero(route.secret, strlen(route.secret));
		free(route.secret);
	}
	SSL_CTX_free(ctx);
	return rc;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "manager") == 0)
		return run_manager(argc - 1, argv + 1);
	if (strcmp(argv[1], "analyzer") == 0)
		return run_analyzer(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage();
	die_usage("unknown role \"%s\" (manager or analyzer)", argv[1]);
	return IX_USAGE;
}
