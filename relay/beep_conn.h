/* beep_conn: the relay's BEEP listener side for one client session: the
 * greeting, the SASL profiles (who may tunnel), and the TUNNEL profile
 * (RFC 3620): validate, authorize, route, connect or chain, withhold the
 * reply until the next hop answers, then hand both sockets to the pump
 * from the octet after the <ok/> frame. */
#ifndef RELAY_BEEP_CONN_H
#define RELAY_BEEP_CONN_H
#include <stddef.h>
#include <stdint.h>

struct session;

/* pre: bytes already read from the client (after a TCPMUX line). */
void beep_conn_start(struct session *s, const uint8_t *pre, size_t npre);
#endif
