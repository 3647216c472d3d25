/* tunnel_dial: bgbench's connections as TUNNELs through a relay.  Each call
 * runs the whole client exchange (connect, greetings, SASL, TUNNEL start,
 * <ok/>) with beeptunnel's code on a private event loop of the calling
 * thread and returns the socket, blocking, once it is a pipe to the
 * endpoint. */
#ifndef BENCH_TUNNEL_DIAL_H
#define BENCH_TUNNEL_DIAL_H
#include <stdbool.h>

/* Reads BGBENCH_TUNNEL="user:password-file:endpoint" once; false when unset.
 * Exits with a message when it is set but unusable. */
bool tunnel_dial_enabled(void);
/* A tunnel through the relay at host:port (numeric); -1 on failure. */
int tunnel_dial(const char *host, int port);
#endif
