/* auth_sasl: SASL for both sides of a hop, over Cyrus libsasl2. */
#include "auth/auth_sasl.h"

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "relay/log.h"

/* libsasl2 reads <confpath>/beepgate.conf if it exists; point it at a
 * directory that holds no such file, so only our callbacks configure it. */
#define AUTH_SASL_CONFPATH "/nonexistent/beepgate-sasl-no-config"
/* The libsasl2 log level we ask for; lines above DEBUG are dropped anyway. */
#define AUTH_SASL_LOGLEVEL "5"

/* BEEP reply codes (RFC 3080 section 8). */
#define AUTH_SASL_CODE_SYNTAX     501
#define AUTH_SASL_CODE_NOTIMPL    504
#define AUTH_SASL_CODE_TEMPFAIL   454
#define AUTH_SASL_CODE_WEAK       534
#define AUTH_SASL_CODE_AUTHFAIL   535
#define AUTH_SASL_CODE_ENCRYPT    538
#define AUTH_SASL_CODE_STATE      550

#define AUTH_SASL_PUBLIC_AUTHFAIL "authentication failed"

/* The SCRAM decoy (see auth_sasl_decoy_start): what saslpasswd2 stores. */
#define AUTH_SASL_SCRAM_ITERATIONS "4096"
#define AUTH_SASL_DECOY_NONCE     24      /* random octets (32 base64 chars) */
#define AUTH_SASL_DECOY_KEY       32

/* Callback casts: libsasl2 stores every callback as int (*)(void). */
#define AUTH_SASL_CB(fn) ((int (*)(void))(void (*)(void))(fn))

/* One generation of server settings, shared by the sessions created under
 * it (a reload makes a new one; the old one lives until its last session). */
struct auth_sasl_conf {
	unsigned  refcnt;
	char     *database;
	char     *realm;
	char      mechs[AUTH_SASL_MECHS_MAX][AUTH_SASL_MECH_NAME_MAX + 1];
	size_t    nmechs;
	char     *mech_list;        /* "mech_list" option: space-separated */
	bool      allow_plaintext;
	bool      anonymous;
};

enum auth_sasl_server_state {
	SRV_IDLE,                   /* no exchange (again idle after FAIL/abort) */
	SRV_EXCHANGE,               /* a challenge is outstanding */
	SRV_DECOY,                  /* SCRAM for an unknown user: a fake challenge */
	SRV_DONE                    /* authenticated */
};

struct auth_sasl_server {
	sasl_conn_t                 *conn;
	struct auth_sasl_conf       *conf;
	sasl_callback_t              cb[3];
	enum auth_sasl_server_state  state;
	char       offered[AUTH_SASL_MECHS_MAX][AUTH_SASL_MECH_NAME_MAX + 1];
	size_t     noffered;
	bool       has_external;
	char       cur_mech[AUTH_SASL_MECH_NAME_MAX + 1];
	char      *decoy;           /* SRV_DECOY: our fake server-first-message */
	size_t     decoy_nonce;     /* offset and length of its nonce */
	size_t     decoy_noncelen;
	char       user[AUTH_SASL_USER_MAX + 1];
	bool       anonymous;
	int        code;
	const char *error;
	char       reason[AUTH_SASL_ERR_MAX];
};

enum auth_sasl_client_state {
	CLI_NEW,                    /* start not yet called */
	CLI_EXCHANGE,               /* the mechanism expects more from the server */
	CLI_LIBDONE,                /* the mechanism finished; awaiting 'complete' */
	CLI_DONE,                   /* verified success */
	CLI_FAILED
};

struct auth_sasl_client {
	sasl_conn_t                 *conn;
	sasl_callback_t              cb[4];
	enum auth_sasl_client_state  state;
	char                        *user;
	sasl_secret_t               *secret;    /* wiped and freed after use */
	size_t                       secretsize;
	bool                         has_external;
	bool                         allow_plaintext;
	char                         mech[AUTH_SASL_MECH_NAME_MAX + 1];
	char                         error[AUTH_SASL_ERR_MAX];
};

static struct auth_sasl_conf *auth_conf;        /* current generation */
static bool auth_server_ready;
static bool auth_client_ready;
static uint8_t auth_decoy_key[AUTH_SASL_DECOY_KEY];
static bool auth_decoy_keyed;

static void
auth_sasl_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
auth_sasl_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
auth_sasl_wipe(void *p, size_t len)
{
	if (p != NULL)
		explicit_bzero(p, len);
}

/* ---- callbacks ---- */

static int
auth_sasl_cb_log(void *context, int level, const char *message)
{
	(void)context;
	if (message == NULL)
		return SASL_OK;
	switch (level) {
	case SASL_LOG_ERR:
	case SASL_LOG_WARN:
		log_warn("sasl: %s", message);
		break;
	case SASL_LOG_FAIL:
	case SASL_LOG_NOTE:
	case SASL_LOG_DEBUG:
		log_debug("sasl: %s", message);
		break;
	default:
		/* SASL_LOG_TRACE, SASL_LOG_PASS (may hold secrets), unknown. */
		break;
	}
	return SASL_OK;
}

static int
auth_sasl_cb_confpath(void *context, char **path)
{
	(void)context;
	/* libsasl2 2.1.28 does not free this. */
	*path = (char *)AUTH_SASL_CONFPATH;
	return SASL_OK;
}

/* Server options from one settings generation (context), or from the
 * current one (the global callback, context NULL). */
static int
auth_sasl_cb_getopt(void *context, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	const struct auth_sasl_conf *conf = context != NULL ? context : auth_conf;

	(void)plugin;
	if (conf == NULL || option == NULL || result == NULL)
		return SASL_FAIL;
	if (strcmp(option, "sasldb_path") == 0)
		*result = conf->database;
	else if (strcmp(option, "pwcheck_method") == 0)
		*result = "auxprop";
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = "sasldb";
	else if (strcmp(option, "mech_list") == 0)
		*result = conf->mech_list;
	else if (strcmp(option, "log_level") == 0)
		*result = AUTH_SASL_LOGLEVEL;
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* The client side has no options of ours (in particular no mech_list). */
static int
auth_sasl_cb_client_getopt(void *context, const char *plugin,
    const char *option, const char **result, unsigned *len)
{
	(void)context;
	(void)plugin;
	(void)option;
	(void)result;
	(void)len;
	return SASL_FAIL;
}

/* Nobody may act as somebody else: an authorization identity other than the
 * authentication identity is refused. */
static int
auth_sasl_cb_proxy(sasl_conn_t *conn, void *context, const char *requested,
    unsigned rlen, const char *authid, unsigned alen, const char *realm,
    unsigned urlen, struct propctx *propctx)
{
	(void)context;
	(void)realm;
	(void)urlen;
	(void)propctx;
	if (rlen == 0 || (rlen == alen && memcmp(requested, authid, rlen) == 0))
		return SASL_OK;
	sasl_seterror(conn, SASL_NOLOG, "authorization identity differs from "
	    "authentication identity");
	return SASL_NOAUTHZ;
}

static int
auth_sasl_cb_simple(void *context, int id, const char **result, unsigned *len)
{
	struct auth_sasl_client *c = context;

	switch (id) {
	case SASL_CB_AUTHNAME:
		if (c->user == NULL)
			return SASL_FAIL;
		*result = c->user;
		break;
	case SASL_CB_USER:
		*result = "";           /* no separate authorization identity */
		break;
	default:
		return SASL_BADPARAM;
	}
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int
auth_sasl_cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	struct auth_sasl_client *c = context;

	(void)conn;
	if (id != SASL_CB_PASS || c->secret == NULL)
		return SASL_FAIL;
	*psecret = c->secret;
	return SASL_OK;
}

static const sasl_callback_t auth_sasl_server_global_cb[] = {
	{ SASL_CB_GETOPT, AUTH_SASL_CB(auth_sasl_cb_getopt), NULL },
	{ SASL_CB_GETCONFPATH, AUTH_SASL_CB(auth_sasl_cb_confpath), NULL },
	{ SASL_CB_LOG, AUTH_SASL_CB(auth_sasl_cb_log), NULL },
	{ SASL_CB_LIST_END, NULL, NULL }
};

static const sasl_callback_t auth_sasl_client_global_cb[] = {
	{ SASL_CB_GETOPT, AUTH_SASL_CB(auth_sasl_cb_client_getopt), NULL },
	{ SASL_CB_GETCONFPATH, AUTH_SASL_CB(auth_sasl_cb_confpath), NULL },
	{ SASL_CB_LOG, AUTH_SASL_CB(auth_sasl_cb_log), NULL },
	{ SASL_CB_LIST_END, NULL, NULL }
};

/* ---- settings ---- */

static void
auth_sasl_conf_unref(struct auth_sasl_conf *conf)
{
	if (conf == NULL || --conf->refcnt > 0)
		return;
	free(conf->database);
	free(conf->realm);
	free(conf->mech_list);
	free(conf);
}

static bool
auth_sasl_mech_name_ok(const char *m)
{
	size_t i, n = strlen(m);

	/* RFC 4422 3.1: 1-20 of [A-Z0-9-_]. */
	if (n == 0 || n > AUTH_SASL_MECH_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= '0' && m[i] <= '9') ||
		    m[i] == '-' || m[i] == '_'))
			return false;
	return true;
}

/* Is `mech` a word of the space-separated `list`? */
static bool
auth_sasl_in_list(const char *list, const char *mech)
{
	size_t n = strlen(mech);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t w;

		while (*p == ' ')
			p++;
		w = strcspn(p, " ");
		if (w == n && strncasecmp(p, mech, n) == 0)
			return true;
		p += w;
	}
	return false;
}

static struct auth_sasl_conf *
auth_sasl_conf_new(const struct auth_sasl_settings *set, char *err, size_t errlen)
{
	static const char *const defmechs[] = { AUTH_SASL_DEFAULT_MECH };
	const char *const *mechs = set->mechs;
	size_t nmechs = set->nmechs, i, j, len = 0;
	struct auth_sasl_conf *conf;

	if (mechs == NULL || nmechs == 0) {
		mechs = defmechs;
		nmechs = 1;
	}
	if (nmechs + (set->anonymous ? 1 : 0) > AUTH_SASL_MECHS_MAX) {
		auth_sasl_seterr(err, errlen, "too many SASL mechanisms (at most %d)",
		    AUTH_SASL_MECHS_MAX);
		return NULL;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL) {
		auth_sasl_seterr(err, errlen, "out of memory");
		return NULL;
	}
	conf->refcnt = 1;
	conf->allow_plaintext = set->allow_plaintext;
	conf->anonymous = set->anonymous;
	for (i = 0; i < nmechs; i++) {
		if (!auth_sasl_mech_name_ok(mechs[i])) {
			auth_sasl_seterr(err, errlen, "invalid SASL mechanism name "
			    "'%.*s' (upper-case letters, digits, '-', '_'; at most %d)",
			    AUTH_SASL_MECH_NAME_MAX + 8, mechs[i], AUTH_SASL_MECH_NAME_MAX);
			goto fail;
		}
		if (strcmp(mechs[i], "ANONYMOUS") == 0) {
			auth_sasl_seterr(err, errlen, "ANONYMOUS is not a mechanism "
			    "to list: it is offered only when anonymous access is "
			    "enabled, and never grants a tunnel");
			goto fail;
		}
		for (j = 0; j < conf->nmechs; j++)
			if (strcmp(conf->mechs[j], mechs[i]) == 0)
				break;
		if (j < conf->nmechs)
			continue;       /* listed twice */
		snprintf(conf->mechs[conf->nmechs++], AUTH_SASL_MECH_NAME_MAX + 1,
		    "%s", mechs[i]);
	}
	if (set->anonymous)
		snprintf(conf->mechs[conf->nmechs++], AUTH_SASL_MECH_NAME_MAX + 1,
		    "ANONYMOUS");
	for (i = 0; i < conf->nmechs; i++)
		len += strlen(conf->mechs[i]) + 1;
	if ((conf->mech_list = calloc(1, len + 1)) == NULL ||
	    (conf->database = strdup(set->database)) == NULL ||
	    (set->realm != NULL && (conf->realm = strdup(set->realm)) == NULL)) {
		auth_sasl_seterr(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < conf->nmechs; i++) {
		if (i > 0)
			strcat(conf->mech_list, " ");
		strcat(conf->mech_list, conf->mechs[i]);
	}
	return conf;
fail:
	auth_sasl_conf_unref(conf);
	return NULL;
}

/* ---- process-wide ---- */

int
auth_sasl_client_init(char *err, size_t errlen)
{
	int r;

	if (auth_client_ready)
		return 0;
	if ((r = sasl_client_init(auth_sasl_client_global_cb)) != SASL_OK) {
		auth_sasl_seterr(err, errlen, "SASL client initialization failed: %s",
		    sasl_errstring(r, NULL, NULL));
		return -1;
	}
	auth_client_ready = true;
	return 0;
}

int
auth_sasl_init(const struct auth_sasl_settings *set, char *err, size_t errlen)
{
	struct auth_sasl_conf *conf, *old;
	const char *const *all;
	size_t i;
	int r;

	if (set == NULL || set->database == NULL || set->database[0] == '\0') {
		auth_sasl_seterr(err, errlen, "no SASL user database configured");
		return -1;
	}
	if (access(set->database, R_OK) != 0) {
		auth_sasl_seterr(err, errlen, "SASL user database %s: %s%s",
		    set->database, strerror(errno), errno == ENOENT ?
		    " (create it with beepgate-passwd add USER)" : "");
		return -1;
	}
	if (set->realm != NULL && (set->realm[0] == '\0' ||
	    strchr(set->realm, '@') != NULL)) {
		auth_sasl_seterr(err, errlen, "invalid SASL realm '%s'", set->realm);
		return -1;
	}
	if (!auth_decoy_keyed) {
		if (RAND_bytes(auth_decoy_key, sizeof(auth_decoy_key)) != 1) {
			auth_sasl_seterr(err, errlen, "no random bytes for SASL");
			return -1;
		}
		auth_decoy_keyed = true;
	}
	if ((conf = auth_sasl_conf_new(set, err, errlen)) == NULL)
		return -1;
	/* The getopt callback reads auth_conf, also during sasl_server_init. */
	old = auth_conf;
	auth_conf = conf;
	if (!auth_server_ready) {
		if ((r = sasl_server_init(auth_sasl_server_global_cb,
		    AUTH_SASL_APPNAME)) != SASL_OK) {
			auth_sasl_seterr(err, errlen, "SASL server initialization "
			    "failed: %s", sasl_errstring(r, NULL, NULL));
			goto fail;
		}
		auth_server_ready = true;
	}
	if (auth_sasl_client_init(err, errlen) != 0)
		goto fail;
	all = sasl_global_listmech();
	for (i = 0; i < conf->nmechs; i++) {
		size_t k;

		for (k = 0; all != NULL && all[k] != NULL; k++)
			if (strcasecmp(all[k], conf->mechs[i]) == 0)
				break;
		if (all == NULL || all[k] == NULL) {
			auth_sasl_seterr(err, errlen, "SASL mechanism %s is not "
			    "available (is its libsasl2 module installed?)",
			    conf->mechs[i]);
			goto fail;
		}
	}
	auth_sasl_conf_unref(old);
	return 0;
fail:
	auth_conf = old;
	auth_sasl_conf_unref(conf);
	return -1;
}

void
auth_sasl_done(void)
{
	if (auth_client_ready)
		sasl_client_done();
	if (auth_server_ready)
		sasl_server_done();
	auth_client_ready = auth_server_ready = false;
	auth_sasl_conf_unref(auth_conf);
	auth_conf = NULL;
}

/* ---- server ---- */

static void
auth_sasl_server_fail(struct auth_sasl_server *s, int code, const char *public,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
auth_sasl_server_fail(struct auth_sasl_server *s, int code, const char *public,
    const char *fmt, ...)
{
	va_list ap;

	s->code = code;
	s->error = public;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->state = SRV_IDLE;
	s->cur_mech[0] = '\0';
	free(s->decoy);
	s->decoy = NULL;
}

/* Turns a libsasl2 failure into what the peer and the log see. */
static void
auth_sasl_server_libfail(struct auth_sasl_server *s, int r)
{
	const char *detail = sasl_errdetail(s->conn);

	switch (r) {
	case SASL_NOUSER:
	case SASL_BADAUTH:
	case SASL_NOAUTHZ:
	case SASL_NOVERIFY:
	case SASL_EXPIRED:
	case SASL_DISABLED:
	case SASL_TRANS:
		/* One answer for all of these: no user probing. */
		auth_sasl_server_fail(s, AUTH_SASL_CODE_AUTHFAIL,
		    AUTH_SASL_PUBLIC_AUTHFAIL, "%s: %s", s->cur_mech, detail);
		break;
	case SASL_BADPROT:
	case SASL_BADPARAM:
	case SASL_BADMAC:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_SYNTAX,
		    "malformed SASL message", "%s: %s", s->cur_mech, detail);
		break;
	case SASL_NOMECH:
	case SASL_TOOWEAK:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_WEAK,
		    "mechanism not available", "%s: %s", s->cur_mech, detail);
		break;
	case SASL_ENCRYPT:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_ENCRYPT,
		    "mechanism requires encryption", "%s: %s", s->cur_mech, detail);
		break;
	default:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_TEMPFAIL,
		    "temporary authentication failure", "%s: %s", s->cur_mech,
		    detail);
		break;
	}
}

/* ---- SCRAM: no user probing ----
 *
 * libsasl2's SCRAM server fails an unknown user at once, on the
 * client-first-message, while a known user gets a server-first-message and
 * fails only on the proof: an attacker could tell who exists.  RFC 5802 5.1
 * recommends answering an unknown user with a fake challenge; we do, with a
 * salt that is stable per user name for the life of the process (a keyed
 * hash), a fresh nonce, the same iteration count and lengths as a real
 * challenge, and then the same failure as a wrong password.
 * Known residue: a restart changes the fake salts; real salts persist. */

static size_t
auth_sasl_scram_saltlen(const char *mech)
{
	static const struct {
		const char *mech;
		size_t      len;
	} t[] = {
		{ "SCRAM-SHA-1", 20 }, { "SCRAM-SHA-224", 28 }, { "SCRAM-SHA-256", 32 },
		{ "SCRAM-SHA-384", 48 }, { "SCRAM-SHA-512", 64 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].mech, mech) == 0)
			return t[i].len;
	return 0;
}

/* Finds attribute `a` ("n", "r") at the start of the comma-separated
 * fields from `p`; returns its value and length. */
static bool
auth_sasl_scram_attr(const uint8_t *in, size_t inlen, size_t p, char a,
    size_t *val, size_t *vallen)
{
	size_t e;

	if (p + 2 > inlen || in[p] != (uint8_t)a || in[p + 1] != '=')
		return false;
	for (e = p + 2; e < inlen && in[e] != ','; e++)
		if (in[e] < 0x21 || in[e] > 0x7e)
			return false;
	*val = p + 2;
	*vallen = e - (p + 2);
	return *vallen > 0;
}

/* Builds the fake server-first-message for a client-first-message. */
static bool
auth_sasl_decoy_start(struct auth_sasl_server *s, const uint8_t *in,
    size_t inlen)
{
	uint8_t mac[EVP_MAX_MD_SIZE], rnd[AUTH_SASL_DECOY_NONCE];
	char salt64[AUTH_SASL_B64_ENCODED_SIZE(EVP_MAX_MD_SIZE)];
	char nonce64[AUTH_SASL_B64_ENCODED_SIZE(AUTH_SASL_DECOY_NONCE)];
	size_t saltlen = auth_sasl_scram_saltlen(s->cur_mech), p, n, nlen, r, rlen;
	unsigned maclen = 0, len64;
	int w;

	if (saltlen == 0 || !auth_decoy_keyed || in == NULL)
		return false;
	/* gs2-header: cbind-flag "," [authzid] "," then the bare message. */
	for (p = 0, n = 0; p < inlen && n < 2; p++)
		if (in[p] == ',')
			n++;
	if (n != 2 || !auth_sasl_scram_attr(in, inlen, p, 'n', &n, &nlen) ||
	    !auth_sasl_scram_attr(in, inlen, n + nlen + 1, 'r', &r, &rlen))
		return false;
	if (HMAC(EVP_sha512(), auth_decoy_key, sizeof(auth_decoy_key), in + n,
	    nlen, mac, &maclen) == NULL || maclen < saltlen ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    sasl_encode64((const char *)mac, (unsigned)saltlen, salt64,
	    sizeof(salt64), &len64) != SASL_OK ||
	    sasl_encode64((const char *)rnd, sizeof(rnd), nonce64, sizeof(nonce64),
	    &len64) != SASL_OK)
		return false;
	free(s->decoy);
	if ((s->decoy = malloc(rlen + sizeof(nonce64) + sizeof(salt64) + 32)) == NULL)
		return false;
	w = sprintf(s->decoy, "r=%.*s%s,s=%s,i=" AUTH_SASL_SCRAM_ITERATIONS,
	    (int)rlen, (const char *)in + r, nonce64, salt64);
	if (w < 0) {
		free(s->decoy);
		s->decoy = NULL;
		return false;
	}
	s->decoy_nonce = 2;
	s->decoy_noncelen = rlen + strlen(nonce64);
	explicit_bzero(mac, sizeof(mac));
	return true;
}

/* The client-final-message to a decoy: fail as libsasl2 does for a wrong
 * proof, or for a malformed message. */
static void
auth_sasl_decoy_step(struct auth_sasl_server *s, const uint8_t *in, size_t inlen)
{
	size_t p, v, vlen;
	bool ok = false;

	if (inlen > AUTH_SASL_DATA_MAX) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_SYNTAX, "SASL message too long",
		    "%s: response of %zu octets (limit %d)", s->cur_mech, inlen,
		    AUTH_SASL_DATA_MAX);
		return;
	}
	if (auth_sasl_scram_attr(in, inlen, 0, 'c', &v, &vlen)) {
		p = v + vlen + 1;
		if (auth_sasl_scram_attr(in, inlen, p, 'r', &v, &vlen) &&
		    vlen == s->decoy_noncelen &&
		    memcmp(in + v, s->decoy + s->decoy_nonce, vlen) == 0) {
			/* skip extensions up to ",p=" */
			for (p = v + vlen; p + 3 <= inlen; p++)
				if (in[p] == ',' && in[p + 1] == 'p' && in[p + 2] == '=')
					break;
			ok = p + 3 < inlen;
		}
	}
	if (ok)
		auth_sasl_server_fail(s, AUTH_SASL_CODE_AUTHFAIL,
		    AUTH_SASL_PUBLIC_AUTHFAIL, "%s: user not found (answered "
		    "with a decoy challenge)", s->cur_mech);
	else
		auth_sasl_server_fail(s, AUTH_SASL_CODE_SYNTAX,
		    "malformed SASL message", "%s: user not found; malformed "
		    "client-final-message to the decoy challenge", s->cur_mech);
}

struct auth_sasl_server *
auth_sasl_server_new(const char *fqdn, const char *local_addr,
    const char *remote_addr, unsigned ssf_external, const char *external_id,
    char *err, size_t errlen)
{
	struct auth_sasl_server *s;
	sasl_security_properties_t sp;
	sasl_ssf_t ssf = ssf_external;
	const char *list = NULL;
	unsigned listlen;
	int count, r;
	size_t i;

	if (!auth_server_ready || auth_conf == NULL) {
		auth_sasl_seterr(err, errlen, "SASL server not initialized");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		auth_sasl_seterr(err, errlen, "out of memory");
		return NULL;
	}
	s->conf = auth_conf;
	s->conf->refcnt++;
	s->cb[0] = (sasl_callback_t){ SASL_CB_GETOPT,
	    AUTH_SASL_CB(auth_sasl_cb_getopt), s->conf };
	s->cb[1] = (sasl_callback_t){ SASL_CB_PROXY_POLICY,
	    AUTH_SASL_CB(auth_sasl_cb_proxy), s };
	s->cb[2] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	r = sasl_server_new(AUTH_SASL_SERVICE, fqdn, s->conf->realm, local_addr,
	    remote_addr, s->cb, SASL_SUCCESS_DATA, &s->conn);
	if (r != SASL_OK) {
		auth_sasl_seterr(err, errlen, "SASL server session: %s",
		    s->conn != NULL ? sasl_errdetail(s->conn) :
		    sasl_errstring(r, NULL, NULL));
		goto fail;
	}
	memset(&sp, 0, sizeof(sp));
	sp.min_ssf = 0;
	sp.max_ssf = 0;                 /* no SASL security layer */
	sp.maxbufsize = 0;
	if (!s->conf->allow_plaintext && ssf_external == 0)
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	if (!s->conf->anonymous)
		sp.security_flags |= SASL_SEC_NOANONYMOUS;
	if ((r = sasl_setprop(s->conn, SASL_SEC_PROPS, &sp)) != SASL_OK ||
	    (ssf_external > 0 &&
	    (r = sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ssf)) != SASL_OK) ||
	    (external_id != NULL &&
	    (r = sasl_setprop(s->conn, SASL_AUTH_EXTERNAL, external_id)) != SASL_OK)) {
		auth_sasl_seterr(err, errlen, "SASL server properties: %s",
		    sasl_errdetail(s->conn));
		goto fail;
	}
	s->has_external = external_id != NULL;
	r = sasl_listmech(s->conn, NULL, "", " ", "", &list, &listlen, &count);
	if (r != SASL_OK && r != SASL_NOMECH) {
		auth_sasl_seterr(err, errlen, "SASL mechanism list: %s",
		    sasl_errdetail(s->conn));
		goto fail;
	}
	/* What the configuration asks for, as far as libsasl2 allows it here. */
	for (i = 0; i < s->conf->nmechs; i++) {
		const char *m = s->conf->mechs[i];

		if (r != SASL_OK || !auth_sasl_in_list(list, m))
			continue;
		if (strcmp(m, "EXTERNAL") == 0 && !s->has_external)
			continue;
		if ((strcmp(m, "PLAIN") == 0 || strcmp(m, "LOGIN") == 0) &&
		    !s->conf->allow_plaintext && ssf_external == 0)
			continue;
		if (strcmp(m, "ANONYMOUS") == 0 && !s->conf->anonymous)
			continue;
		snprintf(s->offered[s->noffered++], AUTH_SASL_MECH_NAME_MAX + 1,
		    "%s", m);
	}
	s->state = SRV_IDLE;
	return s;
fail:
	auth_sasl_server_free(s);
	return NULL;
}

void
auth_sasl_server_free(struct auth_sasl_server *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	auth_sasl_conf_unref(s->conf);
	free(s->decoy);
	free(s);
}

size_t
auth_sasl_server_mechs(const struct auth_sasl_server *s, const char **names,
    size_t max)
{
	size_t i;

	for (i = 0; i < s->noffered && i < max; i++)
		names[i] = s->offered[i];
	return i;
}

bool
auth_sasl_server_offers(const struct auth_sasl_server *s, const char *mech)
{
	size_t i;

	for (i = 0; i < s->noffered; i++)
		if (strcmp(s->offered[i], mech) == 0)
			return true;
	return false;
}

/* libsasl2 said SASL_OK: record who it is. */
static enum auth_sasl_result
auth_sasl_server_success(struct auth_sasl_server *s)
{
	const void *v = NULL;
	const char *user;
	size_t n;

	if (sasl_getprop(s->conn, SASL_USERNAME, &v) != SASL_OK || v == NULL) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_TEMPFAIL,
		    "temporary authentication failure",
		    "%s: no user name after success", s->cur_mech);
		return AUTH_SASL_FAIL;
	}
	user = v;
	n = strlen(user);
	if (s->conf->realm != NULL) {
		size_t rl = strlen(s->conf->realm);

		if (n > rl + 1 && user[n - rl - 1] == '@' &&
		    strcmp(user + n - rl, s->conf->realm) == 0)
			n -= rl + 1;
	}
	if (n == 0 || n > AUTH_SASL_USER_MAX) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_AUTHFAIL,
		    AUTH_SASL_PUBLIC_AUTHFAIL, "%s: user name of %zu octets",
		    s->cur_mech, n);
		return AUTH_SASL_FAIL;
	}
	memcpy(s->user, user, n);
	s->user[n] = '\0';
	s->anonymous = strcmp(s->cur_mech, "ANONYMOUS") == 0;
	s->state = SRV_DONE;
	return AUTH_SASL_OK;
}

static enum auth_sasl_result
auth_sasl_server_result(struct auth_sasl_server *s, int r, const uint8_t *in,
    size_t inlen, const char *out, unsigned outlen, const uint8_t **pout,
    size_t *poutlen)
{
	*pout = (const uint8_t *)(out != NULL ? out : "");
	*poutlen = out != NULL ? outlen : 0;
	switch (r) {
	case SASL_CONTINUE:
		s->state = SRV_EXCHANGE;
		return AUTH_SASL_CONTINUE;
	case SASL_OK:
		return auth_sasl_server_success(s);
	default:
		*pout = (const uint8_t *)"";
		*poutlen = 0;
		if (r == SASL_NOUSER && auth_sasl_decoy_start(s, in, inlen)) {
			log_debug("sasl: %s: %s; sending a decoy challenge",
			    s->cur_mech, sasl_errdetail(s->conn));
			s->state = SRV_DECOY;
			*pout = (const uint8_t *)s->decoy;
			*poutlen = strlen(s->decoy);
			return AUTH_SASL_CONTINUE;
		}
		auth_sasl_server_libfail(s, r);
		return AUTH_SASL_FAIL;
	}
}

enum auth_sasl_result
auth_sasl_server_start(struct auth_sasl_server *s, const char *mech,
    const uint8_t *in, size_t inlen, bool have_in, const uint8_t **out,
    size_t *outlen)
{
	const char *sout = NULL;
	unsigned soutlen = 0;
	int r;

	*out = (const uint8_t *)"";
	*outlen = 0;
	switch (s->state) {
	case SRV_IDLE:
		break;
	case SRV_EXCHANGE:
	case SRV_DECOY:
		/* A new <start> abandons the running exchange. */
		free(s->decoy);
		s->decoy = NULL;
		break;
	case SRV_DONE:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_STATE, "already authenticated",
		    "start of %s after successful authentication", mech);
		s->state = SRV_DONE;
		return AUTH_SASL_FAIL;
	}
	s->cur_mech[0] = '\0';
	if (!auth_sasl_server_offers(s, mech)) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_NOTIMPL,
		    "mechanism not offered", "mechanism '%.*s' not offered",
		    AUTH_SASL_MECH_NAME_MAX + 4, mech);
		return AUTH_SASL_FAIL;
	}
	snprintf(s->cur_mech, sizeof(s->cur_mech), "%s", mech);
	if (have_in && inlen > AUTH_SASL_DATA_MAX) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_SYNTAX, "SASL message too long",
		    "%s: initial response of %zu octets (limit %d)", mech, inlen,
		    AUTH_SASL_DATA_MAX);
		return AUTH_SASL_FAIL;
	}
	r = sasl_server_start(s->conn, mech,
	    have_in ? (const char *)(in != NULL ? in : (const uint8_t *)"") : NULL,
	    have_in ? (unsigned)inlen : 0, &sout, &soutlen);
	return auth_sasl_server_result(s, r, have_in ? in : NULL, inlen, sout,
	    soutlen, out, outlen);
}

enum auth_sasl_result
auth_sasl_server_step(struct auth_sasl_server *s, const uint8_t *in,
    size_t inlen, const uint8_t **out, size_t *outlen)
{
	const char *sout = NULL;
	unsigned soutlen = 0;
	int r;

	*out = (const uint8_t *)"";
	*outlen = 0;
	switch (s->state) {
	case SRV_EXCHANGE:
		break;
	case SRV_DECOY:
		auth_sasl_decoy_step(s, in != NULL ? in : (const uint8_t *)"", inlen);
		return AUTH_SASL_FAIL;
	case SRV_IDLE:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_STATE,
		    "no SASL exchange in progress", "response without exchange");
		return AUTH_SASL_FAIL;
	case SRV_DONE:
		auth_sasl_server_fail(s, AUTH_SASL_CODE_STATE, "already authenticated",
		    "response after successful authentication");
		s->state = SRV_DONE;
		return AUTH_SASL_FAIL;
	}
	if (inlen > AUTH_SASL_DATA_MAX) {
		auth_sasl_server_fail(s, AUTH_SASL_CODE_SYNTAX, "SASL message too long",
		    "%s: response of %zu octets (limit %d)", s->cur_mech, inlen,
		    AUTH_SASL_DATA_MAX);
		return AUTH_SASL_FAIL;
	}
	r = sasl_server_step(s->conn,
	    (const char *)(in != NULL ? in : (const uint8_t *)""), (unsigned)inlen,
	    &sout, &soutlen);
	return auth_sasl_server_result(s, r, in, inlen, sout, soutlen, out, outlen);
}

void
auth_sasl_server_abort(struct auth_sasl_server *s)
{
	switch (s->state) {
	case SRV_IDLE:
	case SRV_DONE:
		break;
	case SRV_EXCHANGE:
	case SRV_DECOY:
		/* The next sasl_server_start discards the mechanism's state. */
		s->state = SRV_IDLE;
		s->cur_mech[0] = '\0';
		free(s->decoy);
		s->decoy = NULL;
		break;
	}
}

int
auth_sasl_server_code(const struct auth_sasl_server *s)
{
	return s->code;
}

const char *
auth_sasl_server_error(const struct auth_sasl_server *s)
{
	return s->error != NULL ? s->error : "";
}

const char *
auth_sasl_server_reason(const struct auth_sasl_server *s)
{
	return s->reason;
}

bool
auth_sasl_server_authenticated(const struct auth_sasl_server *s)
{
	return s->state == SRV_DONE;
}

const char *
auth_sasl_server_user(const struct auth_sasl_server *s)
{
	return s->state == SRV_DONE ? s->user : NULL;
}

const char *
auth_sasl_server_mech(const struct auth_sasl_server *s)
{
	return s->state == SRV_DONE ? s->cur_mech : NULL;
}

bool
auth_sasl_server_anonymous(const struct auth_sasl_server *s)
{
	return s->state == SRV_DONE && s->anonymous;
}

bool
auth_sasl_server_may_tunnel(const struct auth_sasl_server *s)
{
	return s->state == SRV_DONE && !s->anonymous;
}

/* ---- client ---- */

enum auth_sasl_need {
	NEED_SECRET,                /* a user name and a password */
	NEED_CERT,                  /* a TLS client certificate */
	NEED_SECRET_TLS             /* a password and TLS (or allow_plaintext) */
};

/* Our preference, best first.  ANONYMOUS is never used. */
static const struct {
	const char            *name;
	enum auth_sasl_need    need;
} auth_sasl_client_pref[] = {
	{ "SCRAM-SHA-256", NEED_SECRET },
	{ "SCRAM-SHA-512", NEED_SECRET },
	{ "SCRAM-SHA-384", NEED_SECRET },
	{ "SCRAM-SHA-224", NEED_SECRET },
	{ "SCRAM-SHA-1",   NEED_SECRET },
	{ "DIGEST-MD5",    NEED_SECRET },
	{ "CRAM-MD5",      NEED_SECRET },
	{ "EXTERNAL",      NEED_CERT },
	{ "PLAIN",         NEED_SECRET_TLS },
	{ "LOGIN",         NEED_SECRET_TLS },
};

static void
auth_sasl_client_fail(struct auth_sasl_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
auth_sasl_client_wipe(struct auth_sasl_client *c)
{
	/* Dispose first: the mechanism may still point at the secret. */
	if (c->conn != NULL)
		sasl_dispose(&c->conn);
	if (c->secret != NULL) {
		auth_sasl_wipe(c->secret, c->secretsize);
		free(c->secret);
		c->secret = NULL;
	}
}

static void
auth_sasl_client_fail(struct auth_sasl_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->state = CLI_FAILED;
	auth_sasl_client_wipe(c);
}

struct auth_sasl_client *
auth_sasl_client_new(const char *host, const struct auth_sasl_client_creds *creds,
    char *err, size_t errlen)
{
	struct auth_sasl_client *c;
	sasl_security_properties_t sp;
	sasl_ssf_t ssf = creds->ssf_external;
	int r;

	if (!auth_client_ready) {
		auth_sasl_seterr(err, errlen, "SASL client not initialized");
		return NULL;
	}
	if (creds->secret != NULL && creds->secretlen > AUTH_SASL_SECRET_MAX) {
		auth_sasl_seterr(err, errlen, "secret longer than %d octets",
		    AUTH_SASL_SECRET_MAX);
		return NULL;
	}
	if (creds->user != NULL && (creds->user[0] == '\0' ||
	    strlen(creds->user) > AUTH_SASL_USER_MAX)) {
		auth_sasl_seterr(err, errlen, "invalid user name for the next hop");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		auth_sasl_seterr(err, errlen, "out of memory");
		return NULL;
	}
	if (creds->user != NULL && (c->user = strdup(creds->user)) == NULL)
		goto nomem;
	if (creds->secret != NULL && creds->user != NULL) {
		c->secretsize = sizeof(sasl_secret_t) + creds->secretlen + 1;
		if ((c->secret = calloc(1, c->secretsize)) == NULL)
			goto nomem;
		c->secret->len = (unsigned long)creds->secretlen;
		memcpy(c->secret->data, creds->secret, creds->secretlen);
	}
	c->has_external = creds->external_id != NULL;
	c->allow_plaintext = creds->allow_plaintext || creds->ssf_external > 0;
	c->cb[0] = (sasl_callback_t){ SASL_CB_AUTHNAME,
	    AUTH_SASL_CB(auth_sasl_cb_simple), c };
	c->cb[1] = (sasl_callback_t){ SASL_CB_USER,
	    AUTH_SASL_CB(auth_sasl_cb_simple), c };
	c->cb[2] = (sasl_callback_t){ SASL_CB_PASS,
	    AUTH_SASL_CB(auth_sasl_cb_pass), c };
	c->cb[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	r = sasl_client_new(AUTH_SASL_SERVICE, host, NULL, NULL, c->cb,
	    SASL_SUCCESS_DATA, &c->conn);
	if (r != SASL_OK) {
		auth_sasl_seterr(err, errlen, "SASL client session: %s",
		    c->conn != NULL ? sasl_errdetail(c->conn) :
		    sasl_errstring(r, NULL, NULL));
		goto fail;
	}
	memset(&sp, 0, sizeof(sp));
	sp.max_ssf = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	if (!c->allow_plaintext)
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	if ((r = sasl_setprop(c->conn, SASL_SEC_PROPS, &sp)) != SASL_OK ||
	    (creds->ssf_external > 0 &&
	    (r = sasl_setprop(c->conn, SASL_SSF_EXTERNAL, &ssf)) != SASL_OK) ||
	    (creds->external_id != NULL && (r = sasl_setprop(c->conn,
	    SASL_AUTH_EXTERNAL, creds->external_id)) != SASL_OK)) {
		auth_sasl_seterr(err, errlen, "SASL client properties: %s",
		    sasl_errdetail(c->conn));
		goto fail;
	}
	c->state = CLI_NEW;
	return c;
nomem:
	auth_sasl_seterr(err, errlen, "out of memory");
fail:
	auth_sasl_client_free(c);
	return NULL;
}

void
auth_sasl_client_free(struct auth_sasl_client *c)
{
	if (c == NULL)
		return;
	auth_sasl_client_wipe(c);
	free(c->user);
	free(c);
}

static bool
auth_sasl_client_usable(const struct auth_sasl_client *c, enum auth_sasl_need need)
{
	bool secret = c->user != NULL && c->secret != NULL;

	switch (need) {
	case NEED_SECRET:
		return secret;
	case NEED_CERT:
		return c->has_external;
	case NEED_SECRET_TLS:
		return secret && c->allow_plaintext;
	}
	return false;
}

enum auth_sasl_result
auth_sasl_client_start(struct auth_sasl_client *c, const char *const *offered,
    size_t noffered, const char **mech, const uint8_t **out, size_t *outlen,
    bool *have_out)
{
	size_t p, i;
	int r = SASL_NOMECH;

	*mech = NULL;
	*out = (const uint8_t *)"";
	*outlen = 0;
	*have_out = false;
	switch (c->state) {
	case CLI_NEW:
		break;
	case CLI_EXCHANGE:
	case CLI_LIBDONE:
	case CLI_DONE:
	case CLI_FAILED:
		auth_sasl_client_fail(c, "SASL client started twice");
		return AUTH_SASL_FAIL;
	}
	for (p = 0; p < sizeof(auth_sasl_client_pref) /
	    sizeof(auth_sasl_client_pref[0]); p++) {
		const char *name = auth_sasl_client_pref[p].name;
		const char *cout = NULL, *used = NULL;
		unsigned coutlen = 0;

		if (!auth_sasl_client_usable(c, auth_sasl_client_pref[p].need))
			continue;
		for (i = 0; i < noffered; i++)
			if (offered[i] != NULL && strcmp(offered[i], name) == 0)
				break;
		if (i == noffered)
			continue;
		r = sasl_client_start(c->conn, name, NULL, &cout, &coutlen, &used);
		if (r != SASL_OK && r != SASL_CONTINUE) {
			log_debug("sasl client: %s unusable: %s", name,
			    sasl_errdetail(c->conn));
			continue;       /* e.g. no client module: try the next */
		}
		snprintf(c->mech, sizeof(c->mech), "%s", name);
		*mech = c->mech;
		*have_out = cout != NULL;
		*out = (const uint8_t *)(cout != NULL ? cout : "");
		*outlen = cout != NULL ? coutlen : 0;
		c->state = r == SASL_OK ? CLI_LIBDONE : CLI_EXCHANGE;
		return AUTH_SASL_CONTINUE;
	}
	auth_sasl_client_fail(c, "no usable SASL mechanism offered by the next hop"
	    "%s", (c->user == NULL || c->secret == NULL) && !c->has_external ?
	    " (no credentials)" : "");
	return AUTH_SASL_FAIL;
}

enum auth_sasl_result
auth_sasl_client_step(struct auth_sasl_client *c, const uint8_t *in,
    size_t inlen, const uint8_t **out, size_t *outlen)
{
	const char *cout = NULL;
	unsigned coutlen = 0;
	int r;

	*out = (const uint8_t *)"";
	*outlen = 0;
	switch (c->state) {
	case CLI_EXCHANGE:
		break;
	case CLI_NEW:
		auth_sasl_client_fail(c, "challenge before the SASL exchange started");
		return AUTH_SASL_FAIL;
	case CLI_LIBDONE:
	case CLI_DONE:
		auth_sasl_client_fail(c, "next hop sent a %s challenge after the "
		    "exchange finished", c->mech);
		return AUTH_SASL_FAIL;
	case CLI_FAILED:
		return AUTH_SASL_FAIL;
	}
	if (inlen > AUTH_SASL_DATA_MAX) {
		auth_sasl_client_fail(c, "next hop sent a %s challenge of %zu octets "
		    "(limit %d)", c->mech, inlen, AUTH_SASL_DATA_MAX);
		return AUTH_SASL_FAIL;
	}
	r = sasl_client_step(c->conn,
	    (const char *)(in != NULL ? in : (const uint8_t *)""), (unsigned)inlen,
	    NULL, &cout, &coutlen);
	switch (r) {
	case SASL_CONTINUE:
		break;
	case SASL_OK:
		c->state = CLI_LIBDONE;
		break;
	default:
		auth_sasl_client_fail(c, "%s with the next hop failed: %s", c->mech,
		    sasl_errdetail(c->conn));
		return AUTH_SASL_FAIL;
	}
	*out = (const uint8_t *)(cout != NULL ? cout : "");
	*outlen = cout != NULL ? coutlen : 0;
	return AUTH_SASL_CONTINUE;
}

enum auth_sasl_result
auth_sasl_client_complete(struct auth_sasl_client *c, const uint8_t *in,
    size_t inlen, bool have_in)
{
	const char *cout = NULL;
	unsigned coutlen = 0;
	int r;

	switch (c->state) {
	case CLI_EXCHANGE:
		break;
	case CLI_LIBDONE:
		if (have_in && inlen > 0) {
			auth_sasl_client_fail(c, "next hop sent unexpected data "
			    "with %s success", c->mech);
			return AUTH_SASL_FAIL;
		}
		c->state = CLI_DONE;
		auth_sasl_client_wipe(c);
		return AUTH_SASL_OK;
	case CLI_NEW:
	case CLI_DONE:
		auth_sasl_client_fail(c, "unexpected SASL success from the next hop");
		return AUTH_SASL_FAIL;
	case CLI_FAILED:
		return AUTH_SASL_FAIL;
	}
	if (inlen > AUTH_SASL_DATA_MAX) {
		auth_sasl_client_fail(c, "next hop sent %s success data of %zu "
		    "octets (limit %d)", c->mech, inlen, AUTH_SASL_DATA_MAX);
		return AUTH_SASL_FAIL;
	}
	/* The mechanism is not finished: the success data must finish it
	 * (SCRAM's server signature, DIGEST-MD5's rspauth). */
	r = sasl_client_step(c->conn,
	    (const char *)(in != NULL ? in : (const uint8_t *)""),
	    have_in ? (unsigned)inlen : 0, NULL, &cout, &coutlen);
	if (r == SASL_OK && (cout == NULL || coutlen == 0)) {
		c->state = CLI_DONE;
		auth_sasl_client_wipe(c);
		return AUTH_SASL_OK;
	}
	if (r == SASL_OK || r == SASL_CONTINUE)
		auth_sasl_client_fail(c, "next hop reported %s success before the "
		    "exchange finished", c->mech);
	else if (strncmp(c->mech, "SCRAM-", 6) == 0)
		auth_sasl_client_fail(c, "next hop failed SCRAM server verification "
		    "(%s)", sasl_errdetail(c->conn));
	else
		auth_sasl_client_fail(c, "next hop failed %s server verification "
		    "(%s)", c->mech, sasl_errdetail(c->conn));
	return AUTH_SASL_FAIL;
}

const char *
auth_sasl_client_error(const struct auth_sasl_client *c)
{
	return c->error;
}

/* ---- secret files ---- */

int
auth_sasl_secret_load(const char *path, uint8_t *buf, size_t bufsize,
    size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		auth_sasl_seterr(err, errlen, "secret file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		auth_sasl_seterr(err, errlen, "secret file %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		auth_sasl_seterr(err, errlen, "secret file %s: not a regular file",
		    path);
		goto fail;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		auth_sasl_seterr(err, errlen, "secret file %s: accessible by group "
		    "or others (mode %04o; use chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	for (;;) {
		if (got == bufsize) {
			auth_sasl_seterr(err, errlen, "secret file %s: longer than "
			    "%zu octets", path, bufsize);
			goto fail;
		}
		n = read(fd, buf + got, bufsize - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			auth_sasl_seterr(err, errlen, "secret file %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (got == 0) {
		auth_sasl_seterr(err, errlen, "secret file %s: empty", path);
		auth_sasl_wipe(buf, bufsize);
		return -1;
	}
	*len = got;
	return 0;
fail:
	close(fd);
	auth_sasl_wipe(buf, bufsize);
	return -1;
}

/* ---- base64 ---- */

int
auth_sasl_b64_encode(const uint8_t *in, size_t inlen, char *out, size_t outsize,
    size_t *outlen)
{
	unsigned n = 0;

	*outlen = 0;
	if (inlen > AUTH_SASL_DATA_MAX || outsize < AUTH_SASL_B64_ENCODED_SIZE(inlen))
		return -1;
	if (sasl_encode64((const char *)(in != NULL ? in : (const uint8_t *)""),
	    (unsigned)inlen, out, (unsigned)outsize, &n) != SASL_OK)
		return -1;
	*outlen = n;
	return 0;
}

int
auth_sasl_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsize,
    size_t *outlen, const char **err)
{
	char text[AUTH_SASL_B64_TEXT_MAX + 1];
	size_t i, n = 0;
	unsigned dn = 0;
	int r;

	*outlen = 0;
	*err = NULL;
	for (i = 0; i < inlen; i++) {
		switch (in[i]) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			continue;
		default:
			break;
		}
		if (n == AUTH_SASL_B64_TEXT_MAX) {
			*err = "base64 data too long";
			return -1;
		}
		text[n++] = in[i];
	}
	if (outsize < AUTH_SASL_B64_DECODED_SIZE(n)) {
		*err = "base64 output buffer too small";
		return -1;
	}
	if (n == 0)
		return 0;
	if (n % 4 != 0) {
		*err = "truncated base64 data";
		return -1;
	}
	r = sasl_decode64(text, (unsigned)n, (char *)out, (unsigned)outsize, &dn);
	switch (r) {
	case SASL_OK:
		*outlen = dn;
		return 0;
	case SASL_CONTINUE:
		*err = "truncated base64 data";
		return -1;
	default:
		*err = "invalid base64 data";
		return -1;
	}
}
