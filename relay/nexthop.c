#include "relay/nexthop.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/auth_sasl.h"
#include "policy/catalog.h"
#include "relay/beepio.h"
#include "relay/log.h"
#include "tunnel/beep_blob.h"
#include "tunnel/beep_session.h"
#include "tunnel/beep_xml.h"
#include "tunnel/tunnel_elem.h"

#define TUNNEL_URI     "http://iana.org/beep/TUNNEL"
#define SASL_URI_PFX   "http://iana.org/beep/SASL/"

enum nexthop_phase { NH_GREETING, NH_SASL, NH_TUNNEL, NH_DONE };

struct nexthop {
	struct event_base       *base;
	int                      fd;
	struct beep_session     *bs;
	struct beepio           *io;
	struct auth_sasl_client *sasl;
	const struct catalog_route *route;
	char                    *host;
	char                    *inner;      /* the re-serialized inner element */
	size_t                   ninner;
	uint64_t                 sid;
	nexthop_done_fn         *done;
	void                    *arg;
	struct event            *later;      /* reports a failure / frees, from the loop */
	enum nexthop_phase       phase;
	unsigned                 ssf;        /* TLS below us: its bits, else 0 */
	uint32_t                 sasl_ch;
	bool                     release_only;
	enum nexthop_stage       r_stage;
	unsigned                 r_code;
	char                     r_text[512];
};

static void nexthop_tunnel(struct nexthop *nh);

static void
nexthop_release(struct nexthop *nh)
{
	beepio_free(nh->io);
	beep_session_free(nh->bs);
	auth_sasl_client_free(nh->sasl);
	if (nh->later != NULL)
		event_free(nh->later);
	if (nh->fd >= 0)
		close(nh->fd);
	free(nh->host);
	free(nh->inner);
	free(nh);
}

static void
nexthop_later(evutil_socket_t fd, short what, void *arg)
{
	struct nexthop *nh = arg;
	struct nexthop_result r;

	(void)fd;
	(void)what;
	if (!nh->release_only) {
		memset(&r, 0, sizeof(r));
		r.stage = nh->r_stage;
		r.code = nh->r_code;
		r.text = nh->r_text;
		r.fd = -1;
		nh->done(nh->arg, &r);
	}
	nexthop_release(nh);
}

/* Fails the attempt; the report is made from the loop, so no callback of
 * the BEEP session is on the stack when everything is freed. */
static void __attribute__((format(printf, 3, 4)))
nexthop_fail(struct nexthop *nh, unsigned code, const char *fmt, ...)
{
	va_list ap;
	char qtext[LOG_QUOTE_MAX];

	switch (nh->phase) {
	case NH_GREETING:
		nh->r_stage = NEXTHOP_STAGE_GREETING;
		break;
	case NH_SASL:
		nh->r_stage = NEXTHOP_STAGE_SASL;
		break;
	case NH_TUNNEL:
		nh->r_stage = NEXTHOP_STAGE_TUNNEL;
		break;
	case NH_DONE:
		return;
	}
	nh->phase = NH_DONE;
	nh->r_code = code;
	va_start(ap, fmt);
	vsnprintf(nh->r_text, sizeof(nh->r_text), fmt, ap);
	va_end(ap);
	log_debug("session=%llx next hop %s: %u \"%s\"", (unsigned long long)nh->sid, nh->host,
	          code, log_quote(nh->r_text, qtext, sizeof(qtext)));
	event_active(nh->later, EV_TIMEOUT, 0);
}

static void
nexthop_detached(void *arg, const uint8_t *rest, size_t n)
{
	struct nexthop *nh = arg;
	struct nexthop_result r;

	if (nh->phase != NH_TUNNEL) {
		nexthop_fail(nh, 550, "next hop ended BEEP unexpectedly");
		return;
	}
	nh->phase = NH_DONE;
	memset(&r, 0, sizeof(r));
	r.ok = true;
	r.fd = nh->fd;
	r.rest = rest;
	r.nrest = n;
	nh->fd = -1;                 /* handed over */
	nh->done(nh->arg, &r);       /* rest is copied by the callee */
	nh->release_only = true;
	event_active(nh->later, EV_TIMEOUT, 0);
}

/* Printable start of what the peer sent, for 550 texts (RFC 3620 sec. 6). */
static void
nexthop_head_text(struct nexthop *nh, char *buf, size_t len)
{
	size_t n, i, j = 0;
	const uint8_t *h = beepio_head(nh->io, &n);

	for (i = 0; i < n && j + 5 < len; i++) {
		if (h[i] >= 0x20 && h[i] < 0x7f && h[i] != '\\')
			buf[j++] = (char)h[i];
		else
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", h[i]);
	}
	buf[j < len ? j : len - 1] = '\0';
}

static void
nexthop_ended(void *arg, const char *reason)
{
	struct nexthop *nh = arg;
	char head[BEEPIO_HEAD * 4 + 1];

	switch (nh->phase) {
	case NH_GREETING:
		if (beep_session_fail_code(nh->bs) == BEEP_FAIL_REFUSED) {
			/* a BEEP peer answering with <error> instead of a
			 * greeting is unavailable for now (RFC 3080 2.3.1.1) */
			nexthop_fail(nh, 450, "next hop refused the BEEP session (%s)", reason);
			return;
		}
		nexthop_head_text(nh, head, sizeof(head));
		if (head[0] == '\0')
			nexthop_fail(nh, 550, "next hop sent no BEEP greeting (%s)", reason);
		else
			nexthop_fail(nh, 550, "next hop is not a BEEP peer; it sent: %s", head);
		return;
	case NH_SASL:
		nexthop_fail(nh, 450, "next hop closed during authentication (%s)", reason);
		return;
	case NH_TUNNEL:
		nexthop_fail(nh, 450, "next hop closed before answering TUNNEL (%s)", reason);
		return;
	case NH_DONE:
		return;
	}
}

/* SASL toward the next hop ------------------------------------------------ */

/* The next hop answered our authentication with <error code text>: its
 * words go to the client, under our code (the client's own authentication
 * was fine; ours failed).  A 4xx from it (421 unavailable, 454 temporary
 * failure, e.g. a penalty) is temporary: 450; anything else is final: 554. */
static void
nexthop_sasl_refused(struct nexthop *nh, unsigned code, const char *text)
{
	if (code >= 400 && code < 500)
		nexthop_fail(nh, 450, "authentication to the next hop failed for now: it "
		             "answered %u %s", code, text != NULL ? text : "");
	else
		nexthop_fail(nh, 554, "authentication to the next hop failed: it answered %u %s",
		             code, text != NULL ? text : "");
}

/* The same for an <error> document in a reply; false if it is none. */
static bool
nexthop_sasl_error_doc(struct nexthop *nh, const uint8_t *xml, size_t len)
{
	struct beep_xml_doc doc;
	struct beep_xml_error xe;
	bool is_error;

	memset(&doc, 0, sizeof(doc));
	is_error = beep_xml_parse(xml, len, &doc, &xe) == 0 && doc.kind == BEEP_XML_ERROR;
	if (is_error)
		nexthop_sasl_refused(nh, doc.code, doc.text);
	beep_xml_doc_clear(&doc);
	return is_error;
}

static void nexthop_sasl_reply(struct beep_session *bs, void *arg, const struct beep_msg *m);

/* Handles one <blob> from the next hop (in the start reply or an RPY). */
static void
nexthop_sasl_blob(struct nexthop *nh, const uint8_t *xml, size_t len, bool present)
{
	struct beep_blob blob;
	const char *err = NULL;
	const uint8_t *out = NULL;
	size_t outlen = 0;
	char doc[BEEP_BLOB_DOC_MAX];
	size_t dlen;
	enum auth_sasl_result r;

	if (!present) {
		memset(&blob, 0, sizeof(blob));
	} else if (beep_blob_parse(xml, len, &blob, &err) != 0) {
		/* some peers put an <error> where the <blob> belongs */
		if (!nexthop_sasl_error_doc(nh, xml, len))
			nexthop_fail(nh, 554, "authentication to the next hop failed: %s", err);
		return;
	}
	if (blob.status == BEEP_BLOB_ABORT) {
		nexthop_fail(nh, 554, "authentication to the next hop failed: aborted by it");
		return;
	}
	if (blob.status == BEEP_BLOB_COMPLETE) {
		r = auth_sasl_client_complete(nh->sasl, blob.data, blob.len, blob.has_data);
		if (r != AUTH_SASL_OK) {
			nexthop_fail(nh, 554, "authentication to the next hop failed: %s",
			             auth_sasl_client_error(nh->sasl));
			return;
		}
		log_debug("session=%llx authenticated to next hop %s", (unsigned long long)nh->sid,
		          nh->host);
		nexthop_tunnel(nh);
		return;
	}
	r = auth_sasl_client_step(nh->sasl, blob.data, blob.len, &out, &outlen);
	if (r == AUTH_SASL_FAIL) {
		nexthop_fail(nh, 554, "authentication to the next hop failed: %s",
		             auth_sasl_client_error(nh->sasl));
		return;
	}
	dlen = beep_blob_write(BEEP_BLOB_CONTINUE, out, outlen, true, doc, sizeof(doc));
	if (dlen == 0 || beep_session_send_msg(nh->bs, nh->sasl_ch, BEEP_CT_BEEPXML,
	                                       (const uint8_t *)doc, dlen, nexthop_sasl_reply,
	                                       nh, 0, NULL) != 0) {
		nexthop_fail(nh, 421, "authentication to the next hop failed: cannot send");
		return;
	}
	beepio_kick(nh->io);
}

static void
nexthop_sasl_reply(struct beep_session *bs, void *arg, const struct beep_msg *m)
{
	struct nexthop *nh = arg;

	(void)bs;
	if (m->type != BEEP_RPY) {
		/* pass on what the next hop said (its <error> code and text) */
		if (m->type != BEEP_ERR || !nexthop_sasl_error_doc(nh, m->body, m->len))
			nexthop_fail(nh, 554, "authentication to the next hop failed: it answered "
			             "with a %s that is no <error>", beep_frame_type_name(m->type));
		return;
	}
	nexthop_sasl_blob(nh, m->body, m->len, true);
}

static void
nexthop_sasl_started(struct beep_session *bs, void *arg, const struct beep_start_result *r)
{
	struct nexthop *nh = arg;

	(void)bs;
	if (!r->ok) {
		nexthop_sasl_refused(nh, r->code, r->text);
		return;
	}
	nh->sasl_ch = r->channel;
	nexthop_sasl_blob(nh, r->piggyback, r->piggyback_len, r->has_piggyback);
}

static const struct beep_channel_ops nexthop_sasl_ops = {
	.started = nexthop_sasl_started,
};

static void
nexthop_sasl(struct nexthop *nh)
{
	const char *const *uris;
	const char *offered[AUTH_SASL_MECHS_MAX];
	size_t n, i, noff = 0;
	struct auth_sasl_client_creds creds;
	const char *mech = NULL;
	const uint8_t *out = NULL;
	size_t outlen = 0;
	bool have_out = false;
	char err[AUTH_SASL_ERR_MAX], uri[128], doc[BEEP_BLOB_DOC_MAX];
	size_t dlen;
	uint32_t ch;

	nh->phase = NH_SASL;
	n = beep_session_peer_profiles(nh->bs, &uris);
	for (i = 0; i < n && noff < AUTH_SASL_MECHS_MAX; i++)
		if (strncmp(uris[i], SASL_URI_PFX, strlen(SASL_URI_PFX)) == 0)
			offered[noff++] = uris[i] + strlen(SASL_URI_PFX);
	memset(&creds, 0, sizeof(creds));
	creds.user = nh->route->user;
	creds.secret = (const uint8_t *)nh->route->secret;
	creds.secretlen = nh->route->secret ? strlen(nh->route->secret) : 0;
	creds.ssf_external = nh->ssf;
	nh->sasl = auth_sasl_client_new(nh->host, &creds, err, sizeof(err));
	if (nh->sasl == NULL) {
		nexthop_fail(nh, 421, "authentication to the next hop: %s", err);
		return;
	}
	if (auth_sasl_client_start(nh->sasl, offered, noff, &mech, &out, &outlen, &have_out)
	    == AUTH_SASL_FAIL) {
		char list[AUTH_SASL_MECHS_MAX * (AUTH_SASL_MECH_NAME_MAX + 1) + 1];
		size_t off = 0;

		list[0] = '\0';
		for (i = 0; i < noff && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%.*s",
			                        i > 0 ? " " : "", AUTH_SASL_MECH_NAME_MAX,
			                        offered[i]);
		nexthop_fail(nh, 534, "authentication to the next hop failed: %s (it offers: %s)",
		             auth_sasl_client_error(nh->sasl), noff > 0 ? list : "none");
		return;
	}
	snprintf(uri, sizeof(uri), "%s%s", SASL_URI_PFX, mech);
	dlen = have_out ? beep_blob_write(BEEP_BLOB_CONTINUE, out, outlen, true, doc, sizeof(doc)) : 0;
	if (beep_session_start_channel(nh->bs, uri, (const uint8_t *)doc, dlen, have_out, NULL,
	                               &nexthop_sasl_ops, nh, 0, &ch) != 0) {
		nexthop_fail(nh, 421, "authentication to the next hop: cannot start %s", mech);
		return;
	}
	beepio_kick(nh->io);
}

/* TUNNEL toward the next hop --------------------------------------------- */

static void
nexthop_tunnel_started(struct beep_session *bs, void *arg, const struct beep_start_result *r)
{
	struct nexthop *nh = arg;

	(void)bs;
	if (!r->ok) {
		/* passed back unchanged */
		nexthop_fail(nh, r->code, "%s", r->text ? r->text : "");
		return;
	}
	if (!r->has_piggyback || r->piggyback_len < 5 ||
	    memmem(r->piggyback, r->piggyback_len, "<ok", 3) == NULL) {
		nexthop_fail(nh, 550, "next hop accepted TUNNEL without an <ok/>");
		return;
	}
	/* the session has detached: beepio reports once our output is out */
}

static const struct beep_channel_ops nexthop_tunnel_ops = {
	.started = nexthop_tunnel_started,
};

static void
nexthop_tunnel(struct nexthop *nh)
{
	uint32_t ch;

	nh->phase = NH_TUNNEL;
	if (beep_session_start_channel(nh->bs, TUNNEL_URI, (const uint8_t *)nh->inner,
	                               nh->ninner, true, NULL, &nexthop_tunnel_ops, nh,
	                               BEEP_START_DETACH_ON_OK, &ch) != 0) {
		nexthop_fail(nh, 421, "cannot start TUNNEL toward the next hop");
		return;
	}
	beepio_kick(nh->io);
}

static void
nexthop_greeting(struct beep_session *bs, void *arg)
{
	struct nexthop *nh = arg;

	if (!beep_session_peer_offers(bs, TUNNEL_URI)) {
		nexthop_fail(nh, 550, "next hop does not offer the TUNNEL profile");
		return;
	}
	if (nh->route != NULL && nh->route->user != NULL)
		nexthop_sasl(nh);
	else
		nexthop_tunnel(nh);
}

static const struct beep_session_ops nexthop_session_ops = {
	.greeting = nexthop_greeting,
};

static const struct beepio_ops nexthop_io_ops = {
	.detached = nexthop_detached,
	.ended = nexthop_ended,
};

struct nexthop *
nexthop_start(struct event_base *base, int fd, const char *host,
              const struct catalog_route *route, const struct tunnel_elem *inner,
              uint64_t session_id, nexthop_done_fn *done, void *arg)
{
	struct nexthop *nh;
	struct beep_session_config cfg;
	size_t len;

	if ((nh = calloc(1, sizeof(*nh))) == NULL)
		return NULL;
	nh->base = base;
	nh->fd = -1;
	nh->route = route;
	nh->sid = session_id;
	nh->done = done;
	nh->arg = arg;
	nh->host = strdup(host);
	len = tunnel_elem_write_len(inner);
	nh->inner = malloc(len + 1);
	nh->later = evtimer_new(base, nexthop_later, nh);
	if (nh->host == NULL || nh->inner == NULL || nh->later == NULL)
		goto fail;
	nh->ninner = tunnel_elem_write(inner, nh->inner, len + 1);
	if (nh->ninner == 0)
		goto fail;
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = BEEP_INITIATOR;
	cfg.ops = &nexthop_session_ops;
	cfg.arg = nh;
	if ((nh->bs = beep_session_new(&cfg)) == NULL)
		goto fail;
	if ((nh->io = beepio_new(base, fd, nh->bs, &nexthop_io_ops, nh)) == NULL)
		goto fail;
	nh->fd = fd;
	return nh;
fail:
	nexthop_release(nh);
	return NULL;
}

void
nexthop_set_endpoint(struct nexthop *nh, const struct pump_endpoint_ops *ops, void *ctx,
                     unsigned ssf)
{
	beepio_set_endpoint(nh->io, ops, ctx);
	nh->ssf = ssf;
}

void
nexthop_cancel(struct nexthop *nh)
{
	if (nh == NULL)
		return;
	if (nh->phase == NH_DONE && nh->release_only)
		return;              /* already handed over; freed from the loop */
	nexthop_release(nh);
}
