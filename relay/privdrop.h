/* privdrop: give up root after the listeners are bound. */
#ifndef RELAY_PRIVDROP_H
#define RELAY_PRIVDROP_H
#include <stdbool.h>
#include <stddef.h>

/* Drops to user/group (group NULL: the user's primary group).  When not
 * running as root this only checks that nothing needs dropping.  Running as
 * root is refused unless allow_root is set and the user is "root".
 * Verifies the result (ids, supplementary groups, that setuid(0) fails).
 * Returns 0, or -1 with a message in err. */
int privdrop(const char *user, const char *group, bool allow_root, char *err, size_t errlen);
#endif
