/* catalog: look-ups by the way a service is named, and freeing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/catalog.h"
#include "relay/config.h"
#include "tests/unit/cutest.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

static char *
xstrdup(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		abort();
	return d;
}

struct svc_spec {
	const char *name;
	bool endpoint, profile, tcpmux, final;
};

static const struct svc_spec specs[] = {
	{ "mail", true, false, true, false },
	{ "http://example.net/beep/news", false, true, false, false },
	{ "Ops-Console", true, true, true, false },
	{ "hidden", false, false, false, false },
	{ "home", false, false, false, true },
	{ "second-final", false, false, false, true },
};

static void
build(struct catalog *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->services = calloc(N(specs), sizeof(*c->services));
	c->routes = calloc(2, sizeof(*c->routes));
	if (c->services == NULL || c->routes == NULL)
		abort();
	for (i = 0; i < N(specs); i++) {
		struct catalog_service *s = &c->services[i];

		s->name = xstrdup(specs[i].name);
		s->file = xstrdup("cat.conf");
		s->line = (int)i + 1;
		s->kind = SVC_CONNECT;
		s->host = xstrdup("192.0.2.1");
		s->port = 25;
		s->as_endpoint = specs[i].endpoint;
		s->as_profile = specs[i].profile;
		s->as_tcpmux = specs[i].tcpmux;
		s->as_final = specs[i].final;
		s->description = xstrdup("a service");
	}
	c->nservices = N(specs);
	c->services[2].kind = SVC_ROUTE;
	c->services[2].route = xstrdup("Upstream");
	c->services[2].next.kind = NEXT_ENDPOINT;
	c->services[2].next.value = xstrdup("console");

	c->routes[0].name = xstrdup("Upstream");
	c->routes[0].file = xstrdup("cat.conf");
	c->routes[0].host = xstrdup("relay2.example.net");
	c->routes[0].port = 10288;
	c->routes[0].user = xstrdup("relay1");
	c->routes[0].secret_file = xstrdup("/etc/beepgate/relay2.secret");
	c->routes[0].secret = xstrdup("s3cret");
	c->routes[1].name = xstrdup("plain");
	c->nroutes = 2;
}

static void
test_find(void)
{
	static const struct {
		int         way;      /* 0 endpoint, 1 profile, 2 tcpmux */
		const char *name;
		int         line;     /* 0: not found */
	} t[] = {
		{ 0, "mail", 1 },
		{ 0, "MAIL", 1 },
		{ 2, "Mail", 1 },
		{ 1, "mail", 0 },
		{ 1, "http://example.net/beep/news", 2 },
		{ 1, "HTTP://EXAMPLE.NET/BEEP/NEWS", 2 },
		{ 0, "http://example.net/beep/news", 0 },
		{ 2, "http://example.net/beep/news", 0 },
		{ 0, "ops-console", 3 },
		{ 1, "OPS-CONSOLE", 3 },
		{ 2, "Ops-Console", 3 },
		{ 0, "hidden", 0 },
		{ 1, "hidden", 0 },
		{ 2, "hidden", 0 },
		{ 0, "home", 0 },
		{ 0, "nosuch", 0 },
		{ 0, "mai", 0 },
		{ 0, "mail ", 0 },
		{ 0, "", 0 },
	};
	struct catalog c;
	const struct catalog_service *s;
	size_t i;

	build(&c);
	for (i = 0; i < N(t); i++) {
		switch (t[i].way) {
		case 0:
			s = catalog_find_endpoint(&c, t[i].name);
			break;
		case 1:
			s = catalog_find_profile(&c, t[i].name);
			break;
		default:
			s = catalog_find_tcpmux(&c, t[i].name);
			break;
		}
		if ((s != NULL ? s->line : 0) != t[i].line) {
			fprintf(stderr, "case %zu \"%s\": got line %d, want %d\n", i, t[i].name,
			    s != NULL ? s->line : 0, t[i].line);
			CU_FAIL("find");
		} else
			CU_PASS("find");
	}
	CU_ASSERT_PTR_NULL(catalog_find_endpoint(&c, NULL));
	CU_ASSERT_PTR_NULL(catalog_find_endpoint(NULL, "mail"));

	/* the first final service answers an empty <tunnel/> */
	s = catalog_find_final(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s->name, "home");

	CU_ASSERT_PTR_EQUAL(catalog_find_route(&c, "upstream"), &c.routes[0]);
	CU_ASSERT_PTR_EQUAL(catalog_find_route(&c, "PLAIN"), &c.routes[1]);
	CU_ASSERT_PTR_NULL(catalog_find_route(&c, "Upstream2"));
	CU_ASSERT_PTR_NULL(catalog_find_route(&c, NULL));
	catalog_free(&c);
}

static void
test_no_final(void)
{
	struct catalog c;

	build(&c);
	c.services[4].as_final = false;
	c.services[5].as_final = false;
	CU_ASSERT_PTR_NULL(catalog_find_final(&c));
	catalog_free(&c);
	CU_ASSERT_PTR_NULL(catalog_find_final(&c));
	CU_ASSERT_PTR_NULL(catalog_find_final(NULL));
}

/* Freeing leaves the catalog empty (ASan reports any leak or double free);
 * the routes' TLS profiles belong to the configuration and stay. */
static void
test_free(void)
{
	struct catalog c, empty;
	struct conf_tls *shared = calloc(1, sizeof(*shared));

	CU_ASSERT_PTR_NOT_NULL_FATAL(shared);
	build(&c);
	c.routes[0].tls = shared;
	c.routes[1].tls = shared;
	catalog_free(&c);
	free(shared);            /* a double free if catalog_free took it */
	CU_ASSERT_PTR_NULL(c.services);
	CU_ASSERT_EQUAL(c.nservices, 0);
	CU_ASSERT_PTR_NULL(c.routes);
	CU_ASSERT_EQUAL(c.nroutes, 0);
	CU_ASSERT_PTR_NULL(catalog_find_endpoint(&c, "mail"));
	catalog_free(&c);
	catalog_free(NULL);

	memset(&empty, 0, sizeof(empty));
	catalog_free(&empty);
	CU_ASSERT_EQUAL(empty.nservices, 0);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "find", test_find },
		{ "no final", test_no_final },
		{ "free", test_free },
		CUTEST_END
	};

	return cutest_run("catalog", cases);
}
