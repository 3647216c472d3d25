/* tcpmux: the TCPMUX front door (RFC 1078). */
#ifndef RELAY_TCPMUX_H
#define RELAY_TCPMUX_H
struct session;
void tcpmux_start(struct session *s);
#endif
