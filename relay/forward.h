/* forward: the plain TCP forwarding listener kind: accept, connect to the
 * configured target, pump. */
#ifndef RELAY_FORWARD_H
#define RELAY_FORWARD_H
struct session;
struct listener;
void forward_start(struct session *s, struct listener *l);
#endif
