/* Unit tests: the configuration language (relay/parse.y, relay/config.c). */
#include <CUnit/CUnit.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/config.h"
#include "relay/defconf.h"
#include "relay/limits.h"
#include "tests/unit/cutest.h"

/* ---- helpers ---- */

#define MAXMSG 32
static char *msgs[MAXMSG];
static size_t nmsgs;

static void
reset_msgs(void)
{
	size_t i;

	for (i = 0; i < nmsgs; i++)
		free(msgs[i]);
	nmsgs = 0;
}

static void
collect(void *arg, const char *msg)
{
	(void)arg;
	if (nmsgs < MAXMSG)
		msgs[nmsgs++] = strdup(msg);
}

static void
dump_msgs(void)
{
	size_t i;

	for (i = 0; i < nmsgs; i++)
		fprintf(stderr, "  report: %s\n", msgs[i]);
}

/* "@/" in s stands for the test's temporary directory. */
static char *
expand(const char *s)
{
	const char *dir = cutest_tmpdir();
	size_t n = strlen(s) + 1, dl = strlen(dir);
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, "@/")) != NULL; p += 2)
		n += dl;
	out = o = malloc(n);
	while (*s != '\0') {
		if (s[0] == '@' && s[1] == '/') {
			memcpy(o, dir, dl);
			o += dl;
			*o++ = '/';
			s += 2;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path = expand(name);
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	CU_ASSERT_FATAL(chmod(path, mode) == 0);
	return path;
}

static struct config *
load_text(const char *name, const char *text)
{
	char full[256], *path;

	snprintf(full, sizeof(full), "@/%s", name);
	path = write_file(full, text, 0644);
	struct config *c;

	reset_msgs();
	c = config_load(path, collect, NULL);
	free(path);
	return c;
}

static struct config *
load_ok(const char *name, const char *text)
{
	struct config *c = load_text(name, text);

	if (c == NULL || nmsgs != 0) {
		fprintf(stderr, "\n%s: expected to load\n", name);
		dump_msgs();
	}
	CU_ASSERT_PTR_NOT_NULL(c);
	CU_ASSERT_EQUAL(nmsgs, 0);
	return c;
}

/* ---- good files ---- */

static void
test_defaults(void)
{
	struct config *c = load_ok("empty.conf", "# nothing but a comment\n\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->refcnt, 1);
	CU_ASSERT_PTR_NULL(c->user);
	CU_ASSERT_PTR_NULL(c->group);
	CU_ASSERT_FALSE(c->allow_root);
	CU_ASSERT_EQUAL(c->log_verbose, 0);
	CU_ASSERT_EQUAL(c->limits.max_sessions, BG_MAX_SESSIONS);
	CU_ASSERT_EQUAL(c->limits.max_sessions_per_source, BG_MAX_SESSIONS_PER_SOURCE);
	CU_ASSERT_EQUAL(c->limits.rate_per_source, BG_RATE_PER_SOURCE);
	CU_ASSERT_EQUAL(c->limits.rate_interval, BG_RATE_INTERVAL);
	CU_ASSERT_EQUAL(c->limits.max_tunnels_per_user, BG_MAX_TUNNELS_PER_USER);
	CU_ASSERT_EQUAL(c->limits.max_hops, BG_MAX_HOPS);
	CU_ASSERT_EQUAL(c->limits.buffer, BG_PUMP_BUFFER);
	CU_ASSERT_EQUAL(c->limits.socket_buffer, 0);
	CU_ASSERT_EQUAL(c->limits.beep_message, BG_BEEP_MESSAGE_MAX);
	CU_ASSERT_EQUAL(c->limits.beep_channels, BG_BEEP_CHANNELS_MAX);
	CU_ASSERT_EQUAL(c->limits.tcpmux_line, BG_TCPMUX_LINE_MAX);
	CU_ASSERT_EQUAL(c->timeouts.handshake, BG_TIMEOUT_HANDSHAKE * 1000);
	CU_ASSERT_EQUAL(c->timeouts.connect, BG_TIMEOUT_CONNECT * 1000);
	CU_ASSERT_EQUAL(c->timeouts.idle, BG_TIMEOUT_IDLE * 1000);
	CU_ASSERT_EQUAL(c->timeouts.fin, BG_TIMEOUT_FIN * 1000);
	CU_ASSERT_EQUAL(c->timeouts.hardstop, BG_TIMEOUT_HARDSTOP * 1000);
	CU_ASSERT_PTR_NULL(c->sasl.database);
	CU_ASSERT_PTR_NULL(c->sasl.realm);
	CU_ASSERT_EQUAL_FATAL(c->sasl.nmechs, 1);
	CU_ASSERT_STRING_EQUAL(c->sasl.mechs[0], "SCRAM-SHA-256");
	CU_ASSERT_FALSE(c->sasl.allow_plaintext);
	CU_ASSERT_FALSE(c->sasl.anonymous);
	CU_ASSERT_EQUAL(c->sasl.max_failures, BG_SASL_MAX_FAILURES);
	CU_ASSERT_EQUAL(c->sasl.penalty_failures, BG_SASL_PENALTY_FAILURES);
	CU_ASSERT_EQUAL(c->sasl.penalty_seconds, BG_SASL_PENALTY_SECONDS);
	CU_ASSERT_EQUAL(c->tcpmux_help, HELP_OFF);
	CU_ASSERT_EQUAL(c->nlisteners, 0);
	CU_ASSERT_EQUAL(c->nnameservers, 0);
	CU_ASSERT_EQUAL(c->policy.nrules, 0);
	CU_ASSERT_FALSE(c->policy.catalog_only);
	CU_ASSERT_EQUAL(c->catalog.nservices, 0);
	config_unref(c);
}

static void
test_shipped_example(void)
{
	const char *src = getenv("BEEPGATE_SRC");
	char path[1024];
	struct config *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	snprintf(path, sizeof(path), "%s/etc/beepgated.conf", src);
	reset_msgs();
	c = config_load(path, collect, NULL);
	dump_msgs();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(nmsgs, 0);
	/* what the example promises in its comments */
	CU_ASSERT_STRING_EQUAL(c->user, "beepgate");
	CU_ASSERT(c->nlisteners >= 2);
	CU_ASSERT(c->catalog.nservices >= 1);
	CU_ASSERT(c->policy.nrules >= 1);
	CU_ASSERT_EQUAL(c->policy.rules[c->policy.nrules - 1].action, POLICY_BLOCK);
	config_unref(c);
}

static void
test_builtin(void)
{
	struct config *c;

	reset_msgs();
	c = config_load_string(defconf_name, defconf_text, collect, NULL);
	dump_msgs();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->file, defconf_name);
	CU_ASSERT_EQUAL_FATAL(c->nlisteners, 1);
	CU_ASSERT_EQUAL(c->listeners[0].kind, LISTEN_FORWARD);
	CU_ASSERT_STRING_EQUAL(c->listeners[0].file, defconf_name);
	config_unref(c);

	/* messages name the given name */
	reset_msgs();
	c = config_load_string("(text)", "user \"x\"\nlimits { max-hops 0 }\n", collect, NULL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	CU_ASSERT_STRING_EQUAL(msgs[0], "(text):2: max-hops 0 is out of range (1-64)");
}

static void
test_generation_and_refs(void)
{
	struct config *a = load_ok("g1.conf", "user \"nobody\"\n");
	struct config *b = load_ok("g2.conf", "user \"nobody\"\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(b->generation, a->generation + 1);
	/* a failed load does not use up a generation */
	CU_ASSERT_PTR_NULL(load_text("g3.conf", "bogus\n"));
	config_unref(b);
	b = load_ok("g4.conf", "\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(b->generation, a->generation + 2);
	CU_ASSERT_PTR_EQUAL(config_ref(a), a);
	CU_ASSERT_EQUAL(a->refcnt, 2);
	config_unref(a);
	CU_ASSERT_EQUAL(a->refcnt, 1);
	config_unref(a);
	config_unref(b);
	config_unref(NULL);
	CU_ASSERT_PTR_NULL(config_ref(NULL));
}

/* Every statement, every field. */
static void
test_maximal(void)
{
	struct config *c;
	const struct conf_listener *l;
	const struct catalog_service *s;
	const struct catalog_route *r;
	const struct policy_rule *p;
	struct addr a;
	char *key = write_file("@/max.key", "KEY\n", 0600);
	char *sec = write_file("@/max.secret", "s3cret\n", 0600);
	char buf[64];

	free(key);
	free(sec);
	c = load_ok("max.conf",
	    "# every statement\n"
	    "user \"beepgate\"\n"
	    "group \"bgroup\"\n"
	    "allow root\n"
	    "log verbose\n"
	    "nameserver 127.0.0.1 port 5353\n"
	    "nameserver 2001:db8::53\n"
	    "nameserver ::1 port 53\n"
	    "limits {\n"
	    "  max-sessions 500\n"
	    "  max-sessions-per-source 20\n"
	    "  connection-rate 7 per 2s\n"
	    "  max-tunnels-per-user 30\n"
	    "  max-hops 4\n"
	    "  buffer 1m\n"
	    "  beep-message 32k\n"
	    "  beep-channels 300\n"
	    "  tcpmux-line 256\n"
	    "}\n"
	    "timeouts { handshake 5s connect 1500ms idle 2h fin 1m hard-stop 45 }\n"
	    "sasl {\n"
	    "  database \"users.sasldb\"\n"
	    "  realm \"example.net\"\n"
	    "  mechanisms scram-sha-256 SCRAM-SHA-1 PLAIN\n"
	    "  allow plaintext\n"
	    "  allow anonymous\n"
	    "  max-failures 5\n"
	    "  penalty 20 failures 2m\n"
	    "}\n"
	    "tls \"front\" { certificate \"srv.pem\" key \"max.key\" ca \"/etc/ca.pem\" "
	    "verify-client require }\n"
	    "tls \"up\" { ca \"ca.pem\" verify-name \"relay.example.net\" }\n"
	    "tls \"opt\" { certificate \"a.pem\" key \"max.key\" verify-client }\n"
	    "listen on 127.0.0.1 port 604 tunnel tls \"front\"\n"
	    "listen on :: port 1 tcpmux\n"
	    "listen on 127.0.0.1 port 8080 forward to backend.example port 80\n"
	    "listen on ::1 port 8443 forward to 192.0.2.10 port 443 tls \"opt\"\n"
	    "tcpmux help all\n"
	    "group \"analyzers\" { \"alice\" \"bob\" }\n"
	    "group \"empty\" { }\n"
	    "route \"dmz\" { connect 192.0.2.1 port 604 tcpmux user \"relayA\" "
	    "secret \"max.secret\" tls \"up\" }\n"
	    "route \"plain\" { connect relay2.example port 604 }\n"
	    "service \"idxp-manager\" {\n"
	    "  connect 10.0.0.5 port 603\n"
	    "  endpoint tcpmux final\n"
	    "  ack backend\n"
	    "  description \"the IDXP manager\"\n"
	    "}\n"
	    "service \"http://example.net/beep/thing\" { via \"dmz\" endpoint \"manager\" profile }\n"
	    "service \"p2\" { via \"dmz\" profile \"http://iana.org/beep/x\" endpoint }\n"
	    "service \"h1\" { via \"plain\" to host \"mgr.corp\" port 603 beep endpoint }\n"
	    "service \"h2\" { via \"plain\" to host \"10.1.1.1\" port 9 endpoint }\n"
	    "service \"e\" { via \"dmz\" tunnel endpoint }\n"
	    "service \"t\" { via \"dmz\" tcpmux \"far-name\" tcpmux ack relay }\n"
	    "service \"beep\" { beep tcpmux }\n"
	    "catalog-only\n"
	    "pass from group \"analyzers\" source 10.0.0.0/8 to service \"idxp-manager\"\n"
	    "pass from user \"alice\" cert \"CN=alice\" source { 192.0.2.0/24 2001:db8::/32 } "
	    "to { 10.0.0.0/8 fd00::/8 } port 600-610\n"
	    "pass from user * to host \"*.example.net\" port 603\n"
	    "pass to endpoint \"e\"\n"
	    "pass to profile \"http://example.net/beep/thing\"\n"
	    "pass to tcpmux \"t\"\n"
	    "pass to service \"*\"\n"
	    "block from user \"mallory\" to any\n"
	    "pass to 192.0.2.7\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);

	CU_ASSERT_STRING_EQUAL(c->user, "beepgate");
	CU_ASSERT_STRING_EQUAL(c->group, "bgroup");
	CU_ASSERT_TRUE(c->allow_root);
	CU_ASSERT_EQUAL(c->log_verbose, 1);
	CU_ASSERT_EQUAL_FATAL(c->nnameservers, 3);
	CU_ASSERT_STRING_EQUAL(c->nameservers[0], "127.0.0.1:5353");
	CU_ASSERT_STRING_EQUAL(c->nameservers[1], "2001:db8::53");
	CU_ASSERT_STRING_EQUAL(c->nameservers[2], "[::1]:53");

	CU_ASSERT_EQUAL(c->limits.max_sessions, 500);
	CU_ASSERT_EQUAL(c->limits.max_sessions_per_source, 20);
	CU_ASSERT_EQUAL(c->limits.rate_per_source, 7);
	CU_ASSERT_EQUAL(c->limits.rate_interval, 2);
	CU_ASSERT_EQUAL(c->limits.max_tunnels_per_user, 30);
	CU_ASSERT_EQUAL(c->limits.max_hops, 4);
	CU_ASSERT_EQUAL(c->limits.buffer, 1024 * 1024);
	CU_ASSERT_EQUAL(c->limits.beep_message, 32 * 1024);
	CU_ASSERT_EQUAL(c->limits.beep_channels, 300);
	CU_ASSERT_EQUAL(c->limits.tcpmux_line, 256);
	CU_ASSERT_EQUAL(c->timeouts.handshake, 5000);
	CU_ASSERT_EQUAL(c->timeouts.connect, 1500);
	CU_ASSERT_EQUAL(c->timeouts.idle, 2 * 3600 * 1000);
	CU_ASSERT_EQUAL(c->timeouts.fin, 60 * 1000);
	CU_ASSERT_EQUAL(c->timeouts.hardstop, 45 * 1000);

	/* relative paths are relative to the file's directory */
	snprintf(buf, sizeof(buf), "%s/users.sasldb", cutest_tmpdir());
	CU_ASSERT_STRING_EQUAL(c->sasl.database, buf);
	CU_ASSERT_STRING_EQUAL(c->sasl.realm, "example.net");
	CU_ASSERT_EQUAL_FATAL(c->sasl.nmechs, 3);
	CU_ASSERT_STRING_EQUAL(c->sasl.mechs[0], "SCRAM-SHA-256");
	CU_ASSERT_STRING_EQUAL(c->sasl.mechs[1], "SCRAM-SHA-1");
	CU_ASSERT_STRING_EQUAL(c->sasl.mechs[2], "PLAIN");
	CU_ASSERT_TRUE(c->sasl.allow_plaintext);
	CU_ASSERT_TRUE(c->sasl.anonymous);
	CU_ASSERT_EQUAL(c->sasl.max_failures, 5);
	CU_ASSERT_EQUAL(c->sasl.penalty_failures, 20);
	CU_ASSERT_EQUAL(c->sasl.penalty_seconds, 120);

	CU_ASSERT_EQUAL_FATAL(c->ntls, 3);
	CU_ASSERT_STRING_EQUAL(c->tls[0]->name, "front");
	snprintf(buf, sizeof(buf), "%s/srv.pem", cutest_tmpdir());
	CU_ASSERT_STRING_EQUAL(c->tls[0]->cert, buf);
	snprintf(buf, sizeof(buf), "%s/max.key", cutest_tmpdir());
	CU_ASSERT_STRING_EQUAL(c->tls[0]->key, buf);
	CU_ASSERT_STRING_EQUAL(c->tls[0]->ca, "/etc/ca.pem");
	CU_ASSERT_TRUE(c->tls[0]->verify_peer);
	CU_ASSERT_TRUE(c->tls[0]->require_peer);
	CU_ASSERT_PTR_NULL(c->tls[0]->verify_name);
	CU_ASSERT_TRUE(c->tls[0]->defined);
	CU_ASSERT_EQUAL(c->tls[0]->line, 30);
	CU_ASSERT_STRING_EQUAL(c->tls[1]->verify_name, "relay.example.net");
	CU_ASSERT_PTR_NULL(c->tls[1]->cert);
	CU_ASSERT_FALSE(c->tls[1]->verify_peer);
	CU_ASSERT_TRUE(c->tls[2]->verify_peer);
	CU_ASSERT_FALSE(c->tls[2]->require_peer);

	CU_ASSERT_EQUAL_FATAL(c->nlisteners, 4);
	l = &c->listeners[0];
	CU_ASSERT_EQUAL(l->kind, LISTEN_TUNNEL);
	CU_ASSERT_STRING_EQUAL(addr_str(&l->addr, buf, sizeof(buf)), "127.0.0.1");
	CU_ASSERT_EQUAL(l->port, 604);
	CU_ASSERT_PTR_EQUAL(l->tls, c->tls[0]);
	CU_ASSERT_EQUAL(l->line, 33);
	CU_ASSERT_PTR_NOT_NULL(strstr(l->file, "max.conf"));
	l = &c->listeners[1];
	CU_ASSERT_EQUAL(l->kind, LISTEN_TCPMUX);
	CU_ASSERT_EQUAL(l->addr.family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(addr_str(&l->addr, buf, sizeof(buf)), "::");
	CU_ASSERT_EQUAL(l->port, 1);
	CU_ASSERT_PTR_NULL(l->tls);
	l = &c->listeners[2];
	CU_ASSERT_EQUAL(l->kind, LISTEN_FORWARD);
	CU_ASSERT_STRING_EQUAL(l->fwd_host, "backend.example");
	CU_ASSERT_EQUAL(l->fwd_port, 80);
	l = &c->listeners[3];
	CU_ASSERT_STRING_EQUAL(addr_str(&l->addr, buf, sizeof(buf)), "::1");
	CU_ASSERT_STRING_EQUAL(l->fwd_host, "192.0.2.10");
	CU_ASSERT_EQUAL(l->fwd_port, 443);
	CU_ASSERT_PTR_EQUAL(l->tls, c->tls[2]);

	/* the relay's own addresses, for the policy guards */
	/* (a listener on an unspecified address adds the host's addresses) */
	CU_ASSERT_FATAL(c->policy.nself >= 4);
	CU_ASSERT_EQUAL(c->policy.self[0].port, 604);
	CU_ASSERT_TRUE(addr_equal(&c->policy.self[c->policy.nself - 1].addr,
	    &c->listeners[3].addr));

	CU_ASSERT_EQUAL(c->tcpmux_help, HELP_ALL);
	CU_ASSERT_EQUAL_FATAL(c->policy.ngroups, 2);
	CU_ASSERT_STRING_EQUAL(c->policy.groups[0].name, "analyzers");
	CU_ASSERT_EQUAL_FATAL(c->policy.groups[0].nmembers, 2);
	CU_ASSERT_STRING_EQUAL(c->policy.groups[0].members[0], "alice");
	CU_ASSERT_STRING_EQUAL(c->policy.groups[0].members[1], "bob");
	CU_ASSERT_EQUAL(c->policy.groups[1].nmembers, 0);

	CU_ASSERT_EQUAL_FATAL(c->catalog.nroutes, 2);
	r = &c->catalog.routes[0];
	CU_ASSERT_STRING_EQUAL(r->name, "dmz");
	CU_ASSERT_STRING_EQUAL(r->host, "192.0.2.1");
	CU_ASSERT_EQUAL(r->port, 604);
	CU_ASSERT_TRUE(r->tcpmux);
	CU_ASSERT_STRING_EQUAL(r->user, "relayA");
	snprintf(buf, sizeof(buf), "%s/max.secret", cutest_tmpdir());
	CU_ASSERT_STRING_EQUAL(r->secret_file, buf);
	CU_ASSERT_STRING_EQUAL(r->secret, "s3cret");     /* one newline stripped */
	CU_ASSERT_PTR_EQUAL(r->tls, c->tls[1]);
	CU_ASSERT_EQUAL(r->line, 40);
	r = &c->catalog.routes[1];
	CU_ASSERT_STRING_EQUAL(r->host, "relay2.example");
	CU_ASSERT_FALSE(r->tcpmux);
	CU_ASSERT_PTR_NULL(r->user);
	CU_ASSERT_PTR_NULL(r->secret);
	CU_ASSERT_PTR_NULL(r->tls);

	CU_ASSERT_EQUAL_FATAL(c->catalog.nservices, 8);
	s = &c->catalog.services[0];
	CU_ASSERT_STRING_EQUAL(s->name, "idxp-manager");
	CU_ASSERT_EQUAL(s->line, 42);
	CU_ASSERT_EQUAL(s->kind, SVC_CONNECT);
	CU_ASSERT_STRING_EQUAL(s->host, "10.0.0.5");
	CU_ASSERT_EQUAL(s->port, 603);
	CU_ASSERT_TRUE(s->as_endpoint);
	CU_ASSERT_FALSE(s->as_profile);
	CU_ASSERT_TRUE(s->as_tcpmux);
	CU_ASSERT_TRUE(s->as_final);
	CU_ASSERT_EQUAL(s->ack, ACK_BACKEND);
	CU_ASSERT_STRING_EQUAL(s->description, "the IDXP manager");
	s = &c->catalog.services[1];
	CU_ASSERT_EQUAL(s->kind, SVC_ROUTE);
	CU_ASSERT_STRING_EQUAL(s->route, "dmz");
	CU_ASSERT_EQUAL(s->next.kind, NEXT_ENDPOINT);
	CU_ASSERT_STRING_EQUAL(s->next.value, "manager");
	CU_ASSERT_TRUE(s->as_profile);
	CU_ASSERT_FALSE(s->as_endpoint);
	CU_ASSERT_EQUAL(s->ack, ACK_RELAY);
	s = &c->catalog.services[2];
	CU_ASSERT_EQUAL(s->next.kind, NEXT_PROFILE);
	CU_ASSERT_STRING_EQUAL(s->next.value, "http://iana.org/beep/x");
	s = &c->catalog.services[3];
	CU_ASSERT_EQUAL(s->next.kind, NEXT_HOST);
	CU_ASSERT_STRING_EQUAL(s->next.value, "mgr.corp");
	CU_ASSERT_EQUAL(s->next.port, 603);
	CU_ASSERT_TRUE(s->next.beep);
	CU_ASSERT_TRUE(s->as_endpoint);
	s = &c->catalog.services[4];
	CU_ASSERT_EQUAL(s->next.kind, NEXT_HOST);
	CU_ASSERT_FALSE(s->next.beep);
	CU_ASSERT_EQUAL(s->next.port, 9);
	s = &c->catalog.services[5];
	CU_ASSERT_EQUAL(s->next.kind, NEXT_EMPTY);
	CU_ASSERT_PTR_NULL(s->next.value);
	s = &c->catalog.services[6];
	CU_ASSERT_EQUAL(s->next.kind, NEXT_TCPMUX);
	CU_ASSERT_STRING_EQUAL(s->next.value, "far-name");
	CU_ASSERT_TRUE(s->as_tcpmux);
	s = &c->catalog.services[7];
	CU_ASSERT_EQUAL(s->kind, SVC_BEEP);
	CU_ASSERT_TRUE(s->as_tcpmux);

	CU_ASSERT_TRUE(c->policy.catalog_only);
	CU_ASSERT_EQUAL_FATAL(c->policy.nrules, 9);
	p = &c->policy.rules[0];
	CU_ASSERT_EQUAL(p->action, POLICY_PASS);
	CU_ASSERT_EQUAL(p->line, 56);
	CU_ASSERT_STRING_EQUAL(p->subj.group, "analyzers");
	CU_ASSERT_PTR_NULL(p->subj.user);
	CU_ASSERT_FALSE(p->subj.any_user);
	CU_ASSERT_EQUAL_FATAL(p->subj.nsources, 1);
	CU_ASSERT_EQUAL(p->subj.sources[0].prefix, 8);
	CU_ASSERT_EQUAL(p->obj.kind, POBJ_SERVICE);
	CU_ASSERT_STRING_EQUAL(p->obj.name, "idxp-manager");
	CU_ASSERT_EQUAL(p->obj.port_lo, 0);
	p = &c->policy.rules[1];
	CU_ASSERT_STRING_EQUAL(p->subj.user, "alice");
	CU_ASSERT_STRING_EQUAL(p->subj.cert, "CN=alice");
	CU_ASSERT_EQUAL_FATAL(p->subj.nsources, 2);
	CU_ASSERT_EQUAL(p->subj.sources[1].base.family, AF_INET6);
	CU_ASSERT_EQUAL(p->subj.sources[1].prefix, 32);
	CU_ASSERT_EQUAL(p->obj.kind, POBJ_CIDR);
	CU_ASSERT_EQUAL_FATAL(p->obj.ncidrs, 2);
	CU_ASSERT_EQUAL(p->obj.cidrs[1].prefix, 8);
	CU_ASSERT_EQUAL(p->obj.port_lo, 600);
	CU_ASSERT_EQUAL(p->obj.port_hi, 610);
	p = &c->policy.rules[2];
	CU_ASSERT_TRUE(p->subj.any_user);
	CU_ASSERT_PTR_NULL(p->subj.user);
	CU_ASSERT_EQUAL(p->obj.kind, POBJ_HOST);
	CU_ASSERT_STRING_EQUAL(p->obj.pattern, "*.example.net");
	CU_ASSERT_EQUAL(p->obj.port_lo, 603);
	CU_ASSERT_EQUAL(p->obj.port_hi, 603);
	CU_ASSERT_EQUAL(c->policy.rules[3].obj.kind, POBJ_ENDPOINT);
	CU_ASSERT_STRING_EQUAL(c->policy.rules[3].obj.name, "e");
	CU_ASSERT_EQUAL(c->policy.rules[4].obj.kind, POBJ_PROFILE);
	CU_ASSERT_EQUAL(c->policy.rules[5].obj.kind, POBJ_TCPMUX);
	CU_ASSERT_EQUAL(c->policy.rules[6].obj.kind, POBJ_SERVICE);
	CU_ASSERT_STRING_EQUAL(c->policy.rules[6].obj.name, "*");
	p = &c->policy.rules[7];
	CU_ASSERT_EQUAL(p->action, POLICY_BLOCK);
	CU_ASSERT_EQUAL(p->obj.kind, POBJ_ANY);
	CU_ASSERT_EQUAL(p->subj.nsources, 0);
	CU_ASSERT_STRING_EQUAL(p->subj.user, "mallory");
	p = &c->policy.rules[8];
	CU_ASSERT_EQUAL_FATAL(p->obj.ncidrs, 1);
	CU_ASSERT_EQUAL(p->obj.cidrs[0].prefix, 32);
	CU_ASSERT_TRUE(addr_parse("192.0.2.7", &a));
	CU_ASSERT_TRUE(addr_equal(&p->obj.cidrs[0].base, &a));
	config_unref(c);
}

/* admin on ADDRESS port N [allow-remote] */
static void
test_workers(void)
{
	struct config *c;

	c = load_ok("w0.conf", "\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->workers, BG_WORKERS);
	config_unref(c);
	c = load_ok("w4.conf", "workers 4\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->workers, 4);
	config_unref(c);
	c = load_ok("wauto.conf", "workers auto\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->workers, 0);
	config_unref(c);
	/* out of range, with the keyword and the bounds in the message */
	CU_ASSERT_PTR_NULL(load_text("wbig.conf", "workers 33\n"));
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(msgs[0], "workers"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msgs[0], "wbig.conf:1"));
	CU_ASSERT_PTR_NULL(load_text("wzero.conf", "workers 0\n"));
	CU_ASSERT_EQUAL(nmsgs, 1);
	CU_ASSERT_PTR_NULL(load_text("wword.conf", "workers many\n"));
	CU_ASSERT(nmsgs >= 1);
	reset_msgs();
}

static void
test_admin(void)
{
	struct config *c;
	struct addr a;

	c = load_ok("noadmin.conf", "listen on 127.0.0.1 port 9000 tcpmux\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_FALSE(c->admin.enabled);
	CU_ASSERT_EQUAL(c->policy.nself, 1);
	config_unref(c);

	c = load_ok("admin.conf", "listen on 127.0.0.1 port 9000 tcpmux\n"
	            "\nadmin on 127.0.0.1 port 9604\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_TRUE(c->admin.enabled);
	CU_ASSERT_TRUE(addr_parse("127.0.0.1", &a));
	CU_ASSERT_TRUE(addr_equal(&c->admin.addr, &a));
	CU_ASSERT_EQUAL(c->admin.port, 9604);
	CU_ASSERT_FALSE(c->admin.allow_remote);
	CU_ASSERT_EQUAL(c->admin.line, 3);
	/* the admin port is one of the relay's own addresses for policy */
	CU_ASSERT_EQUAL_FATAL(c->policy.nself, 2);
	CU_ASSERT_TRUE(addr_equal(&c->policy.self[1].addr, &a));
	CU_ASSERT_EQUAL(c->policy.self[1].port, 9604);
	config_unref(c);

	c = load_ok("admin6.conf", "admin on ::1 port 9604\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_TRUE(c->admin.enabled);
	CU_ASSERT_TRUE(addr_parse("::1", &a));
	CU_ASSERT_TRUE(addr_equal(&c->admin.addr, &a));
	config_unref(c);

	c = load_ok("adminremote.conf", "admin on 192.0.2.1 port 80 allow-remote\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_TRUE(c->admin.enabled);
	CU_ASSERT_TRUE(c->admin.allow_remote);
	CU_ASSERT_EQUAL(c->admin.port, 80);
	config_unref(c);

	/* allow-remote is not needed on loopback, and is harmless there */
	c = load_ok("adminlo.conf", "admin on 127.0.0.2 port 9604 allow-remote\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_TRUE(c->admin.enabled);
	config_unref(c);

	/* a later "admin off" turns it off again; then it may be set anew */
	c = load_ok("adminoff.conf", "admin on 127.0.0.1 port 9604\nadmin off\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_FALSE(c->admin.enabled);
	CU_ASSERT_EQUAL(c->policy.nself, 0);
	config_unref(c);
	c = load_ok("adminagain.conf", "admin on 127.0.0.1 port 1\nadmin off\n"
	            "admin on 127.0.0.1 port 2\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->admin.port, 2);
	config_unref(c);
}

static void
test_macros(void)
{
	struct config *c = load_ok("macro.conf",
	    "lo = \"127.0.0.1\"\n"
	    "net = 10.1.0.0\n"
	    "mgrport = 603\n"
	    "clients = \"{ 192.0.2.0/24 198.51.100.0/24 }\"\n"
	    "who = \"user \\\"alice\\\"\"\n"
	    "lo = \"127.0.0.2\"          # a later definition wins\n"
	    "listen on $lo port 9000 forward to $lo port $mgrport\n"
	    "pass from $who source $clients to $net/16 port $mgrport\n"
	    "service \"$lo\" { connect 10.0.0.1 port 1 endpoint }\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->listeners[0].fwd_host, "127.0.0.2");
	CU_ASSERT_EQUAL(c->listeners[0].fwd_port, 603);
	CU_ASSERT_EQUAL(c->listeners[0].line, 7);
	CU_ASSERT_STRING_EQUAL(c->policy.rules[0].subj.user, "alice");
	CU_ASSERT_EQUAL(c->policy.rules[0].subj.nsources, 2);
	CU_ASSERT_EQUAL_FATAL(c->policy.rules[0].obj.ncidrs, 1);
	CU_ASSERT_EQUAL(c->policy.rules[0].obj.cidrs[0].prefix, 16);
	CU_ASSERT_EQUAL(c->policy.rules[0].obj.port_lo, 603);
	/* not expanded inside quotes */
	CU_ASSERT_STRING_EQUAL(c->catalog.services[0].name, "$lo");
	config_unref(c);
}

static void
test_include(void)
{
	char *dir = expand("@/inc");
	char *p;
	struct config *c;

	mkdir(dir, 0755);
	free(dir);
	free(write_file("@/inc/rules.conf",
	                "# included\n"
	                "pass from user \"bob\" to $net port 22\n"
	                "include \"more.conf\"\n", 0644));
	free(write_file("@/inc/more.conf", "block from user \"mallory\" to any\n", 0644));
	c = load_ok("inc/main.conf",
	    "net = \"10.0.0.0/8\"\n"
	    "include \"rules.conf\"\n"
	    "pass to 192.0.2.1 port 80\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->policy.nrules, 3);
	p = expand("@/inc/rules.conf");
	CU_ASSERT_STRING_EQUAL(c->policy.rules[0].file, p);
	free(p);
	CU_ASSERT_EQUAL(c->policy.rules[0].line, 2);
	CU_ASSERT_EQUAL(c->policy.rules[0].obj.port_lo, 22);
	p = expand("@/inc/more.conf");
	CU_ASSERT_STRING_EQUAL(c->policy.rules[1].file, p);
	free(p);
	CU_ASSERT_EQUAL(c->policy.rules[1].line, 1);
	CU_ASSERT_EQUAL(c->policy.rules[1].action, POLICY_BLOCK);
	p = expand("@/inc/main.conf");
	CU_ASSERT_STRING_EQUAL(c->policy.rules[2].file, p);
	free(p);
	CU_ASSERT_EQUAL(c->policy.rules[2].line, 3);
	config_unref(c);
}

static void
test_ipv6_and_lexing(void)
{
	struct config *c = load_ok("lex.conf",
	    "listen on ::1 port 7000 forward to ::1 port 7001\n"
	    "listen on 2001:db8::1 port 7000 \\\n"
	    "    forward to fe80::1 port 7002   # continued line\n"
	    "listen on ::ffff:127.0.0.1 port 7003 forward to h port 1\n"
	    "pass to { 2001:db8::/32, ::1 } port 1-65535\n"
	    "service \"esc\" { connect h port 1 endpoint description \"a \\\"quoted\\\" \\\\ \\\n"
	    "word\" }\n"
	    "limits { buffer 4096 }\n");
	char buf[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->nlisteners, 3);
	CU_ASSERT_STRING_EQUAL(addr_str(&c->listeners[1].addr, buf, sizeof(buf)), "2001:db8::1");
	CU_ASSERT_STRING_EQUAL(c->listeners[1].fwd_host, "fe80::1");
	CU_ASSERT_EQUAL(c->listeners[1].line, 2);
	CU_ASSERT_EQUAL(c->listeners[2].line, 4);
	/* a mapped address is the IPv4 address */
	CU_ASSERT_EQUAL(c->listeners[2].addr.family, AF_INET);
	CU_ASSERT_EQUAL_FATAL(c->policy.rules[0].obj.ncidrs, 2);
	CU_ASSERT_EQUAL(c->policy.rules[0].obj.cidrs[1].prefix, 128);
	CU_ASSERT_EQUAL(c->policy.rules[0].obj.port_hi, 65535);
	CU_ASSERT_EQUAL(c->policy.rules[0].line, 5);
	CU_ASSERT_STRING_EQUAL(c->catalog.services[0].description, "a \"quoted\" \\ word");
	CU_ASSERT_EQUAL(c->limits.buffer, 4096);
	config_unref(c);
}

static void
test_socket_buffer(void)
{
	struct config *c = load_ok("sb1.conf", "limits { socket-buffer 64k }\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->limits.socket_buffer, 65536);
	config_unref(c);
	c = load_ok("sb2.conf", "limits { socket-buffer 64k }\nlimits { socket-buffer off }\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->limits.socket_buffer, 0);
	config_unref(c);
}

static void
test_secret_files(void)
{
	struct config *c;
	char *p;

	/* 0600, one trailing newline stripped, only one */
	free(write_file("@/two.secret", "pw\n\n", 0600));
	c = load_text("sec1.conf", "route \"r\" { connect h port 1 user \"u\" secret \"two.secret\" }\n");
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	p = expand("@/sec1.conf:1: secret file @/two.secret holds more than one line or a NUL byte");
	CU_ASSERT_STRING_EQUAL(msgs[0], p);
	free(p);

	free(write_file("@/crlf.secret", "pw", 0400));
	c = load_ok("sec2.conf", "route \"r\" { connect h port 1 user \"u\" secret \"crlf.secret\" }\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->catalog.routes[0].secret, "pw");
	config_unref(c);

	/* never printed: no message holds the secret text */
	free(write_file("@/open.secret", "hunter2\n", 0640));
	c = load_text("sec3.conf", "route \"r\" { connect h port 1 user \"u\" secret \"open.secret\" }\n");
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	CU_ASSERT_PTR_NULL(strstr(msgs[0], "hunter2"));
	p = expand("@/sec3.conf:1: secret file @/open.secret is readable by group or others "
	           "(chmod 600)");
	CU_ASSERT_STRING_EQUAL(msgs[0], p);
	free(p);

	if (geteuid() == 0) {
		p = write_file("@/owned.secret", "pw\n", 0600);
		CU_ASSERT_FATAL(chown(p, 12345, 12345) == 0);
		free(p);
		c = load_text("sec4.conf", "route \"r\" { connect h port 1 user \"u\" "
		              "secret \"owned.secret\" }\n");
		CU_ASSERT_PTR_NULL(c);
		CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
		p = expand("@/sec4.conf:1: secret file @/owned.secret is owned by uid 12345 "
		           "(must be root or uid 0)");
		CU_ASSERT_STRING_EQUAL(msgs[0], p);
		free(p);
	}
}

/* The SASL user database: refused (with file:line) when others may read it
 * or anyone but its owner may change it; readable by root's group or the
 * daemon's group only. */
static void
sasldb_case(const char *conf, mode_t mode, long uid, long gid, const char *user,
            const char *want)
{
	char text[512], *p, *w;
	struct config *c;

	p = write_file("@/users.sasldb", "not really a database\n", mode);
	if (uid >= 0)
		CU_ASSERT_FATAL(chown(p, (uid_t)uid, (gid_t)gid) == 0);
	free(p);
	snprintf(text, sizeof(text), "%s%s%s\nsasl {\n\tdatabase \"users.sasldb\"\n}\n",
	         user != NULL ? "user \"" : "", user != NULL ? user : "",
	         user != NULL ? "\"" : "");
	if (want == NULL) {
		c = load_ok(conf, text);
		config_unref(c);
		return;
	}
	c = load_text(conf, text);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	w = expand(want);
	if (strcmp(msgs[0], w) != 0)
		fprintf(stderr, "\n%s: got  %s\n     want %s\n", conf, msgs[0], w);
	CU_ASSERT_STRING_EQUAL(msgs[0], w);
	free(w);
}

static void
test_sasldb_files(void)
{
	struct config *c;
	struct passwd *pw;

	/* absent: checked at start by the user the daemon runs as, not here */
	c = load_ok("db0.conf", "sasl { database \"nothere.sasldb\" }\n");
	config_unref(c);
	sasldb_case("db1.conf", 0600, -1, -1, NULL, NULL);
	sasldb_case("db2.conf", 0400, -1, -1, NULL, NULL);
	/* what saslpasswd2 makes: 0640, the creator's group */
	sasldb_case("db3.conf", 0640, -1, -1, NULL, NULL);
	sasldb_case("db4.conf", 0644, -1, -1, NULL,
	            "@/db4.conf:3: SASL user database @/users.sasldb is accessible by others "
	            "(mode 0644; chmod 600, or 640 with the daemon's group)");
	sasldb_case("db5.conf", 0602, -1, -1, NULL,
	            "@/db5.conf:3: SASL user database @/users.sasldb is accessible by others "
	            "(mode 0602; chmod 600, or 640 with the daemon's group)");
	if (geteuid() != 0) {
		/* the ownership cases need chown: run as root (CI is) */
		fprintf(stderr, "(ownership cases need root) ");
		CU_FAIL("test_sasldb_files must run as root for the ownership cases");
		return;
	}
	sasldb_case("db6.conf", 0660, 0, 0, NULL,
	            "@/db6.conf:3: SASL user database @/users.sasldb is writable by group 0 "
	            "(mode 0660; chmod 600, or 640 with the daemon's group)");
	sasldb_case("db7.conf", 0640, 0, 12345, NULL,
	            "@/db7.conf:3: SASL user database @/users.sasldb is readable by group 12345 "
	            "(mode 0640; chmod 600, or 640 with the daemon's group)");
	sasldb_case("db8.conf", 0600, 12345, 0, NULL,
	            "@/db8.conf:3: SASL user database @/users.sasldb is owned by uid 12345 "
	            "(must be root or the user beepgated runs as)");
	pw = getpwnam("nobody");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
	/* root:<daemon's group> 0640 and <daemon's user> 0600 are fine */
	sasldb_case("db9.conf", 0640, 0, (long)pw->pw_gid, "nobody", NULL);
	sasldb_case("db10.conf", 0600, (long)pw->pw_uid, (long)pw->pw_gid, "nobody", NULL);
	/* ...but not another user's group, nor another user's file */
	sasldb_case("db11.conf", 0640, 0, 12345, "nobody",
	            "@/db11.conf:3: SASL user database @/users.sasldb is readable by group 12345 "
	            "(mode 0640; chmod 600, or 640 with the daemon's group)");
	sasldb_case("db12.conf", 0600, 12345, (long)pw->pw_gid, "nobody",
	            "@/db12.conf:3: SASL user database @/users.sasldb is owned by uid 12345 "
	            "(must be root or the user beepgated runs as)");
}

/* ---- bad files: each with its exact messages ---- */

struct bad {
	const char *name;
	const char *text;
	const char *msgs[6];   /* "@/" is the temporary directory */
};

static const struct bad bad_files[] = {
	{ "adminremote.conf",
	  "admin on 192.0.2.1 port 9604\n"
	  "admin on 0.0.0.0 port 9604\n"
	  "admin on :: port 9604\n",
	  { "@/adminremote.conf:1: admin listener on 192.0.2.1 is reachable from other hosts: "
	    "use a loopback address, or say allow-remote",
	    "@/adminremote.conf:2: admin listener on 0.0.0.0 is reachable from other hosts: "
	    "use a loopback address, or say allow-remote",
	    "@/adminremote.conf:3: admin listener on :: is reachable from other hosts: "
	    "use a loopback address, or say allow-remote" } },
	{ "adminaddr.conf", "admin on localhost port 9604\nadmin on 127.1 port 9604\n",
	  { "@/adminaddr.conf:1: invalid admin address \"localhost\" (a numeric IPv4 or IPv6 "
	    "address)",
	    "@/adminaddr.conf:2: invalid admin address \"127.1\" (a numeric IPv4 or IPv6 "
	    "address)" } },
	{ "adminport.conf", "admin on 127.0.0.1 port 0\nadmin on 127.0.0.1 port 70000\n"
	  "admin on 127.0.0.1 port http\n",
	  { "@/adminport.conf:1: port 0 is out of range (1-65535)",
	    "@/adminport.conf:2: port 70000 is out of range (1-65535)",
	    "@/adminport.conf:3: invalid port \"http\" (a number 1-65535)" } },
	{ "admintwice.conf", "admin on 127.0.0.1 port 9604\n\nadmin on ::1 port 9605\n",
	  { "@/admintwice.conf:3: admin listener is already configured at "
	    "@/admintwice.conf:1" } },
	{ "adminsyntax.conf", "admin\nadmin on 127.0.0.1\nadmin on 127.0.0.1 port 1 "
	  "allow remote\n",
	  { "@/adminsyntax.conf:1: syntax error at end of line, expected off or on",
	    "@/adminsyntax.conf:2: syntax error at end of line, expected port",
	    "@/adminsyntax.conf:3: syntax error at \"allow\", expected end of line" } },
	{ "adminword.conf", "admin on 127.0.0.1 port 1 remote\n",
	  { "@/adminword.conf:1: unknown keyword \"remote\"" } },
	{ "adminclash.conf", "listen on 127.0.0.1 port 9604 tcpmux\nadmin on 127.0.0.1 port 9604\n",
	  { "@/adminclash.conf:2: admin listener 127.0.0.1 port 9604 is also a listener (at "
	    "@/adminclash.conf:1)" } },
	{ "syntax.conf", "user \"x\"\nlisten on 127.0.0.1 port\n",
	  { "@/syntax.conf:2: syntax error at end of line, expected a name or a number" } },
	{ "keyword.conf", "user \"x\"\n\nfrobnicate on\n",
	  { "@/keyword.conf:3: unknown keyword \"frobnicate\"" } },
	{ "keyword2.conf", "limits {\n  max-sessions 5\n  max-sesions 6\n}\n",
	  { "@/keyword2.conf:3: unknown keyword \"max-sesions\"" } },
	{ "keyword3.conf", "listen on 127.0.0.1 port 604 tunel\n",
	  { "@/keyword3.conf:1: unknown keyword \"tunel\"" } },
	{ "addr.conf", "listen on 127.1 port 80 forward to h port 1\n",
	  { "@/addr.conf:1: invalid listen address \"127.1\" (a numeric IPv4 or IPv6 address)" } },
	{ "addr6.conf", "listen on 2001:db8:::1 port 80 tcpmux\n",
	  { "@/addr6.conf:1: invalid listen address \"2001:db8:::1\" (a numeric IPv4 or IPv6 "
	    "address)" } },
	{ "port0.conf", "listen on 127.0.0.1 port 0 tcpmux\n",
	  { "@/port0.conf:1: port 0 is out of range (1-65535)" } },
	{ "port65536.conf", "\nlisten on 127.0.0.1 port 1 forward to h port 65536\n",
	  { "@/port65536.conf:2: port 65536 is out of range (1-65535)" } },
	{ "portname.conf", "listen on 127.0.0.1 port http tcpmux\n",
	  { "@/portname.conf:1: invalid port \"http\" (a number 1-65535)" } },
	{ "portrange.conf", "pass to any port 20-10\nlisten on ::1 port 1-2 tcpmux\n",
	  { "@/portrange.conf:1: invalid port range 20-10 (1-65535, low-high)",
	    "@/portrange.conf:2: a port range is allowed only in rules" } },
	{ "cidr.conf", "pass to 10.0.0.0/33\npass from source { 10.0.0.0/8 fe80::/129 } to any\n",
	  { "@/cidr.conf:1: invalid address or CIDR block \"10.0.0.0/33\"",
	    "@/cidr.conf:2: invalid address or CIDR block \"fe80::/129\"" } },
	{ "duplisten.conf",
	  "listen on 127.0.0.1 port 1 tcpmux\nlisten on ::1 port 1 tcpmux\n"
	  "listen on 127.0.0.1 port 1 forward to h port 2\n",
	  { "@/duplisten.conf:3: duplicate listener 127.0.0.1 port 1 (first at "
	    "@/duplisten.conf:1)" } },
	{ "macro.conf", "listen on $addr port 1 tcpmux\n",
	  { "@/macro.conf:1: macro \"addr\" is not defined" } },
	{ "macroself.conf", "a = \"$a$a\"\nb = \"$b\"\nlisten on ::1 port 1 $b\n",
	  { "@/macroself.conf:3: too many macro expansions in one line (does \"b\" refer to "
	    "itself?)" } },
	{ "incmissing.conf", "include \"nothere.conf\"\n",
	  { "@/incmissing.conf:1: include: cannot open @/nothere.conf: No such file or "
	    "directory" } },
	{ "cycle-a.conf", "include \"cycle-b.conf\"\n",
	  { "@/cycle-b.conf:2: include \"cycle-a.conf\": @/cycle-a.conf is already being read "
	    "(include cycle)" } },
	{ "route.conf", "service \"s\" {\n via \"nowhere\" tunnel\n endpoint\n}\n",
	  { "@/route.conf:1: service \"s\" goes via unknown route \"nowhere\"" } },
	{ "group.conf", "group \"a\" { \"x\" }\npass from group \"b\" to any\n",
	  { "@/group.conf:2: unknown group \"b\"" } },
	{ "svcref.conf", "pass to endpoint \"nope\"\n",
	  { "@/svcref.conf:1: no service is reachable as endpoint \"nope\"" } },
	{ "tunnel.conf", "\nlisten on 127.0.0.1 port 604 tunnel\n",
	  { "@/tunnel.conf:2: a tunnel listener needs a SASL user database (sasl { database "
	    "\"file\" })" } },
	{ "secret.conf", "route \"r\" {\n connect h port 1\n user \"u\"\n secret \"open.secret\"\n}\n",
	  { "@/secret.conf:4: secret file @/open.secret is readable by group or others "
	    "(chmod 600)" } },
	{ "secretdir.conf", "route \"r\" { connect h port 1 user \"u\" secret \"inc\" }\n",
	  { "@/secretdir.conf:1: secret file @/inc is not a regular file" } },
	{ "keymode.conf", "tls \"t\" { certificate \"c\" key \"open.secret\" }\n",
	  { "@/keymode.conf:1: key file @/open.secret is readable by group or others "
	    "(chmod 600)" } },
	{ "sockbuf.conf", "limits { socket-buffer 1k }\nlimits { socket-buffer 17m }\n"
	  "limits { socket-buffer on }\n",
	  { "@/sockbuf.conf:1: socket-buffer 1024 is out of range (4096-16777216)",
	    "@/sockbuf.conf:2: socket-buffer 17825792 is out of range (4096-16777216)",
	    "@/sockbuf.conf:3: syntax error at \"on\", expected a name, a number or off" } },
	{ "buffer.conf", "limits { buffer 1k }\nlimits { buffer 65m }\n",
	  { "@/buffer.conf:1: buffer 1024 is out of range (4096-67108864)",
	    "@/buffer.conf:2: buffer 68157440 is out of range (4096-67108864)" } },
	{ "units.conf", "timeouts { idle 10q }\nlimits { buffer 12kb }\ntimeouts { fin 8d }\n",
	  { "@/units.conf:1: invalid duration \"10q\" (a number with ms, s, m, h or d)",
	    "@/units.conf:2: invalid size \"12kb\" (bytes, or a number with k, m or g)",
	    "@/units.conf:3: duration 8d is too long (at most 7d)" } },
	{ "unterminated.conf", "user \"nobody\ngroup \"x\"\n",
	  { "@/unterminated.conf:1: unterminated quoted string" } },
	{ "escape.conf", "user \"a\\qb\"\n",
	  { "@/escape.conf:1: invalid escape in quoted string (\\\" \\\\ \\n and \\t are known)" } },
	/* a message is one line: control characters from the file are escaped */
	{ "ctlchars.conf", "user \"x\"\nlog \"a\\nb\\tc\"\n",
	  { "@/ctlchars.conf:2: syntax error at \"a\\nb\\tc\", expected quiet or verbose" } },
	{ "char.conf", "user \"x\"\nlog verbose \x01\nlog ;\n",
	  { "@/char.conf:2: invalid character 0x01", "@/char.conf:3: invalid character ';'" } },
	{ "brace.conf", "limits {\n max-hops 3\n",
	  { "@/brace.conf:1: '{' without '}' before the end of the file" } },
	{ "tlsundef.conf", "listen on ::1 port 5 tcpmux tls \"nope\"\n",
	  { "@/tlsundef.conf:1: tls profile \"nope\" is not defined" } },
	{ "svc.conf",
	  "service \"a\" { endpoint }\n"
	  "service \"b\" { connect h port 1 connect h port 2 endpoint }\n"
	  "service \"c\" { connect h port 1 }\n"
	  "service \"B\" { beep endpoint }\n",
	  { "@/svc.conf:1: service \"a\" has no destination (connect, via or beep)",
	    "@/svc.conf:2: service \"b\" has more than one destination (connect, via or beep)",
	    "@/svc.conf:3: service \"c\" cannot be reached: say how clients name it (endpoint, "
	    "profile, tcpmux or final)",
	    "@/svc.conf:4: service \"B\" is already defined at @/svc.conf:2",
	    "@/svc.conf:4: service \"B\": the relay's own BEEP engine can only be named by "
	    "tcpmux" } },
	/* errors in the middle of a statement: what was built is dropped */
	{ "partial.conf",
	  "service \"s\" { connect h port 1 endpoint bogus }\n"
	  "route \"r\" { connect h port 1 user \"u\" frob }\n"
	  "pass from user \"a\" source 10.0.0.0/8 to\n"
	  "group \"g\" { \"a\" = }\n"
	  "listen on ::1 port 5 forward to\n"
	  "tls \"t\" { key }\n",
	  { "@/partial.conf:1: unknown keyword \"bogus\"",
	    "@/partial.conf:2: unknown keyword \"frob\"",
	    "@/partial.conf:3: syntax error at end of line",
	    "@/partial.conf:4: syntax error at \"=\", expected a name or '}'",
	    "@/partial.conf:5: syntax error at end of line, expected a name",
	    "@/partial.conf:6: syntax error at \"}\", expected a name" } },
	{ "svcport.conf", "service \"s\" { connect h port 1 endpoint }\npass to service \"s\" port 5\n",
	  { "@/svcport.conf:2: a port applies only to addresses, hosts and any (a service has "
	    "its own)" } },
	{ "several.conf",
	  "user \"x\"\n"
	  "bogus 1\n"
	  "limits { max-hops 100 }\n"
	  "listen on 1.2.3 port 5 tcpmux\n"
	  "pass to host \"a b\"\n"
	  "timeouts { idle 1w }\n",
	  { "@/several.conf:2: unknown keyword \"bogus\"",
	    "@/several.conf:3: max-hops 100 is out of range (1-64)",
	    "@/several.conf:4: invalid listen address \"1.2.3\" (a numeric IPv4 or IPv6 address)",
	    "@/several.conf:5: invalid host name or address \"a b\"",
	    "@/several.conf:6: invalid duration \"1w\" (a number with ms, s, m, h or d)" } },
};

static void
test_bad_files(void)
{
	size_t i, j, n;
	struct config *c;
	char *dir = expand("@/inc");

	mkdir(dir, 0755);
	free(dir);
	free(write_file("@/open.secret", "pw\n", 0644));
	free(write_file("@/cycle-b.conf", "# b\ninclude \"cycle-a.conf\"\n", 0644));
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad *b = &bad_files[i];

		c = load_text(b->name, b->text);
		CU_ASSERT_PTR_NULL(c);
		config_unref(c);
		for (n = 0; n < 6 && b->msgs[n] != NULL; n++)
			;
		if (nmsgs != n)
			fprintf(stderr, "\n%s: %zu messages, expected %zu\n", b->name, nmsgs, n);
		CU_ASSERT_EQUAL(nmsgs, n);
		for (j = 0; j < n && j < nmsgs; j++) {
			char *want = expand(b->msgs[j]);
			bool ok = strcmp(msgs[j], want) == 0;

			/* a trailing ", " means: this prefix */
			if (!ok && want[strlen(want) - 1] == ' ')
				ok = strncmp(msgs[j], want, strlen(want)) == 0;
			if (!ok)
				fprintf(stderr, "\n%s: got  %s\n%*s want %s\n", b->name, msgs[j],
				        (int)strlen(b->name), "", want);
			CU_ASSERT_TRUE(ok);
			free(want);
		}
		if (nmsgs != n)
			dump_msgs();
	}
	reset_msgs();
}

static void
test_include_depth(void)
{
	char name[64], text[64];
	int i;
	struct config *c;
	char *p;

	for (i = 0; i <= BG_CONF_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "@/deep%d.conf", i);
		snprintf(text, sizeof(text), "include \"deep%d.conf\"\n", i + 1);
		free(write_file(name, text, 0644));
	}
	reset_msgs();
	p = expand("@/deep0.conf");
	c = config_load(p, collect, NULL);
	free(p);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	dump_msgs();
	p = expand("@/deep8.conf:1: include \"deep9.conf\": includes nested more than 8 deep");
	CU_ASSERT_STRING_EQUAL(msgs[0], p);
	free(p);
	reset_msgs();
}

static void
test_missing_file(void)
{
	struct config *c;

	reset_msgs();
	c = config_load("/nonexistent/beepgated.conf", collect, NULL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(nmsgs, 1);
	CU_ASSERT_STRING_EQUAL(msgs[0], "cannot open /nonexistent/beepgated.conf: No such file "
	                       "or directory");
	reset_msgs();
}


/* Rules that can never decide are reported as warnings; the load succeeds. */
static void
test_shadowed_rules(void)
{
	struct config *c;

	reset_msgs();
	c = config_load_string("(text)",
	    "user \"x\"\n"
	    "listen on 127.0.0.1 port 16001 forward to 192.0.2.1 port 9\n"
	    "pass from user * to any\n"                                   /* 3 */
	    "pass from user alice to 192.0.2.0/24 port 603\n"             /* 4 */
	    "block from source 10.0.0.0/8 to 10.0.0.0/8\n"                /* 5 */
	    "pass to 10.1.0.0/16 port 22\n"                               /* 6 */
	    "block from source 10.2.0.0/16 to 10.3.0.0/16 port 1-1000\n", /* 7 */
	    collect, NULL);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(nmsgs, 2);
	if (nmsgs != 2)
		dump_msgs();
	CU_ASSERT(nmsgs > 0 && strstr(msgs[0], "(text):4: warning: this rule never "
	    "applies: the rule at (text):3") != NULL);
	CU_ASSERT(nmsgs > 1 && strstr(msgs[1], "(text):7: warning:") != NULL &&
	    strstr(msgs[1], "(text):5") != NULL);
	config_unref(c);
	reset_msgs();
}

/* A listener on the unspecified address guards every interface address of
 * its family, on its port. */
static void
test_self_addresses(void)
{
	struct config *c;
	struct ifaddrs *ifs, *i;
	struct addr a;
	size_t k, want = 0, found = 0;

	reset_msgs();
	c = config_load_string("(text)",
	    "user \"x\"\n"
	    "listen on 0.0.0.0 port 16002 forward to 192.0.2.1 port 9\n"
	    "listen on 127.0.0.1 port 16003 forward to 192.0.2.1 port 9\n",
	    collect, NULL);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(nmsgs, 0);
	CU_ASSERT_FATAL(getifaddrs(&ifs) == 0);
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		want++;
		addr_from_sockaddr(i->ifa_addr, &a);
		for (k = 0; k < c->policy.nself; k++)
			if (c->policy.self[k].port == 16002 &&
			    addr_equal(&c->policy.self[k].addr, &a)) {
				found++;
				break;
			}
	}
	freeifaddrs(ifs);
	CU_ASSERT(want >= 1);                 /* at least lo */
	CU_ASSERT_EQUAL(found, want);
	/* 0.0.0.0:16002, its interface addresses, 127.0.0.1:16003 */
	CU_ASSERT_EQUAL(c->policy.nself, 2 + want);
	config_unref(c);
	reset_msgs();
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "defaults", test_defaults },
		{ "workers", test_workers },
		{ "shipped example", test_shipped_example },
		{ "built-in configuration", test_builtin },
		{ "generations and references", test_generation_and_refs },
		{ "every statement", test_maximal },
		{ "admin listener", test_admin },
		{ "macros", test_macros },
		{ "include", test_include },
		{ "IPv6 and lexing", test_ipv6_and_lexing },
		{ "socket-buffer", test_socket_buffer },
		{ "secret files", test_secret_files },
		{ "SASL user database permissions", test_sasldb_files },
		{ "bad files", test_bad_files },
		{ "include depth", test_include_depth },
		{ "missing file", test_missing_file },
		{ "shadowed rules", test_shadowed_rules },
		{ "self addresses", test_self_addresses },
		CUTEST_END
	};

	return cutest_run("config", cases);
}
