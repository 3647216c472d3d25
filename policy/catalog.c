/* catalog: the service catalog and the routes to next-hop relays. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "policy/catalog.h"

enum catalog_way { WAY_ENDPOINT, WAY_PROFILE, WAY_TCPMUX };

static const struct catalog_service *
catalog_find(const struct catalog *c, const char *name, enum catalog_way way)
{
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->nservices; i++) {
		const struct catalog_service *s = &c->services[i];
		bool ok = false;

		switch (way) {
		case WAY_ENDPOINT:
			ok = s->as_endpoint;
			break;
		case WAY_PROFILE:
			ok = s->as_profile;
			break;
		case WAY_TCPMUX:
			ok = s->as_tcpmux;
			break;
		}
		if (ok && s->name != NULL && strcasecmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

const struct catalog_service *
catalog_find_endpoint(const struct catalog *c, const char *name)
{
	return catalog_find(c, name, WAY_ENDPOINT);
}

const struct catalog_service *
catalog_find_profile(const struct catalog *c, const char *uri)
{
	return catalog_find(c, uri, WAY_PROFILE);
}

const struct catalog_service *
catalog_find_tcpmux(const struct catalog *c, const char *name)
{
	return catalog_find(c, name, WAY_TCPMUX);
}

const struct catalog_service *
catalog_find_final(const struct catalog *c)
{
	size_t i;

	if (c == NULL)
		return NULL;
	for (i = 0; i < c->nservices; i++)
		if (c->services[i].as_final)
			return &c->services[i];
	return NULL;
}

const struct catalog_route *
catalog_find_route(const struct catalog *c, const char *name)
{
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->nroutes; i++)
		if (c->routes[i].name != NULL && strcasecmp(c->routes[i].name, name) == 0)
			return &c->routes[i];
	return NULL;
}

void
catalog_free(struct catalog *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nservices; i++) {
		struct catalog_service *s = &c->services[i];

		free(s->name);
		free(s->file);
		free(s->host);
		free(s->route);
		free(s->next.value);
		free(s->description);
	}
	free(c->services);
	for (i = 0; i < c->nroutes; i++) {
		struct catalog_route *r = &c->routes[i];

		free(r->name);
		free(r->file);
		free(r->host);
		free(r->user);
		free(r->secret_file);
		if (r->secret != NULL) {
			OPENSSL_cleanse(r->secret, strlen(r->secret));
			free(r->secret);
		}
		r->tls = NULL;      /* shared, owned by the configuration */
	}
	free(c->routes);
	c->services = NULL;
	c->nservices = 0;
	c->routes = NULL;
	c->nroutes = 0;
}
