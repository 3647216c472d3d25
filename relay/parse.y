/* parse.y: the beepgated.conf grammar and its lexer (docs/config.md).
 *
 * Modelled on OpenBSD's relayd/pf parse.y: a hand-written lexer (words,
 * quoted strings with escapes, numbers, `#` comments, `\` line continuation,
 * `$macro` expansion), `include` with a depth cap and cycle detection, and
 * error recovery at statement level so that one run reports every error as
 * "file:line: message".  Inside `{ }` newlines are insignificant. */
%{
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/config.h"
#include "relay/limits.h"
%}

%code requires {
#include <stdint.h>
struct parse_state;
struct parse_loc {
	const char *file;
	int         line;
};
}

%code provides {
int parse_config(struct config *, const char *, const char *, config_report_fn *, void *);
}

%code {
struct parse_file {
	struct parse_file *prev;
	const char *name;            /* owned by parse_state.names */
	char       *dir;             /* for relative paths; NULL: cwd */
	char       *data;
	size_t      len, pos;
	int         line;
	bool        has_id;
	dev_t       dev;
	ino_t       ino;
};

struct parse_macro {
	struct parse_macro *next;
	char *name;
	char *value;
};

struct parse_state {
	struct config      *c;
	config_report_fn   *report;
	void               *arg;
	int                 errors;
	struct parse_file  *file;
	int                 depth;
	char              **names;       /* every file name seen (locations point here) */
	size_t              nnames;
	struct parse_macro *macros;
	char               *pb;          /* macro text not yet read */
	size_t              pblen, pbpos;
	bool                from_pb;     /* where the last character came from */
	int                 exp_line;
	const char         *exp_file;
	int                 expansions;
	int                 braces;
	int                 brace_line;  /* where the outermost '{' opened */
	bool                pending_nl;
	bool                eof_nl;
	bool                lexerr;      /* the lexer reported this token's error */
	char                tok[BG_CONF_TOKEN_MAX + 1];   /* current token text */
	bool                tok_word;    /* ... was an unquoted word */
	char                prev[BG_CONF_TOKEN_MAX + 1];
	bool                prev_word;
	/* the statement being built */
	struct conf_listener    *lst;
	struct catalog_route    *route;
	struct catalog_service  *svc;
	int                      svc_dests;
	struct policy_rule      *rule;
	struct policy_group     *grp;
	struct conf_tls         *tls;
};

#define PARSE_PORTRANGE ((int64_t)1 << 32)

#define YYLLOC_DEFAULT(Cur, Rhs, N) do {                       \
	if (N) (Cur) = YYRHSLOC(Rhs, 1);                         \
	else   (Cur) = YYRHSLOC(Rhs, 0);                         \
} while (0)

static int parse_lex(PARSE_STYPE *, PARSE_LTYPE *, struct parse_state *);
static void parse_error(PARSE_LTYPE *, struct parse_state *, const char *);
static void parse_err(struct parse_state *, const PARSE_LTYPE *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void *parse_grow(void *, size_t *, size_t);
static char *parse_strdup(const char *);
static char *parse_path(struct parse_state *, const char *);
static void parse_discard(struct parse_state *);
static void parse_include(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_macro_set(struct parse_state *, char *, char *, const PARSE_LTYPE *);
static int64_t parse_size(struct parse_state *, const char *, const PARSE_LTYPE *);
static int64_t parse_duration(struct parse_state *, const char *, const PARSE_LTYPE *);
static bool parse_range(struct parse_state *, const PARSE_LTYPE *, const char *, int64_t,
                        int64_t, int64_t);
static int64_t parse_portrange(struct parse_state *, const char *, const PARSE_LTYPE *);
static bool parse_host_ok(struct parse_state *, const char *, const PARSE_LTYPE *);
static bool parse_cidr(struct parse_state *, const char *, const PARSE_LTYPE *,
                       struct addr_cidr **, size_t *);
static struct conf_tls *parse_tls_ref(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_tls_begin(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_tls_file(struct parse_state *, char **, char *, const char *,
                           const PARSE_LTYPE *);
static void parse_listener_begin(struct parse_state *, char *, int64_t, const PARSE_LTYPE *);
static void parse_listener_end(struct parse_state *);
static void parse_route_begin(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_route_end(struct parse_state *);
static void parse_service_begin(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_service_dest(struct parse_state *, const PARSE_LTYPE *);
static void parse_service_end(struct parse_state *);
static void parse_group_begin(struct parse_state *, char *, const PARSE_LTYPE *);
static void parse_group_end(struct parse_state *);
static void parse_rule_begin(struct parse_state *, enum policy_action, const PARSE_LTYPE *);
static void parse_rule_end(struct parse_state *);
static void parse_object(struct parse_state *, enum policy_object_kind, char *);
static void parse_setstr(char **, char *);
static void parse_admin(struct parse_state *, char *, int64_t, bool, const PARSE_LTYPE *);
}

%define api.pure full
%define api.prefix {parse_}
%define api.location.type {struct parse_loc}
%define parse.error custom
%locations
%param {struct parse_state *ps}
/* `via ... port N beep` versus a following `beep` item: shifting (the
 * former) is the only meaning a service can have. */
%expect 1

%union {
	int64_t  number;
	char    *string;
}

%token ERROR
%token <string> STRING "name"
%token <number> NUMBER "number"
%token ACK "ack" ADMIN "admin" ALL "all" ALLOW "allow" ALLOWED "allowed"
%token ALLOWREMOTE "allow-remote" ANONYMOUS "anonymous"
%token ANY "any" BACKEND "backend" BEEP "beep" BEEPCHANNELS "beep-channels"
%token BEEPMESSAGE "beep-message" BLOCK "block" BUFFER "buffer" CA "ca"
%token CATALOGONLY "catalog-only" CERT "cert" CERTIFICATE "certificate" CONNECT "connect"
%token CONNECTIONRATE "connection-rate" DATABASE "database" DESCRIPTION "description"
%token ENDPOINT "endpoint" FAILURES "failures" FIN "fin" FINAL "final" FORWARD "forward"
%token FROM "from" GROUP "group" HANDSHAKE "handshake" HARDSTOP "hard-stop" HELP "help"
%token HOST "host" IDLE "idle" INCLUDE "include" KEY "key" LIMITS "limits" LISTEN "listen"
%token LOG "log" MAXFAILURES "max-failures" MAXHOPS "max-hops" MAXSESSIONS "max-sessions"
%token MAXSESSIONSPERSOURCE "max-sessions-per-source"
%token MAXTUNNELSPERUSER "max-tunnels-per-user" MECHANISMS "mechanisms"
%token NAMESERVER "nameserver" OFF "off" ON "on" PASS "pass" PENALTY "penalty" PER "per"
%token PLAINTEXT "plaintext" PORT "port" PROFILE "profile" QUIET "quiet" REALM "realm"
%token RELAY "relay" REQUIRE "require" ROOT "root" ROUTE "route" SASL "sasl"
%token SECRET "secret" SERVICE "service" SOCKETBUFFER "socket-buffer" SOURCE "source"
%token TCPMUX "tcpmux"
%token TCPMUXLINE "tcpmux-line" TIMEOUTS "timeouts" TLS "tls" TO "to" TUNNEL "tunnel"
%token USER "user" VERBOSE "verbose" VERIFYCLIENT "verify-client" VERIFYNAME "verify-name"
%token VIA "via" WORKERS "workers" AUTO "auto"

%type <number> port size duration count nsport adminremote
%type <string> macroval

%destructor { free($$); } <string>

%%

grammar		: %empty
		| grammar '\n'
		| grammar statement '\n'
		| grammar error '\n'		{ parse_discard(ps); yyerrok; }
		;

statement	: STRING '=' macroval		{ parse_macro_set(ps, $1, $3, &@1); }
		| INCLUDE STRING		{ parse_include(ps, $2, &@2); }
		| USER STRING			{ parse_setstr(&ps->c->user, $2); }
		| GROUP STRING			{ parse_setstr(&ps->c->group, $2); }
		| ALLOW ROOT			{ ps->c->allow_root = true; }
		| LOG VERBOSE			{ ps->c->log_verbose = 1; }
		| LOG QUIET			{ ps->c->log_verbose = 0; }
		| WORKERS count			{
			if (parse_range(ps, &@2, "workers", $2, 1, BG_WORKERS_MAX))
				ps->c->workers = (unsigned)$2;
		}
		| WORKERS AUTO			{ ps->c->workers = 0; }
		| NAMESERVER STRING nsport	{
			struct config *c = ps->c;
			struct addr a;
			char buf[64], **slot;
			size_t n;

			if (!addr_parse($2, &a)) {
				parse_err(ps, &@2, "invalid nameserver address \"%s\" "
				          "(a numeric IPv4 or IPv6 address)", $2);
			} else if ($3 >= 0) {
				addr_str(&a, buf, sizeof(buf));
				n = strlen(buf) + 16;
				slot = parse_grow(c->nameservers, &c->nnameservers, sizeof(char *));
				c->nameservers = slot;
				slot += c->nnameservers - 1;
				*slot = malloc(n);
				if (*slot == NULL)
					abort();
				if ($3 == 0)
					snprintf(*slot, n, "%s", buf);
				else if (a.family == AF_INET6)
					snprintf(*slot, n, "[%s]:%d", buf, (int)$3);
				else
					snprintf(*slot, n, "%s:%d", buf, (int)$3);
			}
			free($2);
		}
		| LIMITS '{' limitopts '}'
		| TIMEOUTS '{' timeoutopts '}'
		| SASL '{' saslopts '}'
		| tlshead '{' tlsopts '}'	{ ps->tls = NULL; }
		| listenhead listenkind listentls {  parse_listener_end(ps); }
		| TCPMUX HELP OFF		{ ps->c->tcpmux_help = HELP_OFF; }
		| TCPMUX HELP ALLOWED		{ ps->c->tcpmux_help = HELP_ALLOWED; }
		| TCPMUX HELP ALL		{ ps->c->tcpmux_help = HELP_ALL; }
		| grouphead '{' members '}'	{ parse_group_end(ps); }
		| routehead '{' routeopts '}'	{ parse_route_end(ps); }
		| servicehead '{' serviceopts '}' { parse_service_end(ps); }
		| CATALOGONLY			{ ps->c->policy.catalog_only = true; }
		| ADMIN ON STRING PORT port adminremote {
			parse_admin(ps, $3, $5, $6 != 0, &@1);
		}
		| ADMIN OFF			{
			free(ps->c->admin.file);
			memset(&ps->c->admin, 0, sizeof(ps->c->admin));
		}
		| rulehead fromopt TO object portopt { parse_rule_end(ps); }
		;

macroval	: STRING			{ $$ = $1; }
		| NUMBER			{
			char buf[32];

			snprintf(buf, sizeof(buf), "%lld", (long long)$1);
			$$ = parse_strdup(buf);
		}
		;

adminremote	: %empty			{ $$ = 0; }
		| ALLOWREMOTE			{ $$ = 1; }
		;

nsport		: %empty			{ $$ = 0; }
		| PORT port			{ $$ = $2; }
		;

port		: NUMBER			{
			$$ = $1;
			if ($1 < 1 || $1 > 65535) {
				parse_err(ps, &@1, "port %lld is out of range (1-65535)",
				          (long long)$1);
				$$ = -1;
			}
		}
		| STRING			{ $$ = parse_portrange(ps, $1, &@1); free($1); }
		;

count		: NUMBER			{ $$ = $1; }
		| STRING			{
			parse_err(ps, &@1, "invalid number \"%s\"", $1);
			free($1);
			$$ = -1;
		}
		;

size		: NUMBER			{ $$ = $1; }
		| STRING			{ $$ = parse_size(ps, $1, &@1); free($1); }
		;

duration	: NUMBER			{
			$$ = $1 * 1000;
			if ($1 > BG_CONF_TIMEOUT_MAX / 1000) {
				parse_err(ps, &@1, "duration %llds is too long (at most 7 days)",
				          (long long)$1);
				$$ = -1;
			}
		}
		| STRING			{ $$ = parse_duration(ps, $1, &@1); free($1); }
		;

/* limits { ... } */
limitopts	: %empty
		| limitopts limitopt
		;

limitopt	: MAXSESSIONS count		{
			if (parse_range(ps, &@2, "max-sessions", $2, 1, BG_CONF_COUNT_MAX))
				ps->c->limits.max_sessions = (unsigned)$2;
		}
		| MAXSESSIONSPERSOURCE count	{
			if (parse_range(ps, &@2, "max-sessions-per-source", $2, 1,
			                BG_CONF_COUNT_MAX))
				ps->c->limits.max_sessions_per_source = (unsigned)$2;
		}
		| CONNECTIONRATE count PER duration {
			if (!parse_range(ps, &@2, "connection-rate", $2, 0, BG_CONF_COUNT_MAX) ||
			    $4 < 0)
				;
			else if ($4 == 0 || $4 % 1000 != 0)
				parse_err(ps, &@4, "connection-rate interval must be a whole "
				          "number of seconds");
			else if ($2 == 0) {
				ps->c->limits.rate_per_source = 0;
				ps->c->limits.rate_interval = 0;
			} else {
				ps->c->limits.rate_per_source = (unsigned)$2;
				ps->c->limits.rate_interval = (unsigned)($4 / 1000);
			}
		}
		| CONNECTIONRATE OFF		{
			ps->c->limits.rate_per_source = 0;
			ps->c->limits.rate_interval = 0;
		}
		| MAXTUNNELSPERUSER count	{
			if (parse_range(ps, &@2, "max-tunnels-per-user", $2, 1, BG_CONF_COUNT_MAX))
				ps->c->limits.max_tunnels_per_user = (unsigned)$2;
		}
		| MAXHOPS count			{
			if (parse_range(ps, &@2, "max-hops", $2, 1, BG_CONF_HOPS_MAX))
				ps->c->limits.max_hops = (unsigned)$2;
		}
		| BUFFER size			{
			if (parse_range(ps, &@2, "buffer", $2, BG_PUMP_BUFFER_MIN,
			                BG_PUMP_BUFFER_MAX))
				ps->c->limits.buffer = (size_t)$2;
		}
		| SOCKETBUFFER size		{
			if (parse_range(ps, &@2, "socket-buffer", $2, BG_SOCKET_BUFFER_MIN,
			                BG_SOCKET_BUFFER_MAX))
				ps->c->limits.socket_buffer = (size_t)$2;
		}
		| SOCKETBUFFER OFF		{ ps->c->limits.socket_buffer = 0; }
		| BEEPMESSAGE size		{
			if (parse_range(ps, &@2, "beep-message", $2, BG_CONF_BEEP_MESSAGE_MIN,
			                BG_CONF_BEEP_MESSAGE_MAX))
				ps->c->limits.beep_message = (size_t)$2;
		}
		| BEEPCHANNELS count		{
			if (parse_range(ps, &@2, "beep-channels", $2, BG_CONF_BEEP_CHANNELS_MIN,
			                BG_CONF_BEEP_CHANNELS_MAX))
				ps->c->limits.beep_channels = (unsigned)$2;
		}
		| TCPMUXLINE size		{
			if (parse_range(ps, &@2, "tcpmux-line", $2, BG_CONF_TCPMUX_LINE_MIN,
			                BG_CONF_TCPMUX_LINE_MAX))
				ps->c->limits.tcpmux_line = (size_t)$2;
		}
		;

/* timeouts { ... } */
timeoutopts	: %empty
		| timeoutopts timeoutopt
		;

timeoutopt	: HANDSHAKE duration		{
			if (parse_range(ps, &@2, "handshake", $2, 1, BG_CONF_TIMEOUT_MAX))
				ps->c->timeouts.handshake = (unsigned)$2;
		}
		| CONNECT duration		{
			if (parse_range(ps, &@2, "connect", $2, 1, BG_CONF_TIMEOUT_MAX))
				ps->c->timeouts.connect = (unsigned)$2;
		}
		| IDLE duration			{
			if (parse_range(ps, &@2, "idle", $2, 1, BG_CONF_TIMEOUT_MAX))
				ps->c->timeouts.idle = (unsigned)$2;
		}
		| FIN duration			{
			if (parse_range(ps, &@2, "fin", $2, 1, BG_CONF_TIMEOUT_MAX))
				ps->c->timeouts.fin = (unsigned)$2;
		}
		| HARDSTOP duration		{
			if (parse_range(ps, &@2, "hard-stop", $2, 1, BG_CONF_TIMEOUT_MAX))
				ps->c->timeouts.hardstop = (unsigned)$2;
		}
		;

/* sasl { ... } */
saslopts	: %empty
		| saslopts saslopt
		;

saslopt		: DATABASE STRING		{
			parse_setstr(&ps->c->sasl.database, parse_path(ps, $2));
			parse_setstr(&ps->c->sasl.database_file, parse_strdup(@2.file));
			ps->c->sasl.database_line = @2.line;
			free($2);
		}
		| REALM STRING			{ parse_setstr(&ps->c->sasl.realm, $2); }
		| mechhead mechs
		| ALLOW PLAINTEXT		{ ps->c->sasl.allow_plaintext = true; }
		| ALLOW ANONYMOUS		{ ps->c->sasl.anonymous = true; }
		| MAXFAILURES count		{
			if (parse_range(ps, &@2, "max-failures", $2, 1, BG_CONF_SASL_FAILURES_MAX))
				ps->c->sasl.max_failures = (unsigned)$2;
		}
		| PENALTY count FAILURES duration {
			if (!parse_range(ps, &@2, "penalty", $2, 1, BG_CONF_COUNT_MAX) || $4 < 0)
				;
			else if ($4 == 0 || $4 % 1000 != 0)
				parse_err(ps, &@4, "penalty time must be a whole number of seconds");
			else {
				ps->c->sasl.penalty_failures = (unsigned)$2;
				ps->c->sasl.penalty_seconds = (unsigned)($4 / 1000);
			}
		}
		| PENALTY OFF			{
			ps->c->sasl.penalty_failures = 0;
			ps->c->sasl.penalty_seconds = 0;
		}
		;

mechhead	: MECHANISMS			{
			struct conf_sasl *s = &ps->c->sasl;
			size_t i;

			for (i = 0; i < s->nmechs; i++)
				free(s->mechs[i]);
			free(s->mechs);
			s->mechs = NULL;
			s->nmechs = 0;
		}
		;

mechs		: mech
		| mechs mech
		;

mech		: STRING			{
			struct conf_sasl *s = &ps->c->sasl;
			size_t i, n = strlen($1);
			bool ok = n >= 1 && n <= BG_CONF_SASL_MECH_MAX;

			for (i = 0; ok && i < n; i++) {
				$1[i] = (char)toupper((unsigned char)$1[i]);
				ok = isupper((unsigned char)$1[i]) || isdigit((unsigned char)$1[i]) ||
				     $1[i] == '-' || $1[i] == '_';
			}
			for (i = 0; ok && i < s->nmechs; i++)
				if (strcmp(s->mechs[i], $1) == 0) {
					parse_err(ps, &@1, "SASL mechanism %s is listed twice", $1);
					n = 0;
				}
			if (!ok)
				parse_err(ps, &@1, "invalid SASL mechanism name \"%s\"", $1);
			if (ok && n > 0) {
				s->mechs = parse_grow(s->mechs, &s->nmechs, sizeof(char *));
				s->mechs[s->nmechs - 1] = $1;
			} else
				free($1);
		}
		;

/* tls "name" { ... } */
tlshead		: TLS STRING			{ parse_tls_begin(ps, $2, &@1); }
		;

tlsopts		: %empty
		| tlsopts tlsopt
		;

tlsopt		: CERTIFICATE STRING		{ parse_tls_file(ps, &ps->tls->cert, $2, NULL, &@2); }
		| KEY STRING			{ parse_tls_file(ps, &ps->tls->key, $2, "key", &@2); }
		| CA STRING			{ parse_tls_file(ps, &ps->tls->ca, $2, NULL, &@2); }
		| VERIFYCLIENT			{
			if (ps->tls != NULL)
				ps->tls->verify_peer = true;
		}
		| VERIFYCLIENT REQUIRE		{
			if (ps->tls != NULL)
				ps->tls->verify_peer = ps->tls->require_peer = true;
		}
		| VERIFYNAME STRING		{
			if (ps->tls != NULL && parse_host_ok(ps, $2, &@2))
				parse_setstr(&ps->tls->verify_name, $2);
			else
				free($2);
		}
		;

/* listen on ADDRESS port N ... */
listenhead	: LISTEN ON STRING PORT port	{ parse_listener_begin(ps, $3, $5, &@1); }
		;

listenkind	: TUNNEL			{ ps->lst->kind = LISTEN_TUNNEL; }
		| TCPMUX			{ ps->lst->kind = LISTEN_TCPMUX; }
		| FORWARD TO STRING PORT port	{
			ps->lst->kind = LISTEN_FORWARD;
			if (parse_host_ok(ps, $3, &@3))
				parse_setstr(&ps->lst->fwd_host, $3);
			else
				free($3);
			if ($5 > 0)
				ps->lst->fwd_port = (uint16_t)$5;
		}
		;

listentls	: %empty
		| TLS STRING			{ ps->lst->tls = parse_tls_ref(ps, $2, &@2); }
		;

/* group "name" { "member" ... } */
grouphead	: GROUP STRING			{ parse_group_begin(ps, $2, &@1); }
		;

members		: %empty
		| members STRING		{
			struct policy_group *g = ps->grp;
			size_t i;

			for (i = 0; i < g->nmembers; i++)
				if (strcmp(g->members[i], $2) == 0) {
					parse_err(ps, &@2, "\"%s\" is listed twice in group \"%s\"",
					          $2, g->name);
					break;
				}
			if (i < g->nmembers)
				free($2);
			else {
				g->members = parse_grow(g->members, &g->nmembers, sizeof(char *));
				g->members[g->nmembers - 1] = $2;
			}
		}
		;

/* route "name" { ... } */
routehead	: ROUTE STRING			{ parse_route_begin(ps, $2, &@1); }
		;

routeopts	: %empty
		| routeopts routeopt
		;

routeopt	: CONNECT STRING PORT port	{
			if (parse_host_ok(ps, $2, &@2))
				parse_setstr(&ps->route->host, $2);
			else
				free($2);
			if ($4 > 0)
				ps->route->port = (uint16_t)$4;
		}
		| TCPMUX			{ ps->route->tcpmux = true; }
		| USER STRING			{ parse_setstr(&ps->route->user, $2); }
		| SECRET STRING			{
			char err[512], *path = parse_path(ps, $2);

			parse_setstr(&ps->route->secret_file, path);
			if (ps->route->secret != NULL) {
				explicit_bzero(ps->route->secret, strlen(ps->route->secret));
				free(ps->route->secret);
			}
			ps->route->secret = config_read_secret(path, err, sizeof(err));
			if (ps->route->secret == NULL)
				parse_err(ps, &@2, "%s", err);
			free($2);
		}
		| TLS STRING			{ ps->route->tls = parse_tls_ref(ps, $2, &@2); }
		;

/* service "name" { ... } */
servicehead	: SERVICE STRING		{ parse_service_begin(ps, $2, &@1); }
		;

serviceopts	: %empty
		| serviceopts serviceopt
		;

serviceopt	: CONNECT STRING PORT port	{
			parse_service_dest(ps, &@1);
			ps->svc->kind = SVC_CONNECT;
			if (parse_host_ok(ps, $2, &@2))
				parse_setstr(&ps->svc->host, $2);
			else
				free($2);
			if ($4 > 0)
				ps->svc->port = (uint16_t)$4;
		}
		| VIA STRING viatarget		{
			parse_service_dest(ps, &@1);
			ps->svc->kind = SVC_ROUTE;
			parse_setstr(&ps->svc->route, $2);
		}
		| BEEP				{
			parse_service_dest(ps, &@1);
			ps->svc->kind = SVC_BEEP;
		}
		| ENDPOINT			{ ps->svc->as_endpoint = true; }
		| PROFILE			{ ps->svc->as_profile = true; }
		| PROFILE STRING		{
			if (strcmp($2, ps->svc->name) != 0)
				parse_err(ps, &@2, "profile \"%s\" differs from the service name: "
				          "name the service by its URI and say just `profile`", $2);
			ps->svc->as_profile = true;
			free($2);
		}
		| TCPMUX			{ ps->svc->as_tcpmux = true; }
		| FINAL				{ ps->svc->as_final = true; }
		| ACK RELAY			{ ps->svc->ack = ACK_RELAY; }
		| ACK BACKEND			{ ps->svc->ack = ACK_BACKEND; }
		| DESCRIPTION STRING		{ parse_setstr(&ps->svc->description, $2); }
		;

viatarget	: ENDPOINT STRING		{
			ps->svc->next.kind = NEXT_ENDPOINT;
			parse_setstr(&ps->svc->next.value, $2);
		}
		| PROFILE STRING		{
			ps->svc->next.kind = NEXT_PROFILE;
			parse_setstr(&ps->svc->next.value, $2);
		}
		| TO HOST STRING PORT port beepopt {
			ps->svc->next.kind = NEXT_HOST;
			if (parse_host_ok(ps, $3, &@3))
				parse_setstr(&ps->svc->next.value, $3);
			else
				free($3);
			if ($5 > 0)
				ps->svc->next.port = (uint16_t)$5;
		}
		| TUNNEL			{ ps->svc->next.kind = NEXT_EMPTY; }
		| TCPMUX STRING			{
			ps->svc->next.kind = NEXT_TCPMUX;
			parse_setstr(&ps->svc->next.value, $2);
		}
		;

beepopt		: %empty			{ ps->svc->next.beep = false; }
		| BEEP				{ ps->svc->next.beep = true; }
		;

/* pass|block [from SUBJECT...] to OBJECT [port N[-M]] */
rulehead	: PASS				{ parse_rule_begin(ps, POLICY_PASS, &@1); }
		| BLOCK				{ parse_rule_begin(ps, POLICY_BLOCK, &@1); }
		;

fromopt		: %empty
		| FROM subjects
		;

subjects	: subject
		| subjects subject
		;

subject		: USER STRING			{
			struct policy_subject *s = &ps->rule->subj;

			if (s->user != NULL || s->any_user)
				parse_err(ps, &@1, "a rule names one user (use a group for more)");
			if (strcmp($2, "*") == 0) {
				s->any_user = true;
				free($2);
			} else
				parse_setstr(&s->user, $2);
		}
		| GROUP STRING			{
			if (ps->rule->subj.group != NULL)
				parse_err(ps, &@1, "a rule names one group");
			parse_setstr(&ps->rule->subj.group, $2);
		}
		| CERT STRING			{
			if (ps->rule->subj.cert != NULL)
				parse_err(ps, &@1, "a rule names one certificate identity");
			parse_setstr(&ps->rule->subj.cert, $2);
		}
		| SOURCE STRING			{
			struct policy_subject *s = &ps->rule->subj;

			parse_cidr(ps, $2, &@2, &s->sources, &s->nsources);
			free($2);
		}
		| SOURCE '{' sources '}'
		;

sources		: %empty
		| sources STRING		{
			struct policy_subject *s = &ps->rule->subj;

			parse_cidr(ps, $2, &@2, &s->sources, &s->nsources);
			free($2);
		}
		;

object		: STRING			{
			struct policy_object *o = &ps->rule->obj;

			o->kind = POBJ_CIDR;
			parse_cidr(ps, $1, &@1, &o->cidrs, &o->ncidrs);
			free($1);
		}
		| '{' dests '}'			{
			ps->rule->obj.kind = POBJ_CIDR;
			if (ps->rule->obj.ncidrs == 0)
				parse_err(ps, &@1, "empty address list");
		}
		| HOST STRING			{
			if (strcmp($2, "*") != 0 && !parse_host_ok(ps, $2, &@2)) {
				free($2);
				$2 = NULL;
			}
			ps->rule->obj.kind = POBJ_HOST;
			parse_setstr(&ps->rule->obj.pattern, $2);
		}
		| SERVICE STRING		{ parse_object(ps, POBJ_SERVICE, $2); }
		| ENDPOINT STRING		{ parse_object(ps, POBJ_ENDPOINT, $2); }
		| PROFILE STRING		{ parse_object(ps, POBJ_PROFILE, $2); }
		| TCPMUX STRING			{ parse_object(ps, POBJ_TCPMUX, $2); }
		| ANY				{ ps->rule->obj.kind = POBJ_ANY; }
		;

dests		: %empty
		| dests STRING			{
			struct policy_object *o = &ps->rule->obj;

			parse_cidr(ps, $2, &@2, &o->cidrs, &o->ncidrs);
			free($2);
		}
		;

portopt		: %empty
		| PORT port			{
			struct policy_object *o = &ps->rule->obj;

			if ($2 > 0 && ($2 & PARSE_PORTRANGE)) {
				o->port_lo = (uint16_t)(($2 >> 16) & 0xffff);
				o->port_hi = (uint16_t)($2 & 0xffff);
			} else if ($2 > 0)
				o->port_lo = o->port_hi = (uint16_t)$2;
		}
		;

%%

/* ---- reporting ---- */

static void
parse_vreport(struct parse_state *ps, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void
parse_vreport(struct parse_state *ps, const char *file, int line, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ps->errors++;
	config_message(ps->report, ps->arg, file, line, msg);
}

static void
parse_err(struct parse_state *ps, const PARSE_LTYPE *loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_vreport(ps, loc->file, loc->line, fmt, ap);
	va_end(ap);
}

static void
parse_errf(struct parse_state *ps, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
parse_errf(struct parse_state *ps, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_vreport(ps, file, line, fmt, ap);
	va_end(ap);
}

static void
parse_error(PARSE_LTYPE *loc, struct parse_state *ps, const char *msg)
{
	parse_err(ps, loc, "%s", msg);
}

static const char *
parse_symbol(yysymbol_kind_t k)
{
	switch ((int)k) {
	case YYSYMBOL_STRING:  return "a name";
	case YYSYMBOL_NUMBER:  return "a number";
	case YYSYMBOL_YYEOF:   return "end of file";
	}
	if (strcmp(yysymbol_name(k), "'\\n'") == 0)
		return "end of line";
	return yysymbol_name(k);
}

static bool
parse_keyword_like(const char *s)
{
	if (!islower((unsigned char)*s))
		return false;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

/* Syntax errors name the token, or say "unknown keyword" when a word stands
 * where only keywords may. */
static int
yyreport_syntax_error(const yypcontext_t *ctx, struct parse_state *ps)
{
	yysymbol_kind_t tok = yypcontext_token(ctx);
	const PARSE_LTYPE *loc = yypcontext_location(ctx);
	yysymbol_kind_t exp[6];
	char hint[256], what[BG_CONF_TOKEN_MAX + 32];
	int n, i;
	bool string_ok = false;

	if (ps->lexerr)
		return 0;        /* already reported by the lexer */
	n = yypcontext_expected_tokens(ctx, exp, 6);
	for (i = 0; i < n; i++)
		if (exp[i] == YYSYMBOL_STRING)
			string_ok = true;
	if (n == 1 && strcmp(yysymbol_name(exp[0]), "'='") == 0 && ps->prev_word) {
		/* "word ..." at the start of a statement: not a macro definition */
		parse_err(ps, loc, "unknown keyword \"%s\"", ps->prev);
		return 0;
	}
	if (tok == YYSYMBOL_STRING && ps->tok_word && !string_ok &&
	    parse_keyword_like(ps->tok)) {
		parse_err(ps, loc, "unknown keyword \"%s\"", ps->tok);
		return 0;
	}
	hint[0] = '\0';
	if (n > 0 && n <= 5) {
		size_t len;

		snprintf(hint, sizeof(hint), ", expected ");
		for (i = 0; i < n; i++) {
			len = strlen(hint);
			snprintf(hint + len, sizeof(hint) - len, "%s%s",
			         i == 0 ? "" : i == n - 1 ? " or " : ", ", parse_symbol(exp[i]));
		}
	}
	if (tok == YYSYMBOL_YYEOF)
		snprintf(what, sizeof(what), "end of file");
	else if (strcmp(yysymbol_name(tok), "'\\n'") == 0)
		snprintf(what, sizeof(what), "end of line");
	else
		snprintf(what, sizeof(what), "\"%s\"", ps->tok);
	parse_err(ps, loc, "syntax error at %s%s", what, hint);
	return 0;
}

/* ---- memory ---- */

static void *
parse_grow(void *arr, size_t *n, size_t size)
{
	char *p;

	if (*n >= SIZE_MAX / size - 1)
		abort();
	p = realloc(arr, (*n + 1) * size);
	if (p == NULL)
		abort();
	memset(p + *n * size, 0, size);
	(*n)++;
	return p;
}

static char *
parse_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static void
parse_setstr(char **slot, char *s)
{
	free(*slot);
	*slot = s;
}

/* ---- files ---- */

static const char *
parse_name(struct parse_state *ps, const char *name)
{
	ps->names = parse_grow(ps->names, &ps->nnames, sizeof(char *));
	ps->names[ps->nnames - 1] = parse_strdup(name);
	return ps->names[ps->nnames - 1];
}

static char *
parse_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return NULL;
	if (slash == path)
		return parse_strdup("/");
	d = parse_strdup(path);
	d[slash - path] = '\0';
	return d;
}

/* A path relative to the directory of the file being read. */
static char *
parse_path(struct parse_state *ps, const char *p)
{
	char *out;
	size_t n;

	if (p[0] == '/' || ps->file == NULL || ps->file->dir == NULL)
		return parse_strdup(p);
	n = strlen(ps->file->dir) + strlen(p) + 2;
	if ((out = malloc(n)) == NULL)
		abort();
	snprintf(out, n, "%s/%s", ps->file->dir, p);
	return out;
}

/* Reads a whole file; on failure returns -1 with a message in err. */
static int
parse_read(const char *path, char **data, size_t *len, struct stat *st, char *err,
           size_t errlen)
{
	int fd;
	ssize_t r;
	size_t got = 0;
	char *buf;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st->st_size > BG_CONF_FILE_MAX) {
		snprintf(err, errlen, "%s is too large (more than %d bytes)", path,
		         BG_CONF_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL)
		abort();
	while (got < (size_t)st->st_size) {
		r = read(fd, buf + got, (size_t)st->st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			         r < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	*data = buf;
	*len = got;
	return 0;
}

static void
parse_push(struct parse_state *ps, const char *name, char *dir, char *data, size_t len,
           const struct stat *st)
{
	struct parse_file *f = calloc(1, sizeof(*f));

	if (f == NULL)
		abort();
	f->prev = ps->file;
	f->name = parse_name(ps, name);
	f->dir = dir;
	f->data = data;
	f->len = len;
	f->line = 1;
	if (st != NULL) {
		f->has_id = true;
		f->dev = st->st_dev;
		f->ino = st->st_ino;
	}
	ps->file = f;
	ps->depth++;
}

static void
parse_pop(struct parse_state *ps)
{
	struct parse_file *f = ps->file;

	ps->file = f->prev;
	ps->depth--;
	free(f->dir);
	free(f->data);
	free(f);
}

static void
parse_include(struct parse_state *ps, char *arg, const PARSE_LTYPE *loc)
{
	char *path = parse_path(ps, arg), *data, err[1200];
	struct parse_file *f;
	struct stat st;
	size_t len;

	if (ps->depth >= BG_CONF_INCLUDE_DEPTH) {
		parse_err(ps, loc, "include \"%s\": includes nested more than %d deep",
		          arg, BG_CONF_INCLUDE_DEPTH);
		goto out;
	}
	if (parse_read(path, &data, &len, &st, err, sizeof(err)) != 0) {
		parse_err(ps, loc, "include: %s", err);
		goto out;
	}
	for (f = ps->file; f != NULL; f = f->prev)
		if (f->has_id && f->dev == st.st_dev && f->ino == st.st_ino) {
			parse_err(ps, loc, "include \"%s\": %s is already being read "
			          "(include cycle)", arg, path);
			free(data);
			goto out;
		}
	parse_push(ps, path, parse_dirname(path), data, len, &st);
	/* the `include` statement still needs its end of line */
	ps->pending_nl = true;
out:
	free(path);
	free(arg);
}

/* ---- lexer ---- */

static const struct {
	const char *word;
	int         token;
} parse_keywords[] = {
	{ "ack", ACK }, { "admin", ADMIN }, { "all", ALL }, { "allow", ALLOW },
	{ "allow-remote", ALLOWREMOTE }, { "allowed", ALLOWED },
	{ "anonymous", ANONYMOUS }, { "any", ANY }, { "auto", AUTO }, { "backend", BACKEND }, { "beep", BEEP },
	{ "beep-channels", BEEPCHANNELS }, { "beep-message", BEEPMESSAGE }, { "block", BLOCK },
	{ "buffer", BUFFER }, { "ca", CA }, { "catalog-only", CATALOGONLY }, { "cert", CERT },
	{ "certificate", CERTIFICATE }, { "connect", CONNECT },
	{ "connection-rate", CONNECTIONRATE }, { "database", DATABASE },
	{ "description", DESCRIPTION }, { "endpoint", ENDPOINT }, { "failures", FAILURES },
	{ "fin", FIN }, { "final", FINAL }, { "forward", FORWARD }, { "from", FROM },
	{ "group", GROUP }, { "handshake", HANDSHAKE }, { "hard-stop", HARDSTOP },
	{ "help", HELP }, { "host", HOST }, { "idle", IDLE }, { "include", INCLUDE },
	{ "key", KEY }, { "limits", LIMITS }, { "listen", LISTEN }, { "log", LOG },
	{ "max-failures", MAXFAILURES }, { "max-hops", MAXHOPS },
	{ "max-sessions", MAXSESSIONS }, { "max-sessions-per-source", MAXSESSIONSPERSOURCE },
	{ "max-tunnels-per-user", MAXTUNNELSPERUSER }, { "mechanisms", MECHANISMS },
	{ "nameserver", NAMESERVER }, { "off", OFF }, { "on", ON }, { "pass", PASS },
	{ "penalty", PENALTY }, { "per", PER }, { "plaintext", PLAINTEXT }, { "port", PORT },
	{ "profile", PROFILE }, { "quiet", QUIET }, { "realm", REALM }, { "relay", RELAY },
	{ "require", REQUIRE }, { "root", ROOT }, { "route", ROUTE }, { "sasl", SASL },
	{ "secret", SECRET }, { "service", SERVICE }, { "socket-buffer", SOCKETBUFFER },
	{ "source", SOURCE },
	{ "tcpmux", TCPMUX }, { "tcpmux-line", TCPMUXLINE }, { "timeouts", TIMEOUTS },
	{ "tls", TLS }, { "to", TO }, { "tunnel", TUNNEL }, { "user", USER },
	{ "verbose", VERBOSE }, { "verify-client", VERIFYCLIENT },
	{ "verify-name", VERIFYNAME }, { "via", VIA }, { "workers", WORKERS },
};

#define PARSE_EOF (-1)

static int
parse_getc(struct parse_state *ps)
{
	struct parse_file *f = ps->file;

	if (ps->pbpos < ps->pblen) {
		ps->from_pb = true;
		return (unsigned char)ps->pb[ps->pbpos++];
	}
	ps->from_pb = false;
	if (f->pos >= f->len)
		return PARSE_EOF;
	return (unsigned char)f->data[f->pos++];
}

static void
parse_ungetc(struct parse_state *ps, int c)
{
	if (c == PARSE_EOF)
		return;
	if (ps->from_pb)
		ps->pbpos--;
	else
		ps->file->pos--;
}

static int
parse_peek(struct parse_state *ps)
{
	struct parse_file *f = ps->file;

	if (ps->pbpos < ps->pblen)
		return (unsigned char)ps->pb[ps->pbpos];
	return f->pos < f->len ? (unsigned char)f->data[f->pos] : PARSE_EOF;
}

static bool
parse_wordchar(int c)
{
	if (c == PARSE_EOF || c >= 0x80)
		return false;
	if (isalnum(c))
		return true;
	return strchr("._-:/*?@+[]%~", c) != NULL && c != '\0';
}

static void
parse_macro_set(struct parse_state *ps, char *name, char *value, const PARSE_LTYPE *loc)
{
	struct parse_macro *m;
	const char *p;
	bool ok = isalpha((unsigned char)name[0]) || name[0] == '_';

	for (p = name; ok && *p != '\0'; p++)
		ok = isalnum((unsigned char)*p) || *p == '_';
	if (!ok) {
		parse_err(ps, loc, "invalid macro name \"%s\" (letters, digits and _)", name);
		free(name);
		free(value);
		return;
	}
	for (m = ps->macros; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0) {
			free(name);
			free(m->value);
			m->value = value;
			return;
		}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		abort();
	m->name = name;
	m->value = value;
	m->next = ps->macros;
	ps->macros = m;
}

/* "$name": puts the macro's value in front of what is left to read.
 * Returns false (after reporting) when it is not defined. */
static bool
parse_expand(struct parse_state *ps, int line)
{
	char name[BG_CONF_TOKEN_MAX + 1];
	struct parse_macro *m;
	size_t n = 0, vlen, rest;
	char *nb;
	int c;

	while ((c = parse_getc(ps)) != PARSE_EOF && (isalnum(c) || c == '_')) {
		if (n >= BG_CONF_TOKEN_MAX)
			break;
		name[n++] = (char)c;
	}
	parse_ungetc(ps, c);
	name[n] = '\0';
	if (n == 0) {
		parse_errf(ps, ps->file->name, line, "\"$\" without a macro name");
		return false;
	}
	for (m = ps->macros; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			break;
	if (m == NULL) {
		parse_errf(ps, ps->file->name, line, "macro \"%s\" is not defined", name);
		return false;
	}
	if (ps->exp_line != line || ps->exp_file != ps->file->name) {
		ps->exp_line = line;
		ps->exp_file = ps->file->name;
		ps->expansions = 0;
	}
	if (++ps->expansions > BG_CONF_MACRO_EXPANSIONS) {
		parse_errf(ps, ps->file->name, line, "too many macro expansions in one line "
		           "(does \"%s\" refer to itself?)", name);
		return false;
	}
	vlen = strlen(m->value);
	rest = ps->pblen - ps->pbpos;
	if ((nb = malloc(vlen + rest + 1)) == NULL)
		abort();
	memcpy(nb, m->value, vlen);
	if (rest > 0)
		memcpy(nb + vlen, ps->pb + ps->pbpos, rest);
	nb[vlen + rest] = '\0';
	free(ps->pb);
	ps->pb = nb;
	ps->pblen = vlen + rest;
	ps->pbpos = 0;
	return true;
}

/* After an error inside a quoted string: skips to its end (or the line's). */
static void
parse_skipstring(struct parse_state *ps)
{
	int c;

	while ((c = parse_getc(ps)) != PARSE_EOF && c != '\n' && c != '"')
		if (c == '\\' && parse_peek(ps) == '"')
			(void)parse_getc(ps);
	if (c == '\n')
		parse_ungetc(ps, c);
}

/* Skips the rest of a bad line so that error recovery starts afresh. */
static int
parse_lexfail(struct parse_state *ps)
{
	ps->lexerr = true;
	return ERROR;
}

static int
parse_lex(PARSE_STYPE *lval, PARSE_LTYPE *lloc, struct parse_state *ps)
{
	char *buf = ps->tok;
	size_t n = 0;
	int c, line, i;

	ps->lexerr = false;
	memcpy(ps->prev, ps->tok, sizeof(ps->prev));
	ps->prev_word = ps->tok_word;
	ps->tok_word = false;
	ps->tok[0] = '\0';
top:
	lloc->file = ps->file->name;
	lloc->line = ps->file->line;
	if (ps->pending_nl) {
		ps->pending_nl = false;
		snprintf(ps->tok, sizeof(ps->tok), "\\n");
		return '\n';
	}
	do {
		c = parse_getc(ps);
		if (c == '\\' && parse_peek(ps) == '\n' && !ps->from_pb) {
			parse_getc(ps);
			ps->file->line++;
			c = ' ';
		}
	} while (c == ' ' || c == '\t' || c == '\r' || c == ',');
	lloc->line = line = ps->file->line;

	if (c == '#') {
		while ((c = parse_getc(ps)) != PARSE_EOF && c != '\n')
			;
	}
	if (c == PARSE_EOF) {
		if (ps->braces > 0) {
			ps->braces = 0;
			parse_errf(ps, ps->file->name, ps->brace_line, "'{' without '}' "
			           "before the end of the file");
			return parse_lexfail(ps);
		}
		if (ps->file->prev != NULL) {
			parse_pop(ps);
			ps->braces = 0;
			lloc->file = ps->file->name;
			lloc->line = ps->file->line;
			return '\n';
		}
		if (!ps->eof_nl) {
			ps->eof_nl = true;
			return '\n';
		}
		return 0;
	}
	if (c == '\n') {
		if (!ps->from_pb)
			ps->file->line++;
		if (ps->braces > 0)
			goto top;
		snprintf(ps->tok, sizeof(ps->tok), "\\n");
		ps->eof_nl = false;
		return '\n';
	}
	ps->eof_nl = false;
	switch (c) {
	case '$':
		if (!parse_expand(ps, line))
			return parse_lexfail(ps);
		goto top;
	case '{':
		if (ps->braces++ == 0)
			ps->brace_line = line;
		snprintf(ps->tok, sizeof(ps->tok), "{");
		return c;
	case '}':
		if (ps->braces > 0)
			ps->braces--;
		snprintf(ps->tok, sizeof(ps->tok), "}");
		return c;
	case '=':
		snprintf(ps->tok, sizeof(ps->tok), "=");
		return c;
	case '"':
		for (;;) {
			c = parse_getc(ps);
			if (c == PARSE_EOF || c == '\n') {
				parse_ungetc(ps, c);
				parse_errf(ps, ps->file->name, line, "unterminated quoted string");
				return parse_lexfail(ps);
			}
			if (c == '"')
				break;
			if (c == '\\') {
				c = parse_getc(ps);
				if (c == '\n') {
					ps->file->line++;
					continue;
				}
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
				else if (c != '"' && c != '\\') {
					parse_ungetc(ps, c);
					parse_errf(ps, ps->file->name, line, "invalid escape in quoted "
					           "string (\\\" \\\\ \\n and \\t are known)");
					parse_skipstring(ps);
					return parse_lexfail(ps);
				}
			} else if (c < 0x20 && c != '\t') {
				parse_errf(ps, ps->file->name, line, "invalid character 0x%02x in "
				           "quoted string", (unsigned)c);
				parse_skipstring(ps);
				return parse_lexfail(ps);
			}
			if (n >= BG_CONF_TOKEN_MAX) {
				parse_errf(ps, ps->file->name, line, "string too long (more than "
				           "%d bytes)", BG_CONF_TOKEN_MAX);
				parse_skipstring(ps);
				return parse_lexfail(ps);
			}
			buf[n++] = (char)c;
		}
		buf[n] = '\0';
		lval->string = parse_strdup(buf);
		return STRING;
	}
	if (!parse_wordchar(c)) {
		if (isprint(c))
			parse_errf(ps, ps->file->name, line, "invalid character '%c'", c);
		else
			parse_errf(ps, ps->file->name, line, "invalid character 0x%02x",
			           (unsigned)c);
		snprintf(ps->tok, sizeof(ps->tok), "?");
		return parse_lexfail(ps);
	}
	for (;;) {
		if (n >= BG_CONF_TOKEN_MAX) {
			parse_errf(ps, ps->file->name, line, "word too long (more than %d bytes)",
			           BG_CONF_TOKEN_MAX);
			while (parse_wordchar(c = parse_getc(ps)))
				;
			parse_ungetc(ps, c);
			return parse_lexfail(ps);
		}
		buf[n++] = (char)c;
		c = parse_getc(ps);
		while (c == '$') {
			if (!parse_expand(ps, line)) {
				buf[n] = '\0';
				return parse_lexfail(ps);
			}
			c = parse_getc(ps);
		}
		if (!parse_wordchar(c))
			break;
	}
	parse_ungetc(ps, c);
	buf[n] = '\0';
	ps->tok_word = true;
	for (i = 0; i < (int)(sizeof(parse_keywords) / sizeof(parse_keywords[0])); i++)
		if (strcmp(buf, parse_keywords[i].word) == 0)
			return parse_keywords[i].token;
	for (i = 0; buf[i] != '\0' && isdigit((unsigned char)buf[i]); i++)
		;
	if (buf[i] == '\0') {
		errno = 0;
		lval->number = strtoll(buf, NULL, 10);
		if (errno != 0 || n > 12) {
			parse_errf(ps, ps->file->name, line, "number %s is too large", buf);
			return parse_lexfail(ps);
		}
		return NUMBER;
	}
	lval->string = parse_strdup(buf);
	return STRING;
}

/* ---- values ---- */

static bool
parse_range(struct parse_state *ps, const PARSE_LTYPE *loc, const char *what, int64_t v,
            int64_t lo, int64_t hi)
{
	if (v < 0)
		return false;    /* already reported */
	if (v < lo || v > hi) {
		parse_err(ps, loc, "%s %lld is out of range (%lld-%lld)", what, (long long)v,
		          (long long)lo, (long long)hi);
		return false;
	}
	return true;
}

/* "256k", "1m", "4096": bytes. */
static int64_t
parse_size(struct parse_state *ps, const char *s, const PARSE_LTYPE *loc)
{
	char *end;
	long long v;
	int64_t mult;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || errno != 0 || end[0] == '\0' || end[1] != '\0')
		goto bad;
	switch (tolower((unsigned char)end[0])) {
	case 'k': mult = 1024; break;
	case 'm': mult = 1024 * 1024; break;
	case 'g': mult = 1024 * 1024 * 1024; break;
	default: goto bad;
	}
	if (v > INT32_MAX)
		goto bad;
	return v * mult;
bad:
	parse_err(ps, loc, "invalid size \"%s\" (bytes, or a number with k, m or g)", s);
	return -1;
}

/* "10s", "500ms", "5m", "1h", "1d": milliseconds. */
static int64_t
parse_duration(struct parse_state *ps, const char *s, const PARSE_LTYPE *loc)
{
	char *end;
	long long v;
	int64_t mult;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || errno != 0 || v > BG_CONF_TIMEOUT_MAX)
		goto bad;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mult = 24 * 3600 * 1000;
	else
		goto bad;
	if (v * mult > BG_CONF_TIMEOUT_MAX) {
		parse_err(ps, loc, "duration %s is too long (at most 7d)", s);
		return -1;
	}
	return v * mult;
bad:
	parse_err(ps, loc, "invalid duration \"%s\" (a number with ms, s, m, h or d)", s);
	return -1;
}

/* "N-M" is a port range (in rules: lo << 16 | hi, marked by bit 32);
 * anything else is not a port. */
static int64_t
parse_portrange(struct parse_state *ps, const char *s, const PARSE_LTYPE *loc)
{
	char *end;
	long lo, hi;

	if (!isdigit((unsigned char)s[0]) || strchr(s, '-') == NULL)
		goto bad;
	errno = 0;
	lo = strtol(s, &end, 10);
	if (errno != 0 || *end != '-' || !isdigit((unsigned char)end[1]))
		goto bad;
	hi = strtol(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		goto bad;
	if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535 || lo > hi) {
		parse_err(ps, loc, "invalid port range %s (1-65535, low-high)", s);
		return -1;
	}
	if (ps->rule == NULL) {
		parse_err(ps, loc, "a port range is allowed only in rules");
		return -1;
	}
	return PARSE_PORTRANGE | lo << 16 | hi;
bad:
	parse_err(ps, loc, "invalid port \"%s\" (a number 1-65535)", s);
	return -1;
}

/* A host name or numeric address. */
static bool
parse_host_ok(struct parse_state *ps, const char *s, const PARSE_LTYPE *loc)
{
	struct addr a;
	size_t n = strlen(s), label = 0;
	const char *p;

	if (addr_parse(s, &a))
		return true;
	if (n == 0 || n > 253)
		goto bad;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				goto bad;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '*' &&
		    *p != '?')
			goto bad;
		if (++label > 63 || (label == 1 && *p == '-'))
			goto bad;
	}
	return true;
bad:
	parse_err(ps, loc, "invalid host name or address \"%s\"", s);
	return false;
}

static bool
parse_cidr(struct parse_state *ps, const char *s, const PARSE_LTYPE *loc,
           struct addr_cidr **arr, size_t *n)
{
	struct addr_cidr c;

	if (!addr_parse_cidr(s, &c)) {
		parse_err(ps, loc, "invalid address or CIDR block \"%s\"", s);
		return false;
	}
	*arr = parse_grow(*arr, n, sizeof(**arr));
	(*arr)[*n - 1] = c;
	return true;
}

/* ---- statements ---- */

static struct conf_tls *
parse_tls_find(struct parse_state *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->c->ntls; i++)
		if (strcmp(ps->c->tls[i]->name, name) == 0)
			return ps->c->tls[i];
	return NULL;
}

static struct conf_tls *
parse_tls_new(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct conf_tls *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->name = name;
	t->file = parse_strdup(loc->file);
	t->line = loc->line;
	ps->c->tls = parse_grow(ps->c->tls, &ps->c->ntls, sizeof(*ps->c->tls));
	ps->c->tls[ps->c->ntls - 1] = t;
	return t;
}

/* A use of a profile, which may be defined later in the file. */
static struct conf_tls *
parse_tls_ref(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct conf_tls *t = parse_tls_find(ps, name);

	if (t != NULL) {
		free(name);
		return t;
	}
	return parse_tls_new(ps, name, loc);
}

static void
parse_tls_begin(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct conf_tls *t = parse_tls_find(ps, name);

	if (t != NULL && t->defined) {
		parse_err(ps, loc, "tls profile \"%s\" is already defined at %s:%d",
		          name, t->file, t->line);
		/* parse the block into a scratch profile that nothing uses */
		free(name);
		ps->tls = calloc(1, sizeof(*ps->tls));
		if (ps->tls == NULL)
			abort();
		ps->tls->name = parse_strdup("");
		ps->tls->defined = true;
		ps->c->tls = parse_grow(ps->c->tls, &ps->c->ntls, sizeof(*ps->c->tls));
		ps->c->tls[ps->c->ntls - 1] = ps->tls;
		return;
	}
	if (t == NULL)
		t = parse_tls_new(ps, name, loc);
	else {
		free(name);
		free(t->file);
		t->file = parse_strdup(loc->file);
		t->line = loc->line;
	}
	t->defined = true;
	ps->tls = t;
}

static void
parse_tls_file(struct parse_state *ps, char **slot, char *arg, const char *private,
               const PARSE_LTYPE *loc)
{
	char err[512], *path = parse_path(ps, arg);

	free(arg);
	if (private != NULL && config_check_private(private, path, err, sizeof(err)) != 0)
		parse_err(ps, loc, "%s", err);
	parse_setstr(slot, path);
}

static void
parse_listener_begin(struct parse_state *ps, char *addr, int64_t port, const PARSE_LTYPE *loc)
{
	struct conf_listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		abort();
	l->file = parse_strdup(loc->file);
	l->line = loc->line;
	if (!addr_parse(addr, &l->addr))
		parse_err(ps, loc, "invalid listen address \"%s\" (a numeric IPv4 or IPv6 "
		          "address)", addr);
	if (port > 0)
		l->port = (uint16_t)port;
	free(addr);
	ps->lst = l;
}

/* admin on ADDRESS port N [allow-remote] */
static void
parse_admin(struct parse_state *ps, char *addr, int64_t port, bool remote,
            const PARSE_LTYPE *loc)
{
	struct conf_admin *a = &ps->c->admin;
	struct addr ad;
	char buf[64];

	if (a->enabled)
		parse_err(ps, loc, "admin listener is already configured at %s:%d", a->file,
		          a->line);
	else if (!addr_parse(addr, &ad))
		parse_err(ps, loc, "invalid admin address \"%s\" (a numeric IPv4 or IPv6 "
		          "address)", addr);
	else if (addr_classify(&ad) != ADDR_LOOPBACK && !remote)
		parse_err(ps, loc, "admin listener on %s is reachable from other hosts: use "
		          "a loopback address, or say allow-remote", addr_str(&ad, buf, sizeof(buf)));
	else if (port > 0) {
		free(a->file);
		a->enabled = true;
		a->addr = ad;
		a->port = (uint16_t)port;
		a->allow_remote = remote;
		a->file = parse_strdup(loc->file);
		a->line = loc->line;
	}
	free(addr);
}

static void
parse_listener_end(struct parse_state *ps)
{
	struct config *c = ps->c;

	c->listeners = parse_grow(c->listeners, &c->nlisteners, sizeof(*c->listeners));
	c->listeners[c->nlisteners - 1] = *ps->lst;
	free(ps->lst);
	ps->lst = NULL;
}

static void
parse_group_begin(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct policy *p = &ps->c->policy;
	size_t i;

	for (i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i].name, name) == 0)
			parse_err(ps, loc, "group \"%s\" is defined twice", name);
	if ((ps->grp = calloc(1, sizeof(*ps->grp))) == NULL)
		abort();
	ps->grp->name = name;
}

static void
parse_group_end(struct parse_state *ps)
{
	struct policy *p = &ps->c->policy;

	p->groups = parse_grow(p->groups, &p->ngroups, sizeof(*p->groups));
	p->groups[p->ngroups - 1] = *ps->grp;
	free(ps->grp);
	ps->grp = NULL;
}

static void
parse_route_begin(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct catalog *cat = &ps->c->catalog;
	size_t i;

	for (i = 0; i < cat->nroutes; i++)
		if (strcasecmp(cat->routes[i].name, name) == 0)
			parse_err(ps, loc, "route \"%s\" is already defined at %s:%d", name,
			          cat->routes[i].file, cat->routes[i].line);
	if ((ps->route = calloc(1, sizeof(*ps->route))) == NULL)
		abort();
	ps->route->name = name;
	ps->route->file = parse_strdup(loc->file);
	ps->route->line = loc->line;
}

static void
parse_route_end(struct parse_state *ps)
{
	struct catalog *cat = &ps->c->catalog;
	struct catalog_route *r = ps->route;

	if (r->host == NULL)
		parse_errf(ps, r->file, r->line, "route \"%s\" needs `connect HOST port N`",
		           r->name);
	if (r->user != NULL && r->secret_file == NULL)
		parse_errf(ps, r->file, r->line, "route \"%s\": user \"%s\" needs a secret file",
		           r->name, r->user);
	if (r->user == NULL && r->secret_file != NULL)
		parse_errf(ps, r->file, r->line, "route \"%s\": a secret needs a user", r->name);
	cat->routes = parse_grow(cat->routes, &cat->nroutes, sizeof(*cat->routes));
	cat->routes[cat->nroutes - 1] = *r;
	free(r);
	ps->route = NULL;
}

static void
parse_service_begin(struct parse_state *ps, char *name, const PARSE_LTYPE *loc)
{
	struct catalog *cat = &ps->c->catalog;
	size_t i;

	for (i = 0; i < cat->nservices; i++)
		if (strcasecmp(cat->services[i].name, name) == 0)
			parse_err(ps, loc, "service \"%s\" is already defined at %s:%d", name,
			          cat->services[i].file, cat->services[i].line);
	if (name[0] == '\0' || strcmp(name, "*") == 0)
		parse_err(ps, loc, "invalid service name \"%s\"", name);
	if ((ps->svc = calloc(1, sizeof(*ps->svc))) == NULL)
		abort();
	ps->svc->name = name;
	ps->svc->file = parse_strdup(loc->file);
	ps->svc->line = loc->line;
	ps->svc_dests = 0;
}

static void
parse_service_dest(struct parse_state *ps, const PARSE_LTYPE *loc)
{
	if (ps->svc_dests++ == 1)
		parse_err(ps, loc, "service \"%s\" has more than one destination "
		          "(connect, via or beep)", ps->svc->name);
}

static void
parse_service_end(struct parse_state *ps)
{
	struct catalog *cat = &ps->c->catalog;
	struct catalog_service *s = ps->svc;
	const unsigned char *p;
	size_t i;

	if (ps->svc_dests == 0)
		parse_errf(ps, s->file, s->line, "service \"%s\" has no destination "
		           "(connect, via or beep)", s->name);
	if (!s->as_endpoint && !s->as_profile && !s->as_tcpmux && !s->as_final)
		parse_errf(ps, s->file, s->line, "service \"%s\" cannot be reached: say how "
		           "clients name it (endpoint, profile, tcpmux or final)", s->name);
	if (s->kind == SVC_BEEP && ps->svc_dests == 1 &&
	    (s->as_endpoint || s->as_profile || s->as_final || !s->as_tcpmux))
		parse_errf(ps, s->file, s->line, "service \"%s\": the relay's own BEEP engine "
		           "can only be named by tcpmux", s->name);
	if (s->as_tcpmux) {
		for (p = (const unsigned char *)s->name; *p != '\0'; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				break;
		if (*p != '\0' || strcasecmp(s->name, "help") == 0)
			parse_errf(ps, s->file, s->line, "service \"%s\" cannot be a TCPMUX name "
			           "(printable, no spaces, not HELP)", s->name);
	}
	if (s->as_final)
		for (i = 0; i < cat->nservices; i++)
			if (cat->services[i].as_final)
				parse_errf(ps, s->file, s->line, "service \"%s\": only one service "
				           "can be final (\"%s\" is)", s->name,
				           cat->services[i].name);
	if (s->ack == ACK_BACKEND && !s->as_tcpmux)
		parse_errf(ps, s->file, s->line, "service \"%s\": `ack backend` applies only "
		           "to tcpmux", s->name);
	cat->services = parse_grow(cat->services, &cat->nservices, sizeof(*cat->services));
	cat->services[cat->nservices - 1] = *s;
	free(s);
	ps->svc = NULL;
}

static void
parse_rule_begin(struct parse_state *ps, enum policy_action action, const PARSE_LTYPE *loc)
{
	if ((ps->rule = calloc(1, sizeof(*ps->rule))) == NULL)
		abort();
	ps->rule->action = action;
	ps->rule->file = parse_strdup(loc->file);
	ps->rule->line = loc->line;
}

static void
parse_object(struct parse_state *ps, enum policy_object_kind kind, char *name)
{
	ps->rule->obj.kind = kind;
	parse_setstr(&ps->rule->obj.name, name);
}

static void
parse_rule_end(struct parse_state *ps)
{
	struct policy *p = &ps->c->policy;
	struct policy_rule *r = ps->rule;

	switch (r->obj.kind) {
	case POBJ_ANY:
	case POBJ_CIDR:
	case POBJ_HOST:
		break;
	case POBJ_SERVICE:
	case POBJ_ENDPOINT:
	case POBJ_PROFILE:
	case POBJ_TCPMUX:
		if (r->obj.port_lo != 0)
			parse_errf(ps, r->file, r->line, "a port applies only to addresses, "
			           "hosts and any (a service has its own)");
		break;
	}
	p->rules = parse_grow(p->rules, &p->nrules, sizeof(*p->rules));
	p->rules[p->nrules - 1] = *r;
	free(r);
	ps->rule = NULL;
}

/* After a syntax error: drops the statement being built. */
static void
parse_discard(struct parse_state *ps)
{
	if (ps->lst != NULL) {
		free(ps->lst->file);
		free(ps->lst->fwd_host);
		free(ps->lst);
		ps->lst = NULL;
	}
	if (ps->route != NULL) {
		struct catalog tmp = { .routes = ps->route, .nroutes = 1 };

		ps->route->tls = NULL;   /* owned by the configuration */
		catalog_free(&tmp);
		ps->route = NULL;
	}
	if (ps->svc != NULL) {
		struct catalog tmp = { .services = ps->svc, .nservices = 1 };

		catalog_free(&tmp);
		ps->svc = NULL;
	}
	if (ps->rule != NULL) {
		struct policy tmp = { .rules = ps->rule, .nrules = 1 };

		policy_free(&tmp);
		ps->rule = NULL;
	}
	if (ps->grp != NULL) {
		struct policy tmp = { .groups = ps->grp, .ngroups = 1 };

		policy_free(&tmp);
		ps->grp = NULL;
	}
	ps->tls = NULL;
}

int
parse_config(struct config *c, const char *name, const char *text,
             config_report_fn *report, void *arg)
{
	struct parse_state ps;
	struct parse_macro *m;
	struct stat st;
	char *data, err[1200];
	size_t len, i;

	memset(&ps, 0, sizeof(ps));
	ps.c = c;
	ps.report = report;
	ps.arg = arg;
	if (text != NULL) {
		len = strlen(text);
		if ((data = malloc(len + 1)) == NULL)
			abort();
		memcpy(data, text, len + 1);
		parse_push(&ps, name, NULL, data, len, NULL);
	} else {
		if (parse_read(name, &data, &len, &st, err, sizeof(err)) != 0) {
			if (report != NULL)
				report(arg, err);
			return 1;
		}
		parse_push(&ps, name, parse_dirname(name), data, len, &st);
	}
	ps.depth = 0;
	(void)parse_parse(&ps);
	parse_discard(&ps);
	while (ps.file != NULL)
		parse_pop(&ps);
	while ((m = ps.macros) != NULL) {
		ps.macros = m->next;
		free(m->name);
		free(m->value);
		free(m);
	}
	free(ps.pb);
	for (i = 0; i < ps.nnames; i++)
		free(ps.names[i]);
	free(ps.names);
	return ps.errors;
}
