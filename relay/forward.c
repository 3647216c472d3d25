#include "relay/forward.h"

#include <stddef.h>

#include "relay/connector.h"
#include "relay/server.h"
#include "relay/session.h"

static void
forward_connected(struct session *s, int fd, int result)
{
	(void)fd;
	if (result != CONNECTOR_OK) {
		session_close(s, connector_result_str((enum connector_result)result));
		return;
	}
	if (session_start_pump(s, NULL, 0, NULL, 0) != 0)
		session_close(s, "out of memory");
}

void
forward_start(struct session *s, struct listener *l)
{
	const struct conf_listener *cl = NULL;
	size_t i;

	/* The target comes from the session's own configuration generation. */
	for (i = 0; i < s->conf->nlisteners; i++) {
		const struct conf_listener *c = &s->conf->listeners[i];

		if (c->kind == LISTEN_FORWARD && c->port == l->port &&
		    addr_equal(&c->addr, &l->addr)) {
			cl = c;
			break;
		}
	}
	if (cl == NULL) {
		session_close(s, "listener no longer configured");
		return;
	}
	session_arm_deadline(s, s->conf->timeouts.connect + 1000);
	if (session_connect(s, cl->fwd_host, cl->fwd_port, forward_connected) != 0)
		session_close(s, "out of memory");
}
