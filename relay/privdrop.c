#include "relay/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

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
		return 0;
	}
	if (strcmp(user, "root") == 0) {
		if (!allow_root) {
			snprintf(err, errlen, "refusing to run as root: set `user` to an "
			         "unprivileged account (or say `allow root`)");
			return -1;
		}
		return 0;
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
	/* Nothing after this needs privileges; exec'd helpers must not gain any. */
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}
