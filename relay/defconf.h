/* defconf: the built-in configuration used when no -f is given. */
#ifndef RELAY_DEFCONF_H
#define RELAY_DEFCONF_H
extern const char defconf_name[];
extern const char defconf_text[];
#endif
