/* beeptunnel: opens a BEEP TUNNEL (RFC 3620) through one or more relays and
 * pipes bytes through it: stdin/stdout (ssh ProxyCommand), or one tunnel per
 * connection accepted on a local port (-L).  See docs/beeptunnel.md. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "auth/auth_sasl.h"
#include "policy/addr.h"
#include "policy/catalog.h"
#include "relay/limits.h"
#include "relay/log.h"
#include "relay/pump.h"
#include "tunnel/tunnel_elem.h"

#include "bt_exit.h"
#include "bt_open.h"
#include "bt_stdio.h"

#define BT_HOST_MAX          256                 /* fixed: a host name or literal */
#define BT_VIA_MAX           (BG_MAX_HOPS - 1)   /* fixed: --via hops (+ the destination) */
#define BT_TIMEOUT_DEFAULT   30                  /* -t: seconds for the whole handshake */
#define BT_TIMEOUT_MAX       3600                /* -t: at most */
#define BT_LISTEN_CONNS_MAX  256                 /* fixed: -L tunnels open at once */
#define BT_LISTEN_BACKLOG    16
#define BT_PASSWORD_ENV      "BEEPTUNNEL_PASSWORD"

enum {
	OPT_PWFILE = 256,
	OPT_TCPMUX,
	OPT_BEEP,
	OPT_ENDPOINT,
	OPT_PROFILE,
	OPT_VIA,
};

static const struct option bt_longopts[] = {
	{ "user",          required_argument, NULL, 'u' },
	{ "password-file", required_argument, NULL, OPT_PWFILE },
	{ "tcpmux",        required_argument, NULL, OPT_TCPMUX },
	{ "beep",          no_argument,       NULL, OPT_BEEP },
	{ "endpoint",      required_argument, NULL, OPT_ENDPOINT },
	{ "profile",       required_argument, NULL, OPT_PROFILE },
	{ "via",           required_argument, NULL, OPT_VIA },
	{ "listen",        required_argument, NULL, 'L' },
	{ "timeout",       required_argument, NULL, 't' },
	{ "verbose",       no_argument,       NULL, 'v' },
	{ "help",          no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct bt_hostport {
	char     host[BT_HOST_MAX];
	uint16_t port;
};

struct bt_conn;

/* Everything one run holds. */
struct bt_main {
	struct event_base     *base;
	struct evdns_base     *dns;
	struct catalog_route   route;
	struct tunnel_elem    *elem;
	struct bt_open_target  target;
	enum bt_exit           status;
	/* stdin/stdout mode: the opened tunnel */
	int                    fd;
	uint8_t               *rest;
	size_t                 nrest;
	/* -L mode */
	struct evconnlistener *listener;
	struct pump_pool      *pool;
	struct bt_conn        *conns;
	unsigned               nconns;
	unsigned long          nextid;
};

/* -L: one accepted connection and its tunnel. */
struct bt_conn {
	struct bt_main *m;
	unsigned long   id;
	int             cfd;
	struct bt_open *op;
	struct pump    *pump;
	struct bt_conn *prev, *next;
};

static void __attribute__((noreturn))
bt_usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
	    "usage: beeptunnel [options] RELAY DESTINATION\n"
	    "       beeptunnel [options] --tcpmux HOST:PORT:SERVICE DESTINATION\n"
	    "\n"
	    "RELAY        HOST:PORT of the relay's BEEP TUNNEL port ([v6addr]:PORT for IPv6)\n"
	    "DESTINATION  HOST:PORT  the final host (a plain TCP service unless --beep)\n"
	    "             or one of --endpoint NAME, --profile URI, --beep alone\n"
	    "\n"
	    "  --tcpmux HOST:PORT:SERVICE  reach the relay's BEEP engine through its TCPMUX door\n"
	    "  --beep              the final host speaks BEEP (adds the innermost <tunnel/>)\n"
	    "  --endpoint NAME     a service the last relay knows by name\n"
	    "  --profile URI       a service the last relay knows by profile\n"
	    "  --via HOST:PORT     a further relay (repeatable, outermost first)\n"
	    "  -u, --user USER     authenticate with SASL (SCRAM-SHA-256 preferred)\n"
	    "  --password-file F   the password (file mode 0600 or stricter); otherwise\n"
	    "                      the environment variable " BT_PASSWORD_ENV "\n"
	    "  -L, --listen [ADDR:]PORT  accept connections (default address 127.0.0.1),\n"
	    "                      one tunnel per connection; otherwise stdin/stdout\n"
	    "  -t, --timeout SEC   total time for connecting and the BEEP handshake (%d)\n"
	    "  -v, --verbose       show the exchange on stderr (never secrets)\n"
	    "  -h, --help          this text\n"
	    "\n"
	    "Passwords are never taken on the command line.\n"
	    "\n%s", BT_TIMEOUT_DEFAULT, bt_exit_table());
	exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bt_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("beeptunnel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(beeptunnel -h for help)\n", stderr);
	exit(BT_EXIT_USAGE);
}

/* Rejects what getopt_long would otherwise take: abbreviated long options
 * ("--pass" would be --password-file) and unknown ones, naming only the
 * option, never a value that may be a secret typed by mistake. */
static void
bt_check_longopts(int argc, char **argv)
{
	int i;
	size_t k, namelen;
	const char *a, *eq;
	bool found;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			return;
		if (a[0] != '-' || a[1] != '-')
			continue;
		eq = strchr(a + 2, '=');
		namelen = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		if (namelen >= 4 && strncmp(a + 2, "password", namelen < 8 ? namelen : 8) == 0 &&
		    !(namelen == 13 && strncmp(a + 2, "password-file", 13) == 0))
			bt_usage_error("no password on the command line: use --password-file FILE "
			               "or the environment variable %s", BT_PASSWORD_ENV);
		found = false;
		for (k = 0; bt_longopts[k].name != NULL; k++) {
			if (strlen(bt_longopts[k].name) == namelen &&
			    strncmp(bt_longopts[k].name, a + 2, namelen) == 0) {
				found = true;
				if (bt_longopts[k].has_arg == required_argument && eq == NULL)
					i++;         /* its value, whatever it looks like */
				break;
			}
		}
		if (!found)
			bt_usage_error("unknown option --%.*s", (int)(namelen > 40 ? 40 : namelen),
			               a + 2);
	}
}

static bool
bt_parse_port(const char *s, uint16_t *port, bool allow_zero)
{
	unsigned long v = 0;
	size_t i;

	if (allow_zero && strcmp(s, "0") == 0) {
		*port = 0;           /* -L: any free port, reported on stderr */
		return true;
	}
	if (s[0] == '\0' || s[0] == '0' || strlen(s) > 5)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "host:port", "[v6]:port"; with listen (-L), "port" alone leaves host
 * empty and port 0 is allowed.  Returns false on a bad spelling. */
static bool
bt_parse_hostport(const char *s, struct bt_hostport *hp, bool listen)
{
	const char *colon, *h, *end;
	size_t hl;

	memset(hp, 0, sizeof(*hp));
	colon = strrchr(s, ':');
	if (colon == NULL)
		return listen && bt_parse_port(s, &hp->port, true);
	if (!bt_parse_port(colon + 1, &hp->port, listen))
		return false;
	h = s;
	end = colon;
	if (h[0] == '[') {
		if (end - h < 2 || end[-1] != ']')
			return false;
		h++;
		end--;
	} else if (memchr(h, ':', (size_t)(end - h)) != NULL) {
		return false;            /* an IPv6 literal needs brackets */
	}
	hl = (size_t)(end - h);
	if (hl == 0 || hl >= sizeof(hp->host))
		return false;
	memcpy(hp->host, h, hl);
	hp->host[hl] = '\0';
	return true;
}

/* An address element for host:port (literal or name) around inner. */
static struct tunnel_elem *
bt_elem_host(const struct bt_hostport *hp, struct tunnel_elem *inner, const char *what)
{
	struct tunnel_elem_error err;
	struct tunnel_elem *e;
	struct addr a;

	memset(&err, 0, sizeof(err));
	if (addr_parse(hp->host, &a))
		e = tunnel_elem_new_ip(hp->host, hp->port, inner, &err);
	else
		e = tunnel_elem_new_fqdn(hp->host, NULL, hp->port, inner, &err);
	if (e == NULL) {
		tunnel_elem_free(inner);
		bt_usage_error("%s %s: %s", what, hp->host, err.text);
	}
	return e;
}

/* The password: from the file, else from the environment (then wiped from
 * it).  Stored NUL-terminated in route->secret. */
static void
bt_load_password(struct catalog_route *route, const char *file)
{
	uint8_t buf[AUTH_SASL_SECRET_MAX + 1];
	char err[AUTH_SASL_ERR_MAX];
	size_t len = 0;
	char *env;

	if (file != NULL) {
		if (auth_sasl_secret_load(file, buf, sizeof(buf), &len, err, sizeof(err)) != 0)
			bt_usage_error("%s", err);
	} else if ((env = getenv(BT_PASSWORD_ENV)) != NULL) {
		len = strlen(env);
		if (len > AUTH_SASL_SECRET_MAX)
			bt_usage_error("%s: longer than %d octets", BT_PASSWORD_ENV,
			               AUTH_SASL_SECRET_MAX);
		memcpy(buf, env, len);
		explicit_bzero(env, len);
		unsetenv(BT_PASSWORD_ENV);
	} else {
		bt_usage_error("-u needs a password: use --password-file FILE or the "
		               "environment variable %s", BT_PASSWORD_ENV);
	}
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		bt_usage_error("the password is empty or contains a NUL octet");
	}
	if ((route->secret = malloc(len + 1)) == NULL) {
		fprintf(stderr, "beeptunnel: out of memory\n");
		exit(BT_EXIT_LOCAL);
	}
	memcpy(route->secret, buf, len);
	route->secret[len] = '\0';
	explicit_bzero(buf, sizeof(buf));
}

static void
bt_report(const struct bt_open_result *r)
{
	if (r->code != 0)
		fprintf(stderr, "beeptunnel: %s: %u %s\n", bt_exit_describe(r->status), r->code,
		        r->text);
	else
		fprintf(stderr, "beeptunnel: %s: %s\n", bt_exit_describe(r->status), r->text);
}

/* stdin/stdout mode ------------------------------------------------------- */

static void
bt_stdio_opened(void *arg, const struct bt_open_result *r)
{
	struct bt_main *m = arg;

	if (!r->ok) {
		bt_report(r);
		m->status = r->status;
		event_base_loopbreak(m->base);
		return;
	}
	m->fd = r->fd;
	if (r->nrest > 0) {
		if ((m->rest = malloc(r->nrest)) == NULL) {
			fprintf(stderr, "beeptunnel: out of memory\n");
			m->status = BT_EXIT_LOCAL;
			event_base_loopexit(m->base, NULL);
			return;
		}
		memcpy(m->rest, r->rest, r->nrest);
		m->nrest = r->nrest;
	}
	m->status = BT_EXIT_OK;
	/* let the BEEP side finish freeing itself, then leave the loop */
	event_base_loopexit(m->base, NULL);
}

static void
bt_run_stdio(struct bt_main *m)
{
	char err[256];

	m->status = BT_EXIT_OTHER;
	if (bt_open_start(m->base, m->dns, &m->target, bt_stdio_opened, m) == NULL) {
		fprintf(stderr, "beeptunnel: out of memory\n");
		m->status = BT_EXIT_LOCAL;
		return;
	}
	event_base_dispatch(m->base);
	(void)event_base_loop(m->base, EVLOOP_NONBLOCK);
	if (m->fd < 0)
		return;
	if (m->status != BT_EXIT_OK) {
		close(m->fd);
		m->fd = -1;
		return;
	}
	log_debug("tunnel open; copying stdin/stdout");
	if (bt_stdio_run(m->fd, STDIN_FILENO, STDOUT_FILENO, m->rest, m->nrest, err,
	                 sizeof(err)) != 0) {
		fprintf(stderr, "beeptunnel: %s\n", err);
		m->status = BT_EXIT_LOCAL;
	}
	m->fd = -1;                  /* closed by bt_stdio_run */
}

/* -L mode ----------------------------------------------------------------- */

static void
bt_conn_free(struct bt_conn *c)
{
	struct bt_main *m = c->m;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	m->nconns--;
	bt_open_cancel(c->op);
	pump_free(c->pump);          /* closes both sockets */
	if (c->pump == NULL && c->cfd >= 0)
		close(c->cfd);
	free(c);
}

static void
bt_conn_pumped(void *arg, const struct pump_result *r)
{
	struct bt_conn *c = arg;

	log_debug("connection %lu closed: %s, %llu octets out, %llu in", c->id, r->reason,
	          (unsigned long long)r->bytes_c2s, (unsigned long long)r->bytes_s2c);
	c->pump = NULL;              /* freed by itself, fds closed */
	c->cfd = -1;
	bt_conn_free(c);
}

static void
bt_conn_opened(void *arg, const struct bt_open_result *r)
{
	struct bt_conn *c = arg;
	struct pump_config conf;

	c->op = NULL;                /* freed when this returns */
	if (!r->ok) {
		fprintf(stderr, "beeptunnel: connection %lu: ", c->id);
		bt_report(r);
		bt_conn_free(c);
		return;
	}
	pump_config_default(&conf);
	conf.idle_ms = 0;            /* an interactive session may idle */
	c->pump = pump_new(c->m->base, c->m->pool, c->cfd, r->fd, &conf, NULL, 0, r->rest,
	                   r->nrest, bt_conn_pumped, c);
	if (c->pump == NULL) {
		fprintf(stderr, "beeptunnel: connection %lu: cannot start the pump: %s\n", c->id,
		        strerror(errno));
		close(r->fd);
		bt_conn_free(c);
		return;
	}
	log_debug("connection %lu: tunnel open", c->id);
}

static void
bt_accepted(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
            void *arg)
{
	struct bt_main *m = arg;
	struct bt_conn *c;
	char abuf[LOG_ADDRSTRLEN];

	(void)l;
	(void)salen;
	if (m->nconns >= BT_LISTEN_CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
		fprintf(stderr, "beeptunnel: refusing a connection: %s\n",
		        m->nconns >= BT_LISTEN_CONNS_MAX ? "too many tunnels open" : "out of memory");
		close(fd);
		return;
	}
	c->m = m;
	c->id = ++m->nextid;
	c->cfd = fd;
	c->next = m->conns;
	if (m->conns != NULL)
		m->conns->prev = c;
	m->conns = c;
	m->nconns++;
	log_debug("connection %lu from %s", c->id, log_addr(sa, abuf, sizeof(abuf)));
	if ((c->op = bt_open_start(m->base, m->dns, &m->target, bt_conn_opened, c)) == NULL) {
		fprintf(stderr, "beeptunnel: connection %lu: out of memory\n", c->id);
		bt_conn_free(c);
	}
}

static void
bt_signalled(evutil_socket_t sig, short what, void *arg)
{
	struct bt_main *m = arg;

	(void)what;
	log_debug("signal %d: stopping", (int)sig);
	event_base_loopbreak(m->base);
}

static void
bt_run_listen(struct bt_main *m, const struct bt_hostport *hp)
{
	struct sockaddr_storage ss, bound;
	socklen_t sl, bl = sizeof(bound);
	struct addr a;
	struct event *sigint = NULL, *sigterm = NULL;
	char abuf[LOG_ADDRSTRLEN];

	m->status = BT_EXIT_LOCAL;
	if (!addr_parse(hp->host, &a)) {
		fprintf(stderr, "beeptunnel: -L: %s is not an IP address\n", hp->host);
		m->status = BT_EXIT_USAGE;
		return;
	}
	sl = addr_to_sockaddr(&a, hp->port, &ss);
	if ((m->pool = pump_pool_new(0)) == NULL) {
		fprintf(stderr, "beeptunnel: out of memory\n");
		return;
	}
	m->listener = evconnlistener_new_bind(m->base, bt_accepted, m,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                      LEV_OPT_CLOSE_ON_EXEC, BT_LISTEN_BACKLOG,
	                                      (struct sockaddr *)&ss, (int)sl);
	if (m->listener == NULL) {
		fprintf(stderr, "beeptunnel: cannot listen on %s: %s\n",
		        log_addr((struct sockaddr *)&ss, abuf, sizeof(abuf)), strerror(errno));
		return;
	}
	if (getsockname(evconnlistener_get_fd(m->listener), (struct sockaddr *)&bound, &bl) != 0)
		memcpy(&bound, &ss, sizeof(bound));
	fprintf(stderr, "beeptunnel: listening on %s\n",
	        log_addr((struct sockaddr *)&bound, abuf, sizeof(abuf)));
	sigint = evsignal_new(m->base, SIGINT, bt_signalled, m);
	sigterm = evsignal_new(m->base, SIGTERM, bt_signalled, m);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0) {
		fprintf(stderr, "beeptunnel: cannot catch signals\n");
	} else {
		event_base_dispatch(m->base);
		m->status = BT_EXIT_OK;
	}
	while (m->conns != NULL)
		bt_conn_free(m->conns);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	/* the BEEP sides of cancelled attempts free themselves from the loop */
	(void)event_base_loop(m->base, EVLOOP_NONBLOCK);
}

/* ------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct bt_main m;
	struct bt_hostport relay, dest, listen_at, via[BT_VIA_MAX];
	struct tunnel_elem *inner = NULL;
	struct tunnel_elem_error terr;
	const char *user = NULL, *pwfile = NULL, *tcpmux = NULL, *endpoint = NULL;
	const char *profile = NULL;
	char tcpmux_relay[BT_HOST_MAX + 8], err[AUTH_SASL_ERR_MAX];
	char *svc, *xml;
	size_t nvia = 0, xlen;
	bool beep = false, listening = false, have_dest = false;
	int ch, verbose = 0, npos;
	unsigned long tmo = BT_TIMEOUT_DEFAULT;
	char *endp;

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	bt_check_longopts(argc, argv);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+u:L:t:vh", bt_longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			user = optarg;
			break;
		case OPT_PWFILE:
			pwfile = optarg;
			break;
		case OPT_TCPMUX:
			tcpmux = optarg;
			break;
		case OPT_BEEP:
			beep = true;
			break;
		case OPT_ENDPOINT:
			endpoint = optarg;
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_VIA:
			if (nvia == BT_VIA_MAX)
				bt_usage_error("at most %d --via relays", BT_VIA_MAX);
			if (!bt_parse_hostport(optarg, &via[nvia], false))
				bt_usage_error("--via %s: expected HOST:PORT", optarg);
			nvia++;
			break;
		case 'L':
			if (!bt_parse_hostport(optarg, &listen_at, true))
				bt_usage_error("-L %s: expected [ADDR:]PORT", optarg);
			if (listen_at.host[0] == '\0')
				strcpy(listen_at.host, "127.0.0.1");
			listening = true;
			break;
		case 't':
			errno = 0;
			tmo = strtoul(optarg, &endp, 10);
			if (errno != 0 || *endp != '\0' || tmo < 1 || tmo > BT_TIMEOUT_MAX)
				bt_usage_error("-t %s: expected 1 to %d seconds", optarg,
				               BT_TIMEOUT_MAX);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			bt_usage(0);
		case '?':
			if (optopt != 0)
				bt_usage_error("unknown option -%c", optopt);
			bt_usage_error("unknown option");
		case ':':
			bt_usage_error("option needs a value");
		default:
			bt_usage_error("bad option");
		}
	}
	npos = argc - optind;

	/* the relay */
	if (tcpmux != NULL) {
		if (strlen(tcpmux) >= sizeof(tcpmux_relay))
			bt_usage_error("--tcpmux: too long");
		strcpy(tcpmux_relay, tcpmux);
		svc = strrchr(tcpmux_relay, ':');
		if (svc == NULL || svc[1] == '\0')
			bt_usage_error("--tcpmux %s: expected HOST:PORT:SERVICE", tcpmux);
		*svc++ = '\0';
		if (!bt_parse_hostport(tcpmux_relay, &relay, false))
			bt_usage_error("--tcpmux %s: expected HOST:PORT:SERVICE", tcpmux);
		for (xlen = 0; svc[xlen] != '\0'; xlen++)
			if (svc[xlen] <= ' ' || svc[xlen] >= 0x7f)
				bt_usage_error("--tcpmux: the service name must be printable "
				               "ASCII without spaces");
	} else {
		if (npos < 1)
			bt_usage_error("no relay given");
		if (!bt_parse_hostport(argv[optind], &relay, false))
			bt_usage_error("relay %s: expected HOST:PORT", argv[optind]);
		optind++;
		npos--;
		svc = NULL;
	}
	/* the destination */
	if (npos > 1)
		bt_usage_error("too many arguments");
	if (npos == 1) {
		if (!bt_parse_hostport(argv[optind], &dest, false))
			bt_usage_error("destination %s: expected HOST:PORT", argv[optind]);
		have_dest = true;
	}
	if ((endpoint != NULL) + (profile != NULL) + have_dest > 1)
		bt_usage_error("give one destination: HOST:PORT, --endpoint or --profile");
	if (beep && (endpoint != NULL || profile != NULL))
		bt_usage_error("--beep goes with HOST:PORT or alone, not with --endpoint or --profile");
	if (!have_dest && endpoint == NULL && profile == NULL && !beep)
		bt_usage_error("no destination given");

	/* the element, innermost first */
	memset(&terr, 0, sizeof(terr));
	if (endpoint != NULL) {
		if ((inner = tunnel_elem_new_endpoint(endpoint, &terr)) == NULL)
			bt_usage_error("--endpoint: %s", terr.text);
	} else if (profile != NULL) {
		if ((inner = tunnel_elem_new_profile(profile, &terr)) == NULL)
			bt_usage_error("--profile: %s", terr.text);
	} else if (beep && (inner = tunnel_elem_new_empty(&terr)) == NULL) {
		bt_usage_error("--beep: %s", terr.text);
	}
	if (have_dest)
		inner = bt_elem_host(&dest, inner, "destination");
	while (nvia > 0) {
		nvia--;
		inner = bt_elem_host(&via[nvia], inner, "--via");
	}
	m.elem = inner;

	/* credentials */
	if (user != NULL) {
		if (strlen(user) == 0 || strlen(user) > AUTH_SASL_USER_MAX)
			bt_usage_error("-u: the user name must have 1 to %d octets",
			               AUTH_SASL_USER_MAX);
		m.route.user = (char *)(uintptr_t)user;
		bt_load_password(&m.route, pwfile);
	} else if (pwfile != NULL) {
		bt_usage_error("--password-file needs -u USER");
	}

	signal(SIGPIPE, SIG_IGN);
	log_init("beeptunnel", 1, verbose);
	if (auth_sasl_client_init(err, sizeof(err)) != 0) {
		fprintf(stderr, "beeptunnel: SASL: %s\n", err);
		m.status = BT_EXIT_LOCAL;
		goto out;
	}
	if ((m.base = event_base_new()) == NULL) {
		fprintf(stderr, "beeptunnel: cannot create the event loop\n");
		m.status = BT_EXIT_LOCAL;
		goto out;
	}
	/* names are resolved with the system's resolver configuration */
	m.dns = evdns_base_new(m.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (m.dns == NULL && (m.dns = evdns_base_new(m.base, 0)) != NULL)
		(void)evdns_base_load_hosts(m.dns, "/etc/hosts");
	m.route.host = relay.host;
	m.route.port = relay.port;
	m.target.host = relay.host;
	m.target.port = relay.port;
	m.target.tcpmux = svc;
	m.target.route = &m.route;
	m.target.elem = m.elem;
	m.target.timeout_ms = (unsigned)tmo * 1000;
	if (verbose) {
		xlen = tunnel_elem_write_len(m.elem);
		if ((xml = malloc(xlen + 1)) != NULL && tunnel_elem_write(m.elem, xml, xlen + 1) > 0)
			log_debug("TUNNEL element: %s", xml);
		free(xml);
		if (user != NULL)
			log_debug("authenticating as \"%s\" (password not shown)", user);
	}
	if (listening)
		bt_run_listen(&m, &listen_at);
	else
		bt_run_stdio(&m);
out:
	if (m.listener != NULL)
		evconnlistener_free(m.listener);
	pump_pool_free(m.pool);
	if (m.dns != NULL)
		evdns_base_free(m.dns, 0);
	if (m.base != NULL)
		event_base_free(m.base);
	auth_sasl_done();
	if (m.route.secret != NULL) {
		explicit_bzero(m.route.secret, strlen(m.route.secret));
		free(m.route.secret);
	}
	free(m.rest);
	tunnel_elem_free(m.elem);
	log_close();
	return (int)m.status;
}
