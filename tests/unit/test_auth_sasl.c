/* Unit tests for auth/auth_sasl: in-process exchanges between our SASL
 * server and our SASL client over a private sasldb, plus gsasl interop. */
#include "auth/auth_sasl.h"
#include "relay/log.h"
#include "tests/unit/cutest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define REALM    "test.realm"
#define USER     "alice"
#define PASSWORD "Corr3ct-h0rse"      /* test-only; never printed */
#define WRONGPW  "wrong-h0rse"
#define EXT_ID   "relay1.example"
#define SASLPASSWD2 "/usr/sbin/saslpasswd2"
#define GSASL    "/usr/bin/gsasl"

static char dbpath[512];
static char logpath[512];
static const char *all_mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5",
                                   "CRAM-MD5", "PLAIN", "LOGIN", "EXTERNAL" };

/* ---- helpers ---- */

static int
make_user(const char *db, const char *user, const char *pw)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -p -c -f '%s' -a %s -u %s %s", SASLPASSWD2,
	    db, AUTH_SASL_APPNAME, REALM, user);
	if ((p = popen(cmd, "w")) == NULL)
		return -1;
	fputs(pw, p);
	return pclose(p) == 0 ? 0 : -1;
}

static struct auth_sasl_settings
settings(bool plaintext, bool anonymous)
{
	struct auth_sasl_settings set;

	memset(&set, 0, sizeof(set));
	set.database = dbpath;
	set.realm = REALM;
	set.mechs = all_mechs;
	set.nmechs = sizeof(all_mechs) / sizeof(all_mechs[0]);
	set.allow_plaintext = plaintext;
	set.anonymous = anonymous;
	return set;
}

static void
reinit(bool plaintext, bool anonymous)
{
	struct auth_sasl_settings set = settings(plaintext, anonymous);
	char err[256] = "";

	CU_ASSERT_FATAL(auth_sasl_init(&set, err, sizeof(err)) == 0);
}

static bool
has(const char **names, size_t n, const char *m)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], m) == 0)
			return true;
	return false;
}

/* The outcome of one exchange. */
struct run {
	enum auth_sasl_result srv;      /* last server result */
	enum auth_sasl_result cli;      /* client result (FAIL if never complete) */
	int steps;                      /* server calls made */
	int code;
	char error[128];
	char mech[32];
	char user[64];
	bool may_tunnel;
	char clierr[256];
};

struct peer {
	const char *user;
	const char *pw;
	unsigned ssf;                   /* TLS bits on the hop (both sides) */
	const char *srv_ext;            /* server's view of the client cert */
	const char *cli_ext;            /* the client's cert identity */
	bool cli_plain;
	bool tamper;                    /* flip a byte of the final server data */
	bool drop_final;                /* 'complete' without the final data */
};

static void
exchange(const struct peer *p, const char *const *offer, size_t noffer,
    struct run *res)
{
	struct auth_sasl_server *s;
	struct auth_sasl_client *c;
	struct auth_sasl_client_creds cr;
	const uint8_t *sout, *cout;
	size_t soutlen, coutlen;
	const char *mech, *names[AUTH_SASL_MECHS_MAX];
	bool have;
	char err[256] = "";
	uint8_t fin[AUTH_SASL_DATA_MAX];

	memset(res, 0, sizeof(*res));
	res->cli = AUTH_SASL_FAIL;
	s = auth_sasl_server_new("relay.test", "127.0.0.1;604", "127.0.0.1;40000",
	    p->ssf, p->srv_ext, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	if (offer == NULL) {
		noffer = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
		offer = names;
	}
	memset(&cr, 0, sizeof(cr));
	cr.user = p->user;
	cr.secret = (const uint8_t *)p->pw;
	cr.secretlen = p->pw != NULL ? strlen(p->pw) : 0;
	cr.external_id = p->cli_ext;
	cr.ssf_external = p->ssf;
	cr.allow_plaintext = p->cli_plain;
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);

	res->srv = auth_sasl_client_start(c, offer, noffer, &mech, &cout, &coutlen,
	    &have);
	if (res->srv == AUTH_SASL_FAIL) {
		snprintf(res->clierr, sizeof(res->clierr), "%s",
		    auth_sasl_client_error(c));
		goto out;
	}
	snprintf(res->mech, sizeof(res->mech), "%s", mech);
	res->srv = auth_sasl_server_start(s, mech, cout, coutlen, have, &sout,
	    &soutlen);
	res->steps = 1;
	while (res->srv == AUTH_SASL_CONTINUE) {
		if (auth_sasl_client_step(c, sout, soutlen, &cout, &coutlen) !=
		    AUTH_SASL_CONTINUE)
			break;
		res->srv = auth_sasl_server_step(s, cout, coutlen, &sout, &soutlen);
		res->steps++;
	}
	if (res->srv == AUTH_SASL_OK) {
		CU_ASSERT_FATAL(soutlen <= sizeof(fin));
		memcpy(fin, sout, soutlen);
		if (p->tamper && soutlen > 4)
			fin[soutlen - 3] ^= 0x01;
		res->cli = auth_sasl_client_complete(c, fin,
		    p->drop_final ? 0 : soutlen, soutlen > 0 && !p->drop_final);
		snprintf(res->user, sizeof(res->user), "%s", auth_sasl_server_user(s));
		res->may_tunnel = auth_sasl_server_may_tunnel(s);
	} else if (res->srv == AUTH_SASL_FAIL) {
		res->code = auth_sasl_server_code(s);
		snprintf(res->error, sizeof(res->error), "%s",
		    auth_sasl_server_error(s));
		CU_ASSERT(auth_sasl_server_user(s) == NULL);
		CU_ASSERT(!auth_sasl_server_may_tunnel(s));
	}
	snprintf(res->clierr, sizeof(res->clierr), "%s", auth_sasl_client_error(c));
out:
	auth_sasl_client_free(c);
	auth_sasl_server_free(s);
}

static void
run_mech(const char *mech, const char *user, const char *pw, unsigned ssf,
    struct run *res)
{
	struct peer p;
	const char *offer[] = { mech };

	memset(&p, 0, sizeof(p));
	p.user = user;
	p.pw = pw;
	p.ssf = ssf;
	exchange(&p, offer, 1, res);
}

/* ---- setup ---- */

static void
test_missing_database(void)
{
	struct auth_sasl_settings set = settings(false, false);
	char err[256] = "", path[600];

	snprintf(path, sizeof(path), "%s/absent.sasldb", cutest_tmpdir());
	set.database = path;
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "SASL user database") != NULL);
	CU_ASSERT(strstr(err, path) != NULL);
	CU_ASSERT(strstr(err, "No such file or directory") != NULL);

	set.database = NULL;
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strcmp(err, "no SASL user database configured") == 0);

	if (geteuid() != 0) {   /* root reads a 0000 file anyway */
		int fd;

		snprintf(path, sizeof(path), "%s/unreadable.sasldb", cutest_tmpdir());
		fd = open(path, O_CREAT | O_WRONLY, 0000);
		CU_ASSERT_FATAL(fd >= 0);
		close(fd);
		set.database = path;
		CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
		CU_ASSERT(strstr(err, "Permission denied") != NULL);
	}
}

static void
test_bad_settings(void)
{
	struct auth_sasl_settings set = settings(false, false);
	const char *bogus[] = { "SCRAM-SHA-256", "NO-SUCH-MECH" };
	const char *lower[] = { "scram-sha-256" };
	const char *anon[] = { "ANONYMOUS" };
	char err[256] = "";

	set.mechs = bogus;
	set.nmechs = 2;
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "SASL mechanism NO-SUCH-MECH is not available") != NULL);
	set.mechs = lower;
	set.nmechs = 1;
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "invalid SASL mechanism name 'scram-sha-256'") != NULL);
	set.mechs = anon;
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "ANONYMOUS is not a mechanism to list") != NULL);
	set = settings(false, false);
	set.realm = "a@b";
	CU_ASSERT(auth_sasl_init(&set, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "invalid SASL realm") != NULL);
	/* The previous good settings are still in force. */
	reinit(false, false);
}

/* ---- mechanism lists ---- */

static void
test_mechs_without_tls(void)
{
	struct auth_sasl_server *s;
	const char *names[AUTH_SASL_MECHS_MAX];
	size_t n;
	char err[256];

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	n = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
	CU_ASSERT(n >= 1);
	CU_ASSERT(n >= 1 && strcmp(names[0], "SCRAM-SHA-256") == 0);
	CU_ASSERT(has(names, n, "SCRAM-SHA-1"));
	CU_ASSERT(!has(names, n, "PLAIN"));
	CU_ASSERT(!has(names, n, "LOGIN"));
	CU_ASSERT(!has(names, n, "EXTERNAL"));
	CU_ASSERT(!has(names, n, "ANONYMOUS"));
	CU_ASSERT(!auth_sasl_server_offers(s, "PLAIN"));
	auth_sasl_server_free(s);
	auth_sasl_server_free(NULL);
}

static void
test_mechs_with_tls(void)
{
	struct auth_sasl_server *s;
	const char *names[AUTH_SASL_MECHS_MAX];
	size_t n;
	char err[256];

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 256, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	n = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
	CU_ASSERT(has(names, n, "SCRAM-SHA-256"));
	CU_ASSERT(has(names, n, "PLAIN"));
	CU_ASSERT(has(names, n, "LOGIN"));
	CU_ASSERT(!has(names, n, "EXTERNAL"));
	auth_sasl_server_free(s);

	s = auth_sasl_server_new(NULL, NULL, NULL, 256, EXT_ID, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	n = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
	CU_ASSERT(has(names, n, "EXTERNAL"));
	/* The caller's array bound is respected. */
	CU_ASSERT(auth_sasl_server_mechs(s, names, 1) == 1);
	auth_sasl_server_free(s);

	/* allow_plaintext offers PLAIN without TLS. */
	reinit(true, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	n = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
	CU_ASSERT(has(names, n, "PLAIN"));
	auth_sasl_server_free(s);
	reinit(false, false);
}

static void
test_default_mech_list(void)
{
	struct auth_sasl_settings set = settings(false, false);
	struct auth_sasl_server *s;
	const char *names[AUTH_SASL_MECHS_MAX];
	char err[256];

	set.mechs = NULL;
	set.nmechs = 0;
	CU_ASSERT_FATAL(auth_sasl_init(&set, err, sizeof(err)) == 0);
	s = auth_sasl_server_new(NULL, NULL, NULL, 256, EXT_ID, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT(auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX) == 1);
	CU_ASSERT(strcmp(names[0], "SCRAM-SHA-256") == 0);
	auth_sasl_server_free(s);
	reinit(false, false);
}

/* ---- exchanges ---- */

static void
test_mechanisms_right_and_wrong(void)
{
	static const struct {
		const char *mech;
		unsigned ssf;
	} t[] = {
		{ "SCRAM-SHA-256", 0 }, { "SCRAM-SHA-1", 0 }, { "DIGEST-MD5", 0 },
		{ "CRAM-MD5", 0 }, { "PLAIN", 256 }, { "LOGIN", 256 },
	};
	struct run r;
	size_t i;

	reinit(false, false);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		run_mech(t[i].mech, USER, PASSWORD, t[i].ssf, &r);
		CU_ASSERT(strcmp(r.mech, t[i].mech) == 0);
		CU_ASSERT(r.srv == AUTH_SASL_OK);
		CU_ASSERT(r.cli == AUTH_SASL_OK);
		CU_ASSERT(strcmp(r.user, USER) == 0);
		CU_ASSERT(r.may_tunnel);
		if (r.srv != AUTH_SASL_OK || r.cli != AUTH_SASL_OK)
			fprintf(stderr, "%s: %s / %s\n", t[i].mech, r.error, r.clierr);

		run_mech(t[i].mech, USER, WRONGPW, t[i].ssf, &r);
		CU_ASSERT(r.srv == AUTH_SASL_FAIL);
		CU_ASSERT(r.cli == AUTH_SASL_FAIL);
		CU_ASSERT(r.code == 535);
		CU_ASSERT(strcmp(r.error, "authentication failed") == 0);
	}
}

/* Unknown user and wrong password look the same to the peer: same code, same
 * text, and the failure comes at the same step. */
static void
test_no_user_probing(void)
{
	static const struct {
		const char *mech;
		unsigned ssf;
	} t[] = {
		{ "SCRAM-SHA-256", 0 }, { "SCRAM-SHA-1", 0 }, { "DIGEST-MD5", 0 },
		{ "CRAM-MD5", 0 }, { "PLAIN", 256 }, { "LOGIN", 256 },
	};
	struct run wrong, nouser;
	size_t i;

	reinit(false, false);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		run_mech(t[i].mech, USER, WRONGPW, t[i].ssf, &wrong);
		run_mech(t[i].mech, "mallory", PASSWORD, t[i].ssf, &nouser);
		CU_ASSERT(wrong.srv == AUTH_SASL_FAIL);
		CU_ASSERT(nouser.srv == AUTH_SASL_FAIL);
		CU_ASSERT(wrong.code == nouser.code);
		CU_ASSERT(strcmp(wrong.error, nouser.error) == 0);
		CU_ASSERT(wrong.steps == nouser.steps);
		if (wrong.steps != nouser.steps)
			fprintf(stderr, "%s: wrong password fails at step %d, unknown "
			    "user at step %d\n", t[i].mech, wrong.steps, nouser.steps);
	}
}

static void
test_authzid_refused(void)
{
	struct auth_sasl_server *s;
	const uint8_t *out;
	size_t outlen;
	char err[256];
	static const char msg[] = "bob\0" USER "\0" PASSWORD;

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 256, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", (const uint8_t *)msg,
	    sizeof(msg) - 1, true, &out, &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) == 535);
	CU_ASSERT(strcmp(auth_sasl_server_error(s), "authentication failed") == 0);
	CU_ASSERT(!auth_sasl_server_authenticated(s));
	auth_sasl_server_free(s);
}

static void
test_initial_response_forms(void)
{
	struct auth_sasl_server *s;
	const uint8_t *out;
	size_t outlen;
	char err[256];
	static const char msg[] = "\0" USER "\0" PASSWORD;

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 256, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	/* Absent: an empty challenge, then the response. */
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", NULL, 0, false, &out,
	    &outlen) == AUTH_SASL_CONTINUE);
	CU_ASSERT(outlen == 0);
	CU_ASSERT(auth_sasl_server_step(s, (const uint8_t *)msg, sizeof(msg) - 1,
	    &out, &outlen) == AUTH_SASL_OK);
	CU_ASSERT(strcmp(auth_sasl_server_user(s), USER) == 0);
	CU_ASSERT(strcmp(auth_sasl_server_mech(s), "PLAIN") == 0);
	/* No second authentication on the same session. */
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", NULL, 0, false, &out,
	    &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(strcmp(auth_sasl_server_error(s), "already authenticated") == 0);
	CU_ASSERT(auth_sasl_server_authenticated(s));
	auth_sasl_server_free(s);

	/* Empty: a malformed PLAIN message. */
	s = auth_sasl_server_new(NULL, NULL, NULL, 256, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", (const uint8_t *)"", 0, true,
	    &out, &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) == 501);
	CU_ASSERT(strcmp(auth_sasl_server_error(s), "malformed SASL message") == 0);
	/* Present: done in one go; a failure leaves the session able to retry. */
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", (const uint8_t *)msg,
	    sizeof(msg) - 1, true, &out, &outlen) == AUTH_SASL_OK);
	CU_ASSERT(outlen == 0);
	CU_ASSERT(strcmp(auth_sasl_server_user(s), USER) == 0);
	auth_sasl_server_free(s);
}

static void
test_bad_starts(void)
{
	struct auth_sasl_server *s;
	const uint8_t *out;
	size_t outlen;
	char err[256];
	static uint8_t big[AUTH_SASL_DATA_MAX + 1];

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	/* PLAIN is configured but not offered without TLS. */
	CU_ASSERT(auth_sasl_server_start(s, "PLAIN", NULL, 0, false, &out,
	    &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) == 504);
	CU_ASSERT(strcmp(auth_sasl_server_error(s), "mechanism not offered") == 0);
	CU_ASSERT(auth_sasl_server_start(s, "NO-SUCH", NULL, 0, false, &out,
	    &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) == 504);
	CU_ASSERT(auth_sasl_server_start(s, "ANONYMOUS", NULL, 0, false, &out,
	    &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) == 504);
	/* A response with no exchange running. */
	CU_ASSERT(auth_sasl_server_step(s, (const uint8_t *)"x", 1, &out,
	    &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(strcmp(auth_sasl_server_error(s),
	    "no SASL exchange in progress") == 0);
	/* Oversized initial response. */
	memset(big, 'a', sizeof(big));
	CU_ASSERT(auth_sasl_server_start(s, "SCRAM-SHA-256", big, sizeof(big), true,
	    &out, &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(strcmp(auth_sasl_server_error(s), "SASL message too long") == 0);
	/* Garbage SCRAM client-first. */
	CU_ASSERT(auth_sasl_server_start(s, "SCRAM-SHA-256", (const uint8_t *)"xyz",
	    3, true, &out, &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(auth_sasl_server_code(s) != 0);
	CU_ASSERT(!auth_sasl_server_authenticated(s));
	auth_sasl_server_free(s);
}

static void
test_abort(void)
{
	struct auth_sasl_server *s;
	struct auth_sasl_client *c;
	struct auth_sasl_client_creds cr;
	const uint8_t *out, *cout;
	size_t outlen, coutlen;
	const char *mech, *offer[] = { "SCRAM-SHA-256" };
	bool have;
	char err[256];

	reinit(false, false);
	s = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	memset(&cr, 0, sizeof(cr));
	cr.user = USER;
	cr.secret = (const uint8_t *)PASSWORD;
	cr.secretlen = strlen(PASSWORD);
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_start(c, offer, 1, &mech, &cout, &coutlen,
	    &have) == AUTH_SASL_CONTINUE);
	CU_ASSERT(have);
	CU_ASSERT(auth_sasl_server_start(s, mech, cout, coutlen, have, &out,
	    &outlen) == AUTH_SASL_CONTINUE);
	auth_sasl_server_abort(s);
	CU_ASSERT(!auth_sasl_server_authenticated(s));
	/* The client's proof arrives after the abort: refused. */
	CU_ASSERT(auth_sasl_client_step(c, out, outlen, &cout, &coutlen) ==
	    AUTH_SASL_CONTINUE);
	CU_ASSERT(auth_sasl_server_step(s, cout, coutlen, &out, &outlen) ==
	    AUTH_SASL_FAIL);
	CU_ASSERT(strcmp(auth_sasl_server_error(s),
	    "no SASL exchange in progress") == 0);
	CU_ASSERT(!auth_sasl_server_authenticated(s));
	auth_sasl_client_free(c);

	/* A fresh exchange on the same session succeeds. */
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_start(c, offer, 1, &mech, &cout, &coutlen,
	    &have) == AUTH_SASL_CONTINUE);
	CU_ASSERT(auth_sasl_server_start(s, mech, cout, coutlen, have, &out,
	    &outlen) == AUTH_SASL_CONTINUE);
	CU_ASSERT(auth_sasl_client_step(c, out, outlen, &cout, &coutlen) ==
	    AUTH_SASL_CONTINUE);
	CU_ASSERT(auth_sasl_server_step(s, cout, coutlen, &out, &outlen) ==
	    AUTH_SASL_OK);
	CU_ASSERT(outlen > 2 && memcmp(out, "v=", 2) == 0);
	CU_ASSERT(auth_sasl_client_complete(c, out, outlen, true) == AUTH_SASL_OK);
	auth_sasl_client_free(c);
	auth_sasl_server_free(s);
}

static void
test_external(void)
{
	struct peer p;
	struct run r;
	const char *offer[] = { "EXTERNAL" };

	reinit(false, false);
	memset(&p, 0, sizeof(p));
	p.ssf = 256;
	p.srv_ext = EXT_ID;
	p.cli_ext = EXT_ID;
	exchange(&p, NULL, 0, &r);
	CU_ASSERT(strcmp(r.mech, "EXTERNAL") == 0);
	CU_ASSERT(r.srv == AUTH_SASL_OK);
	CU_ASSERT(r.cli == AUTH_SASL_OK);
	CU_ASSERT(strcmp(r.user, EXT_ID) == 0);
	CU_ASSERT(r.may_tunnel);

	/* A server that saw no certificate does not offer EXTERNAL; told to
	 * use it anyway, it refuses. */
	p.srv_ext = NULL;
	exchange(&p, offer, 1, &r);
	CU_ASSERT(r.srv == AUTH_SASL_FAIL);
	CU_ASSERT(r.code == 504);
}

static void
test_anonymous(void)
{
	struct auth_sasl_server *s, *old;
	const uint8_t *out;
	size_t outlen;
	const char *names[AUTH_SASL_MECHS_MAX];
	size_t n;
	char err[256];

	reinit(false, false);
	old = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(old != NULL);
	reinit(false, true);            /* a reload enabling ANONYMOUS */
	s = auth_sasl_server_new(NULL, NULL, NULL, 0, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(s != NULL);
	n = auth_sasl_server_mechs(s, names, AUTH_SASL_MECHS_MAX);
	CU_ASSERT(n > 0 && strcmp(names[n - 1], "ANONYMOUS") == 0);
	/* The session from before the reload keeps its settings. */
	CU_ASSERT(!auth_sasl_server_offers(old, "ANONYMOUS"));
	CU_ASSERT(auth_sasl_server_start(s, "ANONYMOUS",
	    (const uint8_t *)"trace@example", 13, true, &out, &outlen) ==
	    AUTH_SASL_OK);
	CU_ASSERT(auth_sasl_server_authenticated(s));
	CU_ASSERT(auth_sasl_server_anonymous(s));
	CU_ASSERT(!auth_sasl_server_may_tunnel(s));
	CU_ASSERT(strcmp(auth_sasl_server_mech(s), "ANONYMOUS") == 0);
	auth_sasl_server_free(s);
	auth_sasl_server_free(old);
	reinit(false, false);
}

/* ---- client ---- */

static void
test_client_choice(void)
{
	struct peer p;
	struct run r;
	const char *o1[] = { "CRAM-MD5", "PLAIN", "SCRAM-SHA-1", "DIGEST-MD5",
	                     "SCRAM-SHA-256", "ANONYMOUS" };
	const char *o2[] = { "ANONYMOUS" };
	const char *o3[] = { "EXTERNAL", "CRAM-MD5" };
	const char *o4[] = { "PLAIN", "LOGIN" };
	const char *o5[] = { "ANONYMOUS", "CRAM-MD5" };

	reinit(false, true);
	memset(&p, 0, sizeof(p));
	p.user = USER;
	p.pw = PASSWORD;
	p.ssf = 256;                    /* server offers everything here */
	exchange(&p, o1, 6, &r);
	CU_ASSERT(strcmp(r.mech, "SCRAM-SHA-256") == 0);
	CU_ASSERT(r.cli == AUTH_SASL_OK);

	exchange(&p, o2, 1, &r);        /* never ANONYMOUS */
	CU_ASSERT(r.srv == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "no usable SASL mechanism") != NULL);
	exchange(&p, o5, 2, &r);
	CU_ASSERT(strcmp(r.mech, "CRAM-MD5") == 0);
	CU_ASSERT(r.cli == AUTH_SASL_OK);

	p.srv_ext = EXT_ID;             /* no client certificate: skip EXTERNAL */
	exchange(&p, o3, 2, &r);
	CU_ASSERT(strcmp(r.mech, "CRAM-MD5") == 0);
	CU_ASSERT(r.cli == AUTH_SASL_OK);
	p.srv_ext = NULL;

	p.ssf = 0;                      /* PLAIN only with TLS or permission */
	exchange(&p, o4, 2, &r);
	CU_ASSERT(r.srv == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "no usable SASL mechanism") != NULL);
	reinit(true, false);
	p.cli_plain = true;
	exchange(&p, o4, 2, &r);
	CU_ASSERT(strcmp(r.mech, "PLAIN") == 0);
	CU_ASSERT(r.cli == AUTH_SASL_OK);

	/* No credentials at all. */
	memset(&p, 0, sizeof(p));
	exchange(&p, o1, 6, &r);
	CU_ASSERT(r.srv == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "(no credentials)") != NULL);
	reinit(false, false);
}

static void
test_forged_server_signature(void)
{
	struct peer p;
	struct run r;
	const char *o256[] = { "SCRAM-SHA-256" };
	const char *o1[] = { "SCRAM-SHA-1" };
	const char *odig[] = { "DIGEST-MD5" };

	reinit(false, false);
	memset(&p, 0, sizeof(p));
	p.user = USER;
	p.pw = PASSWORD;
	p.tamper = true;
	exchange(&p, o256, 1, &r);
	CU_ASSERT(r.srv == AUTH_SASL_OK);          /* the server is satisfied ... */
	CU_ASSERT(r.cli == AUTH_SASL_FAIL);        /* ... but we do not trust it */
	CU_ASSERT(strstr(r.clierr, "next hop failed SCRAM server verification")
	    != NULL);
	exchange(&p, o1, 1, &r);
	CU_ASSERT(r.cli == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "next hop failed SCRAM server verification")
	    != NULL);
	exchange(&p, odig, 1, &r);
	CU_ASSERT(r.srv == AUTH_SASL_OK);
	CU_ASSERT(r.cli == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "next hop failed DIGEST-MD5 server "
	    "verification") != NULL);

	/* 'complete' without the server's proof is not success either. */
	p.tamper = false;
	p.drop_final = true;
	exchange(&p, o256, 1, &r);
	CU_ASSERT(r.srv == AUTH_SASL_OK);
	CU_ASSERT(r.cli == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(r.clierr, "next hop") != NULL);
}

static void
test_client_protocol_errors(void)
{
	struct auth_sasl_client *c;
	struct auth_sasl_client_creds cr;
	const uint8_t *out;
	size_t outlen;
	const char *mech, *offer[] = { "CRAM-MD5" }, *plain[] = { "PLAIN" };
	bool have;
	char err[256];
	static const uint8_t junk[] = "v=AAAA";

	reinit(false, false);
	memset(&cr, 0, sizeof(cr));
	cr.user = USER;
	cr.secret = (const uint8_t *)PASSWORD;
	cr.secretlen = strlen(PASSWORD);

	/* Success before the client even started. */
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_complete(c, NULL, 0, false) == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(auth_sasl_client_error(c), "unexpected SASL success") != NULL);
	auth_sasl_client_free(c);

	/* CRAM-MD5: 'complete' before our response was sent. */
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_start(c, offer, 1, &mech, &out, &outlen,
	    &have) == AUTH_SASL_CONTINUE);
	CU_ASSERT(!have);               /* CRAM-MD5 has no initial response */
	CU_ASSERT(auth_sasl_client_complete(c, NULL, 0, false) == AUTH_SASL_FAIL);
	auth_sasl_client_free(c);

	/* PLAIN: success data where none can exist; a challenge after done. */
	cr.allow_plaintext = true;
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_start(c, plain, 1, &mech, &out, &outlen,
	    &have) == AUTH_SASL_CONTINUE);
	CU_ASSERT(have && outlen == strlen(USER) + strlen(PASSWORD) + 2);
	CU_ASSERT(auth_sasl_client_complete(c, junk, 6, true) == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(auth_sasl_client_error(c), "unexpected data") != NULL);
	auth_sasl_client_free(c);
	c = auth_sasl_client_new("relay.test", &cr, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(auth_sasl_client_start(c, plain, 1, &mech, &out, &outlen,
	    &have) == AUTH_SASL_CONTINUE);
	CU_ASSERT(auth_sasl_client_step(c, junk, 6, &out, &outlen) == AUTH_SASL_FAIL);
	CU_ASSERT(strstr(auth_sasl_client_error(c), "after the exchange finished")
	    != NULL);
	auth_sasl_client_free(c);
	auth_sasl_client_free(NULL);

	/* Bad credentials are refused up front. */
	cr.user = "";
	CU_ASSERT(auth_sasl_client_new("relay.test", &cr, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "invalid user name") != NULL);
}

static void
test_secret_file(void)
{
	char path[600], err[256] = "";
	uint8_t buf[64];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/hop.secret", cutest_tmpdir());
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(PASSWORD "\n", f);
	fclose(f);
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	CU_ASSERT(auth_sasl_secret_load(path, buf, sizeof(buf), &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "accessible by group or others") != NULL);
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	CU_ASSERT(auth_sasl_secret_load(path, buf, sizeof(buf), &len, err,
	    sizeof(err)) == 0);
	CU_ASSERT(len == strlen(PASSWORD) && memcmp(buf, PASSWORD, len) == 0);
	CU_ASSERT(auth_sasl_secret_load(path, buf, 4, &len, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "longer than 4 octets") != NULL);
	snprintf(path, sizeof(path), "%s/none.secret", cutest_tmpdir());
	CU_ASSERT(auth_sasl_secret_load(path, buf, sizeof(buf), &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "No such file") != NULL);
}

/* ---- base64 ---- */

static void
test_base64(void)
{
	char text[64];
	uint8_t bin[64];
	size_t n;
	const char *e;
	static const uint8_t data[] = { 0x00, 'a', 0xff, 'b', 0x00 };

	CU_ASSERT(auth_sasl_b64_encode(data, sizeof(data), text, sizeof(text), &n)
	    == 0);
	CU_ASSERT(n == 8 && strcmp(text, "AGH/YgA=") == 0);
	CU_ASSERT(auth_sasl_b64_encode(data, 0, text, sizeof(text), &n) == 0);
	CU_ASSERT(n == 0 && text[0] == '\0');
	CU_ASSERT(auth_sasl_b64_encode(data, sizeof(data), text, 8, &n) == -1);
	CU_ASSERT(auth_sasl_b64_decode("AGH/YgA=", 8, bin, sizeof(bin), &n, &e) == 0);
	CU_ASSERT(n == sizeof(data) && memcmp(bin, data, n) == 0);
	/* Whitespace (line breaks in XML) is ignored. */
	CU_ASSERT(auth_sasl_b64_decode(" AGH/\r\n\tYgA= ", 13, bin, sizeof(bin), &n,
	    &e) == 0);
	CU_ASSERT(n == sizeof(data) && memcmp(bin, data, n) == 0);
	CU_ASSERT(auth_sasl_b64_decode("", 0, bin, sizeof(bin), &n, &e) == 0);
	CU_ASSERT(n == 0);
	/* Bad input, each with its message. */
	CU_ASSERT(auth_sasl_b64_decode("AGH/Yg", 6, bin, sizeof(bin), &n, &e) == -1);
	CU_ASSERT(e != NULL && strcmp(e, "truncated base64 data") == 0);
	CU_ASSERT(auth_sasl_b64_decode("AG*/YgA=", 8, bin, sizeof(bin), &n, &e) == -1);
	CU_ASSERT(e != NULL && strcmp(e, "invalid base64 data") == 0);
	CU_ASSERT(auth_sasl_b64_decode("A=GH", 4, bin, sizeof(bin), &n, &e) == -1);
	CU_ASSERT(e != NULL && strcmp(e, "invalid base64 data") == 0);
	CU_ASSERT(auth_sasl_b64_decode("AGH/YgA=", 8, bin, 4, &n, &e) == -1);
	CU_ASSERT(e != NULL && strcmp(e, "base64 output buffer too small") == 0);
	{
		static char big[AUTH_SASL_B64_TEXT_MAX + 5];
		static uint8_t out[AUTH_SASL_B64_DECODED_SIZE(sizeof(big))];

		memset(big, 'A', sizeof(big));
		CU_ASSERT(auth_sasl_b64_decode(big, sizeof(big), out, sizeof(out),
		    &n, &e) == -1);
		CU_ASSERT(e != NULL && strcmp(e, "base64 data too long") == 0);
		CU_ASSERT(auth_sasl_b64_decode(big, AUTH_SASL_B64_TEXT_MAX, out,
		    sizeof(out), &n, &e) == 0);
		CU_ASSERT(n == AUTH_SASL_B64_TEXT_MAX / 4 * 3);
		CU_ASSERT(n >= AUTH_SASL_DATA_MAX);
	}
}

/* ---- logs ---- */

/* Runs every mechanism with debug logging to a file, then checks that the
 * file has lines but no password. */
static void
test_no_secret_in_logs(void)
{
	static const char *mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5",
	                               "CRAM-MD5", "PLAIN", "LOGIN" };
	char buf[65536];
	struct run r;
	size_t i, n;
	int saved, fd;
	FILE *f;

	reinit(false, false);
	snprintf(logpath, sizeof(logpath), "%s/log.txt", cutest_tmpdir());
	fflush(stderr);
	saved = dup(2);
	fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	log_init("test", 1, 1);
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		run_mech(mechs[i], USER, PASSWORD, 256, &r);
		run_mech(mechs[i], USER, WRONGPW, 256, &r);
		run_mech(mechs[i], "mallory", PASSWORD, 256, &r);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_init("test", 1, 0);
	f = fopen(logpath, "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	CU_ASSERT(n > 0);               /* failures were logged at debug level */
	CU_ASSERT(strstr(buf, PASSWORD) == NULL);
	CU_ASSERT(strstr(buf, WRONGPW) == NULL);
}

/* ---- interop with GNU SASL ---- */

/* Runs `gsasl --client` as the peer of our server: gsasl writes base64 lines
 * on stdout and reads base64 challenges on stdin. */
static int
gsasl_client(const char *mech, const char *pw, struct auth_sasl_server *s,
    enum auth_sasl_result *res)
{
	int to[2], from[2], status;
	pid_t pid;
	FILE *in, *out;
	char line[4096], b64[4096];
	uint8_t bin[4096];
	const uint8_t *sout;
	size_t soutlen, n, bn;
	const char *e;
	bool first = true, named = false;

	if (pipe(to) != 0 || pipe(from) != 0)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(to[0], 0);
		dup2(from[1], 1);
		if (getenv("GSASL_DEBUG") == NULL)
			dup2(devnull, 2);
		close(to[1]);
		close(from[0]);
		/* a gsasl that waits for input we never send must not hang
		 * the test: the alarm survives exec, and its death ends the
		 * exchange with EOF */
		alarm(20);
		execl(GSASL, "gsasl", "--client", "--mechanism", mech,
		    "--authentication-id", USER, "--password", pw,
		    "--service", AUTH_SASL_SERVICE, "--hostname", "relay.test",
		    "--realm", REALM, "--quality-of-protection=qop-auth", "--quiet",
		    (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	in = fdopen(from[0], "r");
	out = fdopen(to[1], "w");
	*res = AUTH_SASL_FAIL;
	for (;;) {
		if (fgets(line, sizeof(line), in) == NULL)
			break;
		n = strcspn(line, "\r\n");
		if (first && !named) {
			/* gsasl names the mechanism before its first message */
			named = true;
			if (n == strlen(mech) && memcmp(line, mech, n) == 0)
				continue;
		}
		if (auth_sasl_b64_decode(line, n, bin, sizeof(bin), &bn, &e) != 0)
			break;
		if (first) {
			*res = auth_sasl_server_start(s, mech, bin, bn, n > 0, &sout,
			    &soutlen);
			first = false;
		} else
			*res = auth_sasl_server_step(s, bin, bn, &sout, &soutlen);
		if (*res == AUTH_SASL_FAIL)
			break;
		if (auth_sasl_b64_encode(sout, soutlen, b64, sizeof(b64), &n) != 0)
			break;
		if (*res == AUTH_SASL_CONTINUE) {
			fprintf(out, "%s\n", b64);
			fflush(out);
			continue;
		}
		/* Success: gsasl checks the final data (SCRAM v=, DIGEST-MD5
		 * rspauth), answers with an empty line, then wants an empty line
		 * for "no more data from the server". */
		if (soutlen > 0) {
			fprintf(out, "%s\n", b64);
			fflush(out);
			if (fgets(line, sizeof(line), in) == NULL ||
			    strcspn(line, "\r\n") != 0)
				*res = AUTH_SASL_FAIL;
		}
		fputs("\n", out);
		fflush(out);
		break;
	}
	fclose(out);
	fclose(in);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
test_gsasl_interop(void)
{
	static const char *mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5",
	                               "PLAIN" };
	struct auth_sasl_server *s;
	enum auth_sasl_result r;
	char err[256];
	size_t i;
	int rc;

	CU_ASSERT_FATAL(access(GSASL, X_OK) == 0);
	reinit(false, false);
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		s = auth_sasl_server_new("relay.test", NULL, NULL, 256, NULL, err,
		    sizeof(err));
		CU_ASSERT_FATAL(s != NULL);
		rc = gsasl_client(mechs[i], PASSWORD, s, &r);
		CU_ASSERT(r == AUTH_SASL_OK);
		CU_ASSERT(rc == 0);
		CU_ASSERT(auth_sasl_server_may_tunnel(s));
		if (r != AUTH_SASL_OK || rc != 0)
			fprintf(stderr, "gsasl %s: server %d (%s), gsasl exit %d\n",
			    mechs[i], (int)r, auth_sasl_server_reason(s), rc);
		auth_sasl_server_free(s);

		s = auth_sasl_server_new("relay.test", NULL, NULL, 256, NULL, err,
		    sizeof(err));
		CU_ASSERT_FATAL(s != NULL);
		rc = gsasl_client(mechs[i], WRONGPW, s, &r);
		CU_ASSERT(r == AUTH_SASL_FAIL);
		CU_ASSERT(auth_sasl_server_code(s) == 535);
		auth_sasl_server_free(s);
	}
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "missing database", test_missing_database },
		{ "bad settings", test_bad_settings },
		{ "mechanisms without TLS", test_mechs_without_tls },
		{ "mechanisms with TLS", test_mechs_with_tls },
		{ "default mechanism list", test_default_mech_list },
		{ "each mechanism, right and wrong password",
		  test_mechanisms_right_and_wrong },
		{ "unknown user looks like wrong password", test_no_user_probing },
		{ "authorization identity refused", test_authzid_refused },
		{ "initial response absent/empty/present", test_initial_response_forms },
		{ "bad starts and steps", test_bad_starts },
		{ "abort", test_abort },
		{ "EXTERNAL", test_external },
		{ "ANONYMOUS never tunnels", test_anonymous },
		{ "client mechanism choice", test_client_choice },
		{ "forged server signature", test_forged_server_signature },
		{ "client protocol errors", test_client_protocol_errors },
		{ "secret file", test_secret_file },
		{ "base64", test_base64 },
		{ "no secret in logs", test_no_secret_in_logs },
		{ "gsasl interop", test_gsasl_interop },
		CUTEST_END
	};
	char err[256] = "";
	struct auth_sasl_settings set;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_auth_sasl", 1, 0);
	snprintf(dbpath, sizeof(dbpath), "%s/users.sasldb", cutest_tmpdir());
	if (make_user(dbpath, USER, PASSWORD) != 0) {
		fprintf(stderr, "cannot create %s with %s\n", dbpath, SASLPASSWD2);
		return 1;
	}
	set = settings(false, false);
	if (auth_sasl_init(&set, err, sizeof(err)) != 0) {
		fprintf(stderr, "auth_sasl_init: %s\n", err);
		return 1;
	}
	rc = cutest_run("auth_sasl", cases);
	auth_sasl_done();
	return rc;
}
