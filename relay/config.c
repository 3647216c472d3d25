/* config: defaults, loading (relay/parse.y does the grammar), the checks
 * that need the whole file, secret files, and reference counting. */
#include "relay/config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/limits.h"
#include "relay/tlsconn.h"

static unsigned config_generation;

static char *
config_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

void
config_defaults(struct config *c)
{
	c->log_verbose = 0;
	c->workers = BG_WORKERS;
	c->limits.max_sessions = BG_MAX_SESSIONS;
	c->limits.max_sessions_per_source = BG_MAX_SESSIONS_PER_SOURCE;
	c->limits.rate_per_source = BG_RATE_PER_SOURCE;
	c->limits.rate_interval = BG_RATE_INTERVAL;
	c->limits.max_tunnels_per_user = BG_MAX_TUNNELS_PER_USER;
	c->limits.max_hops = BG_MAX_HOPS;
	c->limits.buffer = BG_PUMP_BUFFER;
	c->limits.socket_buffer = BG_SOCKET_BUFFER;
	c->limits.beep_message = BG_BEEP_MESSAGE_MAX;
	c->limits.beep_channels = BG_BEEP_CHANNELS_MAX;
	c->limits.tcpmux_line = BG_TCPMUX_LINE_MAX;
	c->timeouts.handshake = BG_TIMEOUT_HANDSHAKE * 1000;
	c->timeouts.connect = BG_TIMEOUT_CONNECT * 1000;
	c->timeouts.idle = BG_TIMEOUT_IDLE * 1000;
	c->timeouts.fin = BG_TIMEOUT_FIN * 1000;
	c->timeouts.hardstop = BG_TIMEOUT_HARDSTOP * 1000;
	c->sasl.mechs = calloc(1, sizeof(char *));
	if (c->sasl.mechs == NULL)
		abort();
	c->sasl.mechs[0] = config_strdup("SCRAM-SHA-256");
	c->sasl.nmechs = 1;
	c->sasl.allow_plaintext = false;
	c->sasl.anonymous = false;
	c->sasl.max_failures = BG_SASL_MAX_FAILURES;
	c->sasl.penalty_failures = BG_SASL_PENALTY_FAILURES;
	c->sasl.penalty_seconds = BG_SASL_PENALTY_SECONDS;
	c->tcpmux_help = HELP_OFF;
	c->policy.catalog_only = false;
}

static void
config_report(config_report_fn *report, void *arg, const char *file, int line,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
config_report(config_report_fn *report, void *arg, const char *file, int line,
              const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_message(report, arg, file, line, msg);
}

void
config_message(config_report_fn *report, void *arg, const char *file, int line,
               const char *msg)
{
	char raw[1400], out[sizeof(raw) * 4];
	size_t i, o = 0;

	if (report == NULL)
		return;
	snprintf(raw, sizeof(raw), "%s:%d: %s", file, line, msg);
	/* One message, one line: control characters from the file (a quoted
	 * "\n", a tab, an escape sequence) are shown escaped, never written. */
	for (i = 0; raw[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)raw[i];

		if (ch == '\n')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
		else if (ch == '\t')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	report(arg, out);
}

/* Checks of a file, by an open descriptor (no race with the read). */
static int
config_check_fd(int fd, const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat %s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s file %s is not a regular file", what, path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s file %s is owned by uid %ld (must be root or uid %ld)",
		         what, path, (long)st.st_uid, (long)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s file %s is readable by group or others (chmod 600)",
		         what, path);
		return -1;
	}
	return 0;
}

static int
config_open_private(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (config_check_fd(fd, what, path, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
config_check_private(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = config_open_private(what, path, err, errlen);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

char *
config_read_secret(const char *path, char *err, size_t errlen)
{
	char buf[BG_CONF_SECRET_MAX + 2], *s;
	size_t got = 0;
	ssize_t r;
	int fd;

	if ((fd = config_open_private("secret", path, err, errlen)) < 0)
		return NULL;
	while (got < sizeof(buf)) {
		r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read secret file %s: %s", path,
			         strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	fd = -1;
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > BG_CONF_SECRET_MAX) {
		snprintf(err, errlen, "secret file %s is too long (more than %d bytes)", path,
		         BG_CONF_SECRET_MAX);
		goto fail;
	}
	if (got == 0) {
		snprintf(err, errlen, "secret file %s is empty", path);
		goto fail;
	}
	if (memchr(buf, '\0', got) != NULL || memchr(buf, '\n', got) != NULL) {
		snprintf(err, errlen, "secret file %s holds more than one line or a NUL byte",
		         path);
		goto fail;
	}
	if ((s = malloc(got + 1)) == NULL)
		abort();
	memcpy(s, buf, got);
	s[got] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return s;
fail:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return NULL;
}

static bool
config_has_group(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->policy.ngroups; i++)
		if (strcmp(c->policy.groups[i].name, name) == 0)
			return true;
	return false;
}

static bool
config_has_route(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->catalog.nroutes; i++)
		if (strcasecmp(c->catalog.routes[i].name, name) == 0)
			return true;
	return false;
}

/* Is there a service reachable as `kind` under `name`? */
static bool
config_has_service(const struct config *c, enum policy_object_kind kind, const char *name)
{
	const struct catalog_service *s;
	size_t i;

	for (i = 0; i < c->catalog.nservices; i++) {
		s = &c->catalog.services[i];
		if (strcasecmp(s->name, name) != 0)
			continue;
		switch (kind) {
		case POBJ_SERVICE:  return true;
		case POBJ_ENDPOINT: return s->as_endpoint;
		case POBJ_PROFILE:  return s->as_profile;
		case POBJ_TCPMUX:   return s->as_tcpmux;
		case POBJ_ANY:
		case POBJ_CIDR:
		case POBJ_HOST:
			return false;
		}
	}
	return false;
}

static const char *
config_object_word(enum policy_object_kind kind)
{
	switch (kind) {
	case POBJ_SERVICE:  return "service";
	case POBJ_ENDPOINT: return "endpoint";
	case POBJ_PROFILE:  return "profile";
	case POBJ_TCPMUX:   return "tcpmux";
	case POBJ_ANY:      return "any";
	case POBJ_CIDR:     return "address";
	case POBJ_HOST:     return "host";
	}
	return "?";
}

/* The SASL user database holds password verifiers: like a secret, it is
 * refused when others may read it or when anyone but its owner may change
 * it.  Its group may read it only if that group is root's or the group the
 * daemon runs as, or runs as now (saslpasswd2 creates it 0640 with the
 * creator's group, and `root:beepgate 0640` lets the daemon read it after
 * dropping privileges).
 * A missing file is not an error here: beepgated checks at start that the
 * user it runs as can read it.  Returns 0, or -1 with a message in err. */
int
config_check_sasldb(const char *path, const char *user, const char *group, char *err,
                    size_t errlen)
{
	struct passwd *pw = NULL;
	struct group *gr;
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	int fd;

	if (user != NULL && (pw = getpwnam(user)) != NULL) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (group != NULL && (gr = getgrnam(group)) != NULL)
		gid = gr->gr_gid;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT || errno == EACCES)
			return 0;
		snprintf(err, errlen, "cannot open SASL user database %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat SASL user database %s: %s", path,
		         strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "SASL user database %s is not a regular file", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != uid && st.st_uid != geteuid()) {
		snprintf(err, errlen, "SASL user database %s is owned by uid %ld (must be root "
		         "or the user beepgated runs as)", path, (long)st.st_uid);
		return -1;
	}
	if (st.st_mode & S_IRWXO) {
		snprintf(err, errlen, "SASL user database %s is accessible by others "
		         "(mode %04o; chmod 600, or 640 with the daemon's group)", path,
		         (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IXGRP)) ||
	    ((st.st_mode & S_IRGRP) && st.st_gid != 0 && st.st_gid != gid &&
	     st.st_gid != getegid())) {
		snprintf(err, errlen, "SASL user database %s is %s by group %ld (mode %04o; "
		         "chmod 600, or 640 with the daemon's group)", path,
		         (st.st_mode & (S_IWGRP | S_IXGRP)) ? "writable" : "readable",
		         (long)st.st_gid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The checks that need the whole configuration.  Returns the error count. */
static int
config_check(struct config *c, config_report_fn *report, void *arg)
{
	const struct conf_listener *l, *m;
	const struct catalog_service *s;
	const struct policy_rule *r;
	char buf[64];
	size_t i, j;
	int errors = 0;

#define ERR(file, line, ...) do {                                      \
	config_report(report, arg, file, line, __VA_ARGS__);           \
	errors++;                                                      \
} while (0)

	if (c->sasl.database != NULL) {
		char err[512];

		if (config_check_sasldb(c->sasl.database, c->user, c->group, err,
		                        sizeof(err)) != 0)
			ERR(c->sasl.database_file != NULL ? c->sasl.database_file : c->file,
			    c->sasl.database_line, "%s", err);
	}
	for (i = 0; i < c->ntls; i++)
		if (!c->tls[i]->defined)
			ERR(c->tls[i]->file, c->tls[i]->line, "tls profile \"%s\" is not defined",
			    c->tls[i]->name);
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		for (j = 0; j < i; j++) {
			m = &c->listeners[j];
			if (m->port == l->port && addr_equal(&m->addr, &l->addr)) {
				ERR(l->file, l->line, "duplicate listener %s port %u (first at %s:%d)",
				    addr_str(&l->addr, buf, sizeof(buf)), l->port, m->file, m->line);
				break;
			}
		}
		if (c->admin.enabled && c->admin.port == l->port &&
		    addr_equal(&c->admin.addr, &l->addr))
			ERR(c->admin.file, c->admin.line, "admin listener %s port %u is also a "
			    "listener (at %s:%d)", addr_str(&l->addr, buf, sizeof(buf)), l->port,
			    l->file, l->line);
		if (l->kind == LISTEN_TUNNEL && c->sasl.database == NULL)
			ERR(l->file, l->line, "a tunnel listener needs a SASL user database "
			    "(sasl { database \"file\" })");
		if (l->tls != NULL && l->tls->defined &&
		    (l->tls->cert == NULL || l->tls->key == NULL))
			ERR(l->file, l->line, "tls profile \"%s\" needs a certificate and a key "
			    "to listen with", l->tls->name);
	}
	for (i = 0; i < c->catalog.nservices; i++) {
		s = &c->catalog.services[i];
		if (s->kind == SVC_ROUTE && s->route != NULL && !config_has_route(c, s->route))
			ERR(s->file, s->line, "service \"%s\" goes via unknown route \"%s\"",
			    s->name, s->route);
	}
	for (i = 0; i < c->policy.nrules; i++) {
		r = &c->policy.rules[i];
		if (r->subj.group != NULL && !config_has_group(c, r->subj.group))
			ERR(r->file, r->line, "unknown group \"%s\"", r->subj.group);
		switch (r->obj.kind) {
		case POBJ_SERVICE:
		case POBJ_ENDPOINT:
		case POBJ_PROFILE:
		case POBJ_TCPMUX:
			if (r->obj.name != NULL && strcmp(r->obj.name, "*") != 0 &&
			    !config_has_service(c, r->obj.kind, r->obj.name))
				ERR(r->file, r->line, "no service is reachable as %s \"%s\"",
				    config_object_word(r->obj.kind), r->obj.name);
			break;
		case POBJ_ANY:
		case POBJ_CIDR:
		case POBJ_HOST:
			break;
		}
	}
#undef ERR
	return errors;
}

/* Appends (addr, port) to the self list, growing it as needed. */
static void
config_self_push(struct config *c, size_t *cap, const struct addr *a, uint16_t port)
{
	void *p;

	if (c->policy.nself == *cap) {
		*cap = *cap == 0 ? 8 : *cap * 2;
		p = reallocarray(c->policy.self, *cap, sizeof(*c->policy.self));
		if (p == NULL)
			abort();
		c->policy.self = p;
	}
	c->policy.self[c->policy.nself].addr = *a;
	c->policy.self[c->policy.nself].port = port;
	c->policy.nself++;
}

/* A listener on the unspecified address is also reached through every
 * address of the host's interfaces (IPV6_V6ONLY is set: same family only).
 * They are read when the configuration is loaded, so a SIGHUP picks up
 * addresses added since. */
static void
config_self_expand(struct config *c, size_t *cap, struct ifaddrs *ifs,
    const struct addr *a, uint16_t port)
{
	struct ifaddrs *i;
	struct addr ia;

	config_self_push(c, cap, a, port);
	if (addr_classify(a) != ADDR_UNSPECIFIED)
		return;
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != a->family)
			continue;
		addr_from_sockaddr(i->ifa_addr, &ia);
		config_self_push(c, cap, &ia, port);
	}
}

/* The relay's own addresses, guarded by policy like loopback. */
static void
config_fill_self(struct config *c, config_report_fn *report, void *arg)
{
	struct ifaddrs *ifs = NULL;
	size_t i, cap = 0;

	if (getifaddrs(&ifs) != 0) {
		config_report(report, arg, c->file, 0, "warning: cannot list "
		    "interface addresses (%s): only the listeners' own addresses "
		    "are guarded as the relay's", strerror(errno));
		ifs = NULL;
	}
	for (i = 0; i < c->nlisteners; i++)
		config_self_expand(c, &cap, ifs, &c->listeners[i].addr,
		    c->listeners[i].port);
	/* the admin listener is never a tunnel destination */
	if (c->admin.enabled)
		config_self_expand(c, &cap, ifs, &c->admin.addr, c->admin.port);
	if (ifs != NULL)
		freeifaddrs(ifs);
}

static void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->user);
	free(c->group);
	for (i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].file);
		free(c->listeners[i].fwd_host);
	}
	free(c->listeners);
	for (i = 0; i < c->nnameservers; i++)
		free(c->nameservers[i]);
	free(c->nameservers);
	free(c->sasl.database);
	free(c->sasl.database_file);
	free(c->sasl.realm);
	for (i = 0; i < c->sasl.nmechs; i++)
		free(c->sasl.mechs[i]);
	free(c->sasl.mechs);
	/* the TLS profiles are shared and owned here, not by the routes */
	for (i = 0; i < c->catalog.nroutes; i++)
		c->catalog.routes[i].tls = NULL;
	catalog_free(&c->catalog);
	policy_free(&c->policy);
	for (i = 0; i < c->ntls; i++) {
		free(c->tls[i]->name);
		free(c->tls[i]->file);
		free(c->tls[i]->cert);
		free(c->tls[i]->key);
		free(c->tls[i]->ca);
		free(c->tls[i]->verify_name);
		tlsconn_ctx_free(c->tls[i]->server_ctx);
		tlsconn_ctx_free(c->tls[i]->client_ctx);
		free(c->tls[i]);
	}
	free(c->tls);
	free(c->admin.file);
	free(c);
}

/* Warnings (not errors): rules that can never decide anything. */
static void
config_warn_shadowed(struct config *c, config_report_fn *report, void *arg)
{
	const struct policy_rule *r, *by;
	size_t i;

	for (i = 0; i < c->policy.nrules; i++) {
		r = &c->policy.rules[i];
		if ((by = policy_shadowed_by(&c->policy, i)) == NULL)
			continue;
		config_report(report, arg, r->file, r->line, "warning: this rule "
		    "never applies: the rule at %s:%d matches first every request "
		    "it matches", by->file, by->line);
	}
}

static struct config *
config_load_any(const char *name, const char *text, config_report_fn *report, void *arg)
{
	struct config *c = calloc(1, sizeof(*c));
	int errors;

	if (c == NULL)
		abort();
	config_defaults(c);
	c->file = config_strdup(name);
	errors = parse_config(c, name, text, report, arg);
	if (errors == 0)
		errors = config_check(c, report, arg);
	if (errors != 0) {
		config_free(c);
		return NULL;
	}
	config_fill_self(c, report, arg);
	config_warn_shadowed(c, report, arg);
	c->refcnt = 1;
	c->generation = ++config_generation;
	return c;
}

struct config *
config_load(const char *path, config_report_fn *report, void *arg)
{
	return config_load_any(path, NULL, report, arg);
}

struct config *
config_load_string(const char *name, const char *text, config_report_fn *report, void *arg)
{
	return config_load_any(name, text, report, arg);
}

struct config *
config_ref(struct config *c)
{
	if (c != NULL)
		c->refcnt++;
	return c;
}

void
config_unref(struct config *c)
{
	if (c == NULL || --c->refcnt > 0)
		return;
	config_free(c);
}
