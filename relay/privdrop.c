#include "relay/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

/* No exec'd program may gain privileges (setuid bits, file capabilities):
 * set once, inherited by every child, never undone. */
static int
privdrop_no_new_privs(char *err, size_t errlen)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* True when /proc/self/status shows any permitted or effective capability
 * (or cannot be read). */
static bool
privdrop_caps_left(void)
{
	char line[256];
	unsigned long long v;
	FILE *f;
	int seen = 0;
	bool left = false;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return true;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "CapPrm: %llx", &v) == 1 || sscanf(line, "CapEff: %llx", &v) == 1) {
			seen++;
			if (v != 0)
				left = true;
		}
	}
	fclose(f);
	return left || seen != 2;
}

int
privdrop(const char *user, const char *group, bool allow_root, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;
	uid_t uid;

	if (user == NULL || *user == '\0')
		user = "root";
	if (geteuid() != 0) {
		/* Not root: nothing to drop.  A configured user is advisory. */
		return privdrop_no_new_privs(err, errlen);
	}
	if (strcmp(user, "root") == 0) {
		if (!allow_root) {
			snprintf(err, errlen, "refusing to run as root: set `user` to an "
			         "unprivileged account (or say `allow root`)");
			return -1;
		}
		return privdrop_no_new_privs(err, errlen);
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "unknown user \"%s\"", user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "unknown group \"%s\"", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (uid == 0) {
		snprintf(err, errlen, "user \"%s\" has uid 0", user);
		return -1;
	}
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		snprintf(err, errlen, "cannot drop privileges to %s: %s", user, strerror(errno));
		return -1;
	}
	/* Verify: no way back, and the ids are what we asked for. */
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != uid || geteuid() != uid ||
	    getgid() != gid || getegid() != gid) {
		snprintf(err, errlen, "privilege drop to %s did not take effect", user);
		return -1;
	}
	/* The kernel clears every capability (permitted, effective, ambient)
	 * when all uids leave 0; check, since a kept capability would be root
	 * by another name. */
	if (privdrop_caps_left()) {
		snprintf(err, errlen, "privilege drop to %s left capabilities", user);
		return -1;
	}
	/* Nothing after this needs privileges; exec'd helpers must not gain any. */
	return privdrop_no_new_privs(err, errlen);
}
