/* config: the parsed configuration, one immutable generation per load.
 * Sessions hold a reference to the generation they started with, so a reload
 * never changes what a live session sees.  Grammar: docs/config.md. */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/addr.h"
#include "policy/catalog.h"
#include "policy/policy.h"

/* A named TLS profile (`tls "name" { ... }`).  The configuration owns them
 * (config.tls); listeners and routes point at one. */
struct tlsconn_ctx;
struct conf_tls {
	char *name;
	char *file;            /* where it was defined (or first referenced) */
	int   line;
	bool  defined;         /* false: referenced but never defined (an error) */
	char *cert;            /* PEM certificate chain */
	char *key;             /* PEM private key (permissions checked) */
	char *ca;              /* CA file to verify the peer */
	bool  verify_peer;     /* listener: request+verify client certs */
	bool  require_peer;    /* listener: refuse clients without one */
	char *verify_name;     /* route: expected server name (default: host) */
	/* built when the configuration is checked (relay/tlsconn.h) */
	struct tlsconn_ctx *server_ctx;   /* cert+key: for listeners */
	struct tlsconn_ctx *client_ctx;   /* for routes */
};

enum listener_kind { LISTEN_FORWARD, LISTEN_TUNNEL, LISTEN_TCPMUX };

struct conf_listener {
	char              *file;
	int                line;
	enum listener_kind kind;
	struct addr        addr;
	uint16_t           port;
	char              *fwd_host;   /* LISTEN_FORWARD target */
	uint16_t           fwd_port;
	struct conf_tls   *tls;        /* implicit TLS before the protocol, or NULL */
};

struct conf_limits {
	unsigned max_sessions;
	unsigned max_sessions_per_source;
	unsigned rate_per_source;       /* connections ...            */
	unsigned rate_interval;         /* ... per this many seconds; 0 = no limit */
	unsigned max_tunnels_per_user;
	unsigned max_hops;
	size_t   buffer;                /* pump bytes per direction */
	size_t   socket_buffer;         /* SO_SNDBUF/SO_RCVBUF of a tunnel's sockets; 0: kernel's */
	size_t   beep_message;
	unsigned beep_channels;
	size_t   tcpmux_line;
};

struct conf_timeouts {                  /* all in milliseconds */
	unsigned handshake;
	unsigned connect;
	unsigned idle;
	unsigned fin;
	unsigned hardstop;
};

struct conf_sasl {
	char    *database;              /* sasldb file; required by tunnel listeners */
	char    *database_file;         /* where `database` was said */
	int      database_line;
	char    *realm;
	char   **mechs;                 /* upper-case names; default SCRAM-SHA-256 */
	size_t   nmechs;
	bool     allow_plaintext;       /* PLAIN/LOGIN without TLS */
	bool     anonymous;             /* offer ANONYMOUS (never grants a tunnel) */
	unsigned max_failures;
	unsigned penalty_failures;
	unsigned penalty_seconds;
};

enum tcpmux_help { HELP_OFF = 0, HELP_ALLOWED, HELP_ALL };

/* `admin on ADDRESS port N [allow-remote]`: the HTTP metrics and status
 * listener (relay/metrics.c); off unless configured. */
struct conf_admin {
	bool        enabled;
	struct addr addr;
	uint16_t    port;
	bool        allow_remote;   /* a non-loopback address was asked for */
	char       *file;           /* where it was configured */
	int         line;
};

struct config {
	char                 *file;        /* top-level file name */
	unsigned              generation;
	unsigned              refcnt;
	char                 *user;        /* drop privileges to */
	char                 *group;
	bool                  allow_root;  /* "user root" must be said explicitly */
	int                   log_verbose;
	unsigned              workers;     /* processes; 0: one per CPU ("auto") */
	struct conf_limits    limits;
	struct conf_timeouts  timeouts;
	struct conf_listener *listeners;
	size_t                nlisteners;
	char                **nameservers; /* "addr" or "addr:port" for evdns */
	size_t                nnameservers;
	struct conf_sasl      sasl;
	struct catalog        catalog;
	struct policy         policy;
	enum tcpmux_help      tcpmux_help;
	struct conf_tls     **tls;         /* named TLS profiles */
	size_t                ntls;
	struct conf_admin     admin;
};

/* Bounds of the configuration knobs (the defaults are in relay/limits.h). */
#define BG_CONF_FILE_MAX           (1024 * 1024) /* bytes in one configuration file */
#define BG_CONF_TOKEN_MAX          1024    /* one word or quoted string */
#define BG_CONF_INCLUDE_DEPTH      8       /* nested includes */
#define BG_CONF_MACRO_EXPANSIONS   64      /* macro expansions in one line */
#define BG_CONF_SECRET_MAX         1024    /* bytes in a route secret file */
#define BG_CONF_COUNT_MAX          1000000 /* max-sessions, ..., max-tunnels-per-user */
#define BG_CONF_HOPS_MAX           64      /* max-hops */
#define BG_CONF_BEEP_MESSAGE_MIN   4096
#define BG_CONF_BEEP_MESSAGE_MAX   (16 * 1024 * 1024)
#define BG_CONF_BEEP_CHANNELS_MIN  257     /* RFC 3080 sec. 2.1: channels 0..256 */
#define BG_CONF_BEEP_CHANNELS_MAX  65536
#define BG_CONF_TCPMUX_LINE_MIN    32
#define BG_CONF_TCPMUX_LINE_MAX    4096
#define BG_CONF_TIMEOUT_MAX        (7U * 24 * 3600 * 1000) /* ms: one week */
#define BG_CONF_SASL_FAILURES_MAX  100
#define BG_CONF_SASL_MECH_MAX      20      /* RFC 4422 sec. 3.1: 1-20 characters */

/* Error reporting: each message is "file:line: text". */
typedef void config_report_fn(void *arg, const char *msg);

/* Reports "file:line: msg" as one line: control characters are escaped
 * (\n, \t, \xHH), so no text from the file can forge a log line.
 * report NULL: nothing. */
void config_message(config_report_fn *report, void *arg, const char *file, int line,
                    const char *msg);

/* Parses and checks a whole configuration.  Returns NULL when anything is
 * wrong, after reporting every error found (not only the first). */
struct config *config_load(const char *path, config_report_fn *report, void *arg);
/* The same from text in memory (the embedded default configuration);
 * `name` stands for the file name in messages; includes are relative to cwd. */
struct config *config_load_string(const char *name, const char *text,
                                  config_report_fn *report, void *arg);
struct config *config_ref(struct config *c);
void config_unref(struct config *c);   /* frees at zero; NULL is a no-op */

/* Writes the defaults into c (used by the parser before reading).  It
 * allocates (the default SASL mechanism list): config_unref frees it. */
void config_defaults(struct config *c);

/* For relay/parse.y only: the grammar and checks of one file. */
int parse_config(struct config *c, const char *name, const char *text,
                 config_report_fn *report, void *arg);
/* Reads a route secret: a regular file, not readable by group or others,
 * owned by root or the current user; one trailing newline is stripped.
 * Returns NULL and an error text in err. */
char *config_read_secret(const char *path, char *err, size_t errlen);
/* Permissions of the SASL user database (absent: fine); user and group
 * are the configured ones (NULL: root).  See relay/config.c. */
int config_check_sasldb(const char *path, const char *user, const char *group, char *err,
                        size_t errlen);
/* The same checks for a private key file (nothing is read). */
int config_check_private(const char *what, const char *path, char *err, size_t errlen);
#endif
