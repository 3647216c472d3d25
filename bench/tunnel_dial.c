/* tunnel_dial: see tunnel_dial.h. */
#include "tunnel_dial.h"

#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth_sasl.h"
#include "bt_open.h"
#include "policy/catalog.h"
#include "tunnel/tunnel_elem.h"

#define TUNNEL_DIAL_TIMEOUT_MS 30000

static pthread_once_t td_once = PTHREAD_ONCE_INIT;
static bool td_on;
static struct catalog_route td_route;
static struct tunnel_elem *td_elem;
static __thread struct event_base *td_base;

static void
td_fail(const char *what, const char *why)
{
	fprintf(stderr, "bgbench: BGBENCH_TUNNEL: %s: %s\n", what, why);
	exit(2);
}

static void
td_init(void)
{
	const char *env = getenv("BGBENCH_TUNNEL");
	char *spec, *user, *file, *endpoint, err[AUTH_SASL_ERR_MAX];
	uint8_t buf[AUTH_SASL_SECRET_MAX + 1];
	struct tunnel_elem_error terr;
	size_t len = 0;

	if (env == NULL || *env == '\0')
		return;
	if ((spec = strdup(env)) == NULL)
		td_fail("spec", "out of memory");
	user = spec;
	if ((file = strchr(user, ':')) == NULL || (endpoint = strchr(file + 1, ':')) == NULL)
		td_fail(env, "expected user:password-file:endpoint");
	*file++ = '\0';
	*endpoint++ = '\0';
	if (auth_sasl_secret_load(file, buf, sizeof(buf), &len, err, sizeof(err)) != 0)
		td_fail(file, err);
	if ((td_route.secret = malloc(len + 1)) == NULL)
		td_fail("secret", "out of memory");
	memcpy(td_route.secret, buf, len);
	td_route.secret[len] = '\0';
	explicit_bzero(buf, sizeof(buf));
	td_route.user = user;
	if ((td_elem = tunnel_elem_new_endpoint(endpoint, &terr)) == NULL)
		td_fail(endpoint, "not a valid endpoint name");
	if (auth_sasl_client_init(err, sizeof(err)) != 0)
		td_fail("SASL", err);
	td_on = true;
}

bool
tunnel_dial_enabled(void)
{
	pthread_once(&td_once, td_init);
	return td_on;
}

struct td_result { int fd; bool done; };

static void
td_opened(void *arg, const struct bt_open_result *r)
{
	struct td_result *res = arg;

	res->done = true;
	if (!r->ok) {
		fprintf(stderr, "bgbench: tunnel refused: %u %s\n", r->code, r->text ? r->text : "");
		return;
	}
	if (r->nrest != 0) {      /* the bench servers speak only when spoken to */
		fprintf(stderr, "bgbench: %zu unexpected bytes after <ok/>\n", r->nrest);
		close(r->fd);
		return;
	}
	res->fd = r->fd;
}

int
tunnel_dial(const char *host, int port)
{
	struct bt_open_target t;
	struct td_result res = { -1, false };
	int one = 1, fl;

	if (td_base == NULL && (td_base = event_base_new()) == NULL)
		return -1;
	memset(&t, 0, sizeof(t));
	t.host = host;
	t.port = (uint16_t)port;
	t.route = &td_route;
	t.elem = td_elem;
	t.timeout_ms = TUNNEL_DIAL_TIMEOUT_MS;
	if (bt_open_start(td_base, NULL, &t, td_opened, &res) == NULL)
		return -1;
	while (!res.done && event_base_loop(td_base, EVLOOP_ONCE) == 0)
		;
	if (res.fd < 0)
		return -1;
	if ((fl = fcntl(res.fd, F_GETFL)) < 0 || fcntl(res.fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		close(res.fd);
		return -1;
	}
	setsockopt(res.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return res.fd;
}
