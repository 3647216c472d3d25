/* beepgate-passwd: add, change, delete and list the SASL users of beepgated.
 *
 * The database is Cyrus sasldb, written by Cyrus's own tools (saslpasswd2,
 * sasldblistusers2 from sasl2-bin) so that the stored verifiers are exactly
 * what libsasl2 in beepgated reads.  This program supplies what is easy to
 * get wrong by hand: the application name, the realm and file of the relay's
 * configuration, a password that never appears on a command line, and
 * permissions beepgated accepts (no access for others, nothing for a foreign
 * group).
 *
 * saslpasswd2 runs with a SASL configuration of ours (SASL_CONF_PATH, a
 * private temporary directory) naming only SCRAM-SHA-256.  With -s it turns
 * on scram_secret_generate and passes -n: the user gets the SCRAM-SHA-256
 * verifier (the authPassword property) and no plaintext-equivalent secret,
 * and the relay's SCRAM server no longer derives the key from a stored
 * password (4096 HMAC rounds) on every login.  sasldb keeps one authPassword
 * value per user, hence one SCRAM variant: SCRAM-SHA-256, the one IDXP relays
 * use.  Deleting a user runs with scram_secret_generate too, so the verifier
 * goes with the password (saslpasswd2 alone would leave it behind); a plain
 * password set over a verifier replaces the user, so no stale verifier of an
 * old password can outlive it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth_sasl.h"
#include "relay/config.h"

#define PASSWD_DEFAULT_DB  "/var/lib/beepgate/users.sasldb"
#define PASSWD_SASLPASSWD2 "/usr/sbin/saslpasswd2"
#define PASSWD_LISTUSERS   "/usr/sbin/sasldblistusers2"
#define PASSWD_LINE_MAX    (AUTH_SASL_USER_MAX + 128)
#define PASSWD_ITER_DEFAULT 4096      /* RFC 7677's minimum, Cyrus's default */
#define PASSWD_ITER_MIN     4096
#define PASSWD_ITER_MAX     65536     /* the most a Cyrus SASL client computes */

/* Exit statuses (documented in beepgate-passwd(8)). */
enum {
	PW_OK = 0,
	PW_ERR = 1,        /* the operation failed */
	PW_USAGE = 2,      /* bad options or arguments */
	PW_NOUSER = 3,     /* -d: no such user */
	PW_MISMATCH = 4,   /* the two passwords typed differ, or one is empty */
};

static const char *progname = "beepgate-passwd";
static char sasl_conf_dir[PATH_MAX];  /* SASL_CONF_PATH for saslpasswd2 */
static char sasl_conf_file[PATH_MAX];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: beepgate-passwd [-p] [-s [-i iterations]] [-c config] [-f database] [-r realm] user\n"
	    "       beepgate-passwd -d [-c config] [-f database] [-r realm] user\n"
	    "       beepgate-passwd -l [-c config] [-f database]\n"
	    "  -c config    take the database and realm from beepgated's configuration\n"
	    "  -d           delete the user\n"
	    "  -f database  the SASL user database (default " PASSWD_DEFAULT_DB ")\n"
	    "  -i count     with -s: the SCRAM iteration count (default 4096)\n"
	    "  -l           list the users, one user@realm a line\n"
	    "  -p           read the password from the first line of standard input\n"
	    "  -r realm     the realm (the sasl { realm } of the configuration)\n"
	    "  -s           store the SCRAM-SHA-256 verifier only, no plaintext-equivalent\n"
	    "               password: the user can then log in with SCRAM-SHA-256 only\n");
	exit(PW_USAGE);
}

static void
report_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* A user name as saslpasswd2 stores it: printable, no '@' (the realm is
 * separate), bounded. */
static bool
user_ok(const char *u)
{
	size_t n = strlen(u);
	const unsigned char *p;

	if (n == 0 || n > AUTH_SASL_USER_MAX)
		return false;
	for (p = (const unsigned char *)u; *p != '\0'; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '@' || *p == ':')
			return false;
	return true;
}

/* Reads one line into buf (the line end removed).  Returns its length, or
 * -1 at EOF/error, -2 when the line is longer than the buffer. */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n > 0 ? (ssize_t)n : -1;
		if (c == '\n')
			break;
		if (n + 1 >= size)
			return -2;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Prompts on the terminal with echo off. */
static ssize_t
ask(int tty, const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	ssize_t n;

	/* echo off first, then the prompt: nothing typed after the prompt
	 * is shown or thrown away */
	if (tcgetattr(tty, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
		return -1;
	if (write(tty, prompt, strlen(prompt)) < 0) {
		(void)tcsetattr(tty, TCSAFLUSH, &old);
		return -1;
	}
	n = read_line(tty, buf, size);
	(void)tcsetattr(tty, TCSAFLUSH, &old);
	(void)write(tty, "\n", 1);
	return n;
}

static int
get_password(bool from_stdin, char *pw, size_t size)
{
	char again[AUTH_SASL_SECRET_MAX + 2];
	ssize_t n, m;
	int tty, rc = PW_OK;

	if (from_stdin) {
		n = read_line(STDIN_FILENO, pw, size);
		if (n == -2) {
			fprintf(stderr, "%s: the password is longer than %d bytes\n",
			    progname, AUTH_SASL_SECRET_MAX);
			return PW_ERR;
		}
		if (n <= 0) {
			fprintf(stderr, "%s: no password on standard input\n", progname);
			return PW_MISMATCH;
		}
		return PW_OK;
	}
	if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
		fprintf(stderr, "%s: no terminal to ask for the password (use -p to "
		    "read it from standard input)\n", progname);
		return PW_ERR;
	}
	n = ask(tty, "Password: ", pw, size);
	m = n > 0 ? ask(tty, "Again: ", again, sizeof(again)) : -1;
	close(tty);
	if (n == -2 || m == -2) {
		fprintf(stderr, "%s: the password is longer than %d bytes\n", progname,
		    AUTH_SASL_SECRET_MAX);
		rc = PW_ERR;
	} else if (n <= 0) {
		fprintf(stderr, "%s: empty password refused\n", progname);
		rc = PW_MISMATCH;
	} else if (m != n || memcmp(pw, again, (size_t)n) != 0) {
		fprintf(stderr, "%s: the passwords differ; nothing changed\n", progname);
		rc = PW_MISMATCH;
	}
	explicit_bzero(again, sizeof(again));
	return rc;
}

/* Runs argv with `input` (may be NULL) on its standard input and, when out is
 * not NULL, its standard output collected there.  Returns the exit status, or
 * -1 when it could not run. */
static int
run(char *const argv[], const char *input, char *out, size_t outsize)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, status;
	size_t used = 0;
	ssize_t r;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) != 0 || (out != NULL && pipe2(op, O_CLOEXEC) != 0)) {
		fprintf(stderr, "%s: pipe: %s\n", progname, strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "%s: fork: %s\n", progname, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		if (out != NULL)
			dup2(op[1], STDOUT_FILENO);
		if (sasl_conf_dir[0] != '\0')
			setenv("SASL_CONF_PATH", sasl_conf_dir, 1);
		execv(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s (install sasl2-bin)\n", progname,
		    argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	if (input != NULL) {
		(void)!write(in[1], input, strlen(input));
		(void)!write(in[1], "\n", 1);
	}
	close(in[1]);
	if (out != NULL) {
		close(op[1]);
		while ((r = read(op[0], out + used, outsize - 1 - used)) > 0 ||
		    (r < 0 && errno == EINTR))
			if (r > 0 && (used += (size_t)r) == outsize - 1)
				break;
		out[used] = '\0';
		close(op[0]);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Appends "name\n" to the list buf (used bytes of size) unless it is there. */
static int
list_add(char *buf, size_t *used, size_t size, const char *name, size_t n)
{
	const char *p;

	for (p = buf; p < buf + *used; p = strchr(p, '\n') + 1)
		if (strncmp(p, name, n) == 0 && p[n] == '\n')
			return 0;
	if (*used + n + 2 > size)
		return -1;
	memcpy(buf + *used, name, n);
	*used += n;
	buf[(*used)++] = '\n';
	buf[*used] = '\0';
	return 0;
}

/* The users in db, one user@realm a line, each once (sasldblistusers2 prints
 * "user@realm: property" once per stored property, in no order); with
 * vbuf, also the users that have a SCRAM verifier (authPassword).  Returns
 * -1 on failure. */
static int
list_users(const char *db, char *buf, size_t size, char *vbuf, size_t vsize)
{
	char *const argv[] = { (char *)PASSWD_LISTUSERS, (char *)"-f", (char *)db, NULL };
	char raw[65536], *line, *save = NULL, *colon;
	size_t used = 0, vused = 0;

	buf[0] = '\0';
	if (vbuf != NULL)
		vbuf[0] = '\0';
	if (access(db, F_OK) != 0)
		return 0;                      /* no database yet: no users */
	if (access(db, R_OK) != 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", progname, db, strerror(errno));
		return -1;
	}
	if (run(argv, NULL, raw, sizeof(raw)) != 0) {
		fprintf(stderr, "%s: %s failed on %s\n", progname, PASSWD_LISTUSERS, db);
		return -1;
	}
	for (line = strtok_r(raw, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((colon = strstr(line, ": ")) == NULL)
			continue;
		if (list_add(buf, &used, size, line, (size_t)(colon - line)) != 0)
			return -1;
		if (vbuf != NULL && strcmp(colon + 2, "authPassword") == 0 &&
		    list_add(vbuf, &vused, vsize, line, (size_t)(colon - line)) != 0)
			return -1;
	}
	return 0;
}

static bool
has_user(const char *list, const char *user, const char *realm)
{
	char want[PASSWD_LINE_MAX];
	const char *p;
	size_t n;

	if (realm != NULL)
		snprintf(want, sizeof(want), "%s@%s\n", user, realm);
	else
		snprintf(want, sizeof(want), "%s@", user);
	n = strlen(want);
	for (p = list; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, want, n) == 0)
			return true;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return false;
}

/* A private directory for the SASL configuration saslpasswd2 reads as
 * application AUTH_SASL_APPNAME (SASL_CONF_PATH, set by run()). */
static int
sasl_conf_init(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 256)
		tmp = "/tmp";
	if ((size_t)snprintf(sasl_conf_dir, sizeof(sasl_conf_dir), "%s/beepgate-passwd.XXXXXX",
	    tmp) >= sizeof(sasl_conf_dir) || mkdtemp(sasl_conf_dir) == NULL) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", progname, sasl_conf_dir, strerror(errno));
		sasl_conf_dir[0] = '\0';
		return -1;
	}
	snprintf(sasl_conf_file, sizeof(sasl_conf_file), "%.*s/%s.conf",
	    (int)(sizeof(sasl_conf_file) - sizeof(AUTH_SASL_APPNAME ".conf") - 1), sasl_conf_dir,
	    AUTH_SASL_APPNAME);
	return 0;
}

/* The configuration for the next saslpasswd2 run: only the SCRAM-SHA-256
 * mechanism; with `verifier`, its verifier is stored with a password (with
 * `iterations` rounds) and removed with a user. */
static int
sasl_conf_write(bool verifier, unsigned long iterations)
{
	FILE *f;
	int fd;

	if ((fd = open(sasl_conf_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, sasl_conf_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "mech_list: SCRAM-SHA-256\nscram_secret_generate: %s\n"
	    "scram_iteration_counter: %lu\n", verifier ? "yes" : "no", iterations);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, sasl_conf_file, strerror(errno));
		return -1;
	}
	return 0;
}

static void
sasl_conf_remove(void)
{
	if (sasl_conf_file[0] != '\0')
		(void)unlink(sasl_conf_file);
	if (sasl_conf_dir[0] != '\0')
		(void)rmdir(sasl_conf_dir);
}

/* Deletes user with saslpasswd2 (args: its n common arguments), verifier
 * included. */
static int
delete_user(char *args[], int n, const char *user)
{
	if (sasl_conf_write(true, PASSWD_ITER_DEFAULT) != 0)
		return -1;
	args[n] = (char *)"-d";
	args[n + 1] = (char *)user;
	args[n + 2] = NULL;
	return run(args, NULL, NULL, 0) == 0 ? 0 : -1;
}

/* After saslpasswd2 wrote db: no access for others, no write for the group.
 * A database it has just created takes the owner and group of its
 * directory (the Debian package gives /var/lib/beepgate to the beepgate
 * user), so that beepgated can read it after dropping privileges. */
static int
fix_mode(const char *db, bool created)
{
	char dir[PATH_MAX];
	struct stat st, dst;

	if (stat(db, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, db, strerror(errno));
		return -1;
	}
	if (created) {
		snprintf(dir, sizeof(dir), "%s", db);
		if (stat(dirname(dir), &dst) == 0 && dst.st_uid != 0 && geteuid() == 0 &&
		    chown(db, dst.st_uid, dst.st_gid) != 0) {
			fprintf(stderr, "%s: chown %s: %s\n", progname, db, strerror(errno));
			return -1;
		}
		if (chmod(db, 0600) != 0) {
			fprintf(stderr, "%s: chmod %s: %s\n", progname, db, strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((st.st_mode & 07777 & ~(mode_t)0640) != 0 &&
	    chmod(db, st.st_mode & 0640) != 0) {
		fprintf(stderr, "%s: chmod %s: %s\n", progname, db, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *db = NULL, *realm = NULL, *conffile = NULL, *user;
	bool del = false, list = false, from_stdin = false, scram_only = false, created;
	unsigned long iterations = PASSWD_ITER_DEFAULT;
	const char *iter_arg = NULL;
	char *end;
	char pw[AUTH_SASL_SECRET_MAX + 2], users[65536], verifiers[65536];
	struct config *conf = NULL;
	char *args[14];
	int ch, n, rc;

	while ((ch = getopt(argc, argv, "c:df:i:lpr:s")) != -1) {
		switch (ch) {
		case 'c': conffile = optarg; break;
		case 'd': del = true; break;
		case 'f': db = optarg; break;
		case 'i': iter_arg = optarg; break;
		case 'l': list = true; break;
		case 'p': from_stdin = true; break;
		case 'r': realm = optarg; break;
		case 's': scram_only = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((del && list) || (list && from_stdin) || (del && from_stdin) ||
	    (scram_only && (del || list)) || (iter_arg != NULL && !scram_only) ||
	    argc != (list ? 0 : 1))
		usage();
	if (iter_arg != NULL) {
		errno = 0;
		iterations = strtoul(iter_arg, &end, 10);
		if (errno != 0 || end == iter_arg || *end != '\0' || iter_arg[0] == '-' ||
		    iterations < PASSWD_ITER_MIN || iterations > PASSWD_ITER_MAX) {
			fprintf(stderr, "%s: invalid iteration count \"%s\" (%d to %d)\n",
			    progname, iter_arg, PASSWD_ITER_MIN, PASSWD_ITER_MAX);
			return PW_USAGE;
		}
	}
	if (conffile != NULL) {
		if ((conf = config_load(conffile, report_stderr, NULL)) == NULL) {
			fprintf(stderr, "%s: configuration %s is not valid\n", progname,
			    conffile);
			return PW_ERR;
		}
		if (db == NULL)
			db = conf->sasl.database;
		if (realm == NULL)
			realm = conf->sasl.realm;
		if (db == NULL) {
			fprintf(stderr, "%s: %s names no SASL user database\n", progname,
			    conffile);
			config_unref(conf);
			return PW_ERR;
		}
	}
	if (db == NULL)
		db = PASSWD_DEFAULT_DB;
	if (realm != NULL && (realm[0] == '\0' || strpbrk(realm, "@: \t\r\n") != NULL)) {
		fprintf(stderr, "%s: invalid realm \"%s\"\n", progname, realm);
		rc = PW_USAGE;
		goto out;
	}

	if (list) {
		rc = list_users(db, users, sizeof(users), NULL, 0) == 0 ? PW_OK : PW_ERR;
		if (rc == PW_OK)
			fputs(users, stdout);
		goto out;
	}
	user = argv[0];
	if (!user_ok(user)) {
		fprintf(stderr, "%s: invalid user name (1-%d printable characters, "
		    "no '@', ':' or spaces; the realm goes in -r)\n", progname,
		    AUTH_SASL_USER_MAX);
		rc = PW_USAGE;
		goto out;
	}

	if (sasl_conf_init() != 0) {
		rc = PW_ERR;
		goto out;
	}
	n = 0;
	args[n++] = (char *)PASSWD_SASLPASSWD2;
	args[n++] = (char *)"-f";
	args[n++] = (char *)db;
	args[n++] = (char *)"-a";
	args[n++] = (char *)AUTH_SASL_APPNAME;
	if (realm != NULL) {
		args[n++] = (char *)"-u";
		args[n++] = (char *)realm;
	}
	if (del) {
		if (list_users(db, users, sizeof(users), NULL, 0) != 0) {
			rc = PW_ERR;
			goto out;
		}
		if (!has_user(users, user, realm)) {
			fprintf(stderr, "%s: no user %s%s%s in %s\n", progname, user,
			    realm != NULL ? "@" : "", realm != NULL ? realm : "", db);
			rc = PW_NOUSER;
			goto out;
		}
		rc = delete_user(args, n, user) == 0 ? PW_OK : PW_ERR;
		if (rc != PW_OK)
			fprintf(stderr, "%s: deleting %s failed\n", progname, user);
		goto out;
	}

	if ((rc = get_password(from_stdin, pw, sizeof(pw))) != PW_OK)
		goto out;
	created = access(db, F_OK) != 0;
	/* saslpasswd2 -n keeps a password already stored, and a password set
	 * without -s keeps an old verifier: either way the user goes first,
	 * then comes back with only what is asked for */
	if (!created && list_users(db, users, sizeof(users), verifiers, sizeof(verifiers)) != 0) {
		rc = PW_ERR;
		goto out;
	}
	if (!created && has_user(scram_only ? users : verifiers, user, realm)) {
		if (delete_user(args, n, user) != 0) {
			fprintf(stderr, "%s: replacing the password of %s failed\n", progname, user);
			rc = PW_ERR;
			goto out;
		}
		fprintf(stderr, "%s: note: the old secret of %s may survive in unused "
		    "pages of %s until the database is rebuilt\n", progname, user, db);
	}
	if (sasl_conf_write(scram_only, iterations) != 0) {
		rc = PW_ERR;
		goto out;
	}
	args[n++] = (char *)"-p";
	if (scram_only)
		args[n++] = (char *)"-n";
	args[n++] = (char *)"-c";
	args[n++] = (char *)user;
	args[n] = NULL;
	rc = run(args, pw, NULL, 0) == 0 ? PW_OK : PW_ERR;
	explicit_bzero(pw, sizeof(pw));
	if (rc != PW_OK) {
		fprintf(stderr, "%s: setting the password of %s in %s failed\n",
		    progname, user, db);
		goto out;
	}
	if (fix_mode(db, created) != 0)
		rc = PW_ERR;
out:
	sasl_conf_remove();
	config_unref(conf);
	return rc;
}
