/* The BEEP session engine: a listener and an initiator wired back to back
 * in memory, plus raw byte scripts for protocol violations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cutest.h"
#include "tunnel/beep_session.h"

#define ECHO   "urn:test:echo"
#define DEFER  "urn:test:defer"
#define TUNE   "urn:test:tune"
#define SILENT "urn:test:silent"

/* ---- a peer and its records ------------------------------------------------ */

struct peer {
	struct beep_session *s;
	const char *name;
	/* records */
	unsigned greetings, done_calls, closed_calls, started_ok, started_err;
	unsigned msgs, replies;
	unsigned last_err_code;
	uint32_t last_started_ch, deferred_ch, deferred_msgno;
	uint8_t *last_body;
	size_t   last_len;
	char     last_piggy[256];
	uint32_t last_msgno;
	bool     reset_in_start;   /* TUNE: tuning reset from the start callback */
	bool     reset_in_started; /* initiator: tuning reset when TUNE starts */
	bool     reply_later;      /* ECHO: do not answer in the message callback */
	uint32_t pend_msgno[8];
	unsigned npend;
};

static void
rec_body(struct peer *p, const struct beep_msg *m)
{
	free(p->last_body);
	p->last_body = malloc(m->len + 1);
	memcpy(p->last_body, m->body, m->len);
	p->last_len = m->len;
	p->last_msgno = m->msgno;
}

static void
on_closed(struct beep_session *s, void *arg, uint32_t ch, unsigned code)
{
	struct peer *p = arg;
	(void)s; (void)ch; (void)code;
	p->closed_calls++;
}

static void
echo_message(struct beep_session *s, void *arg, const struct beep_msg *m)
{
	struct peer *p = arg;

	p->msgs++;
	rec_body(p, m);
	if (p->reply_later) {
		p->pend_msgno[p->npend++] = m->msgno;
		return;
	}
	CU_ASSERT_EQUAL(beep_session_reply(s, m->channel, m->msgno, BEEP_RPY,
	    strcmp(m->content_type, BEEP_CT_DEFAULT) ? m->content_type : NULL,
	    m->body, m->len, 0), 0);
}

static enum beep_start_verdict
echo_start(struct beep_session *s, void *arg, const struct beep_start_req *r,
           struct beep_start_answer *a)
{
	static char re[300];
	(void)s;
	a->chan_arg = arg;
	if (r->has_piggyback) {
		snprintf(re, sizeof(re), "re:%.*s", (int)r->piggyback_len, r->piggyback);
		a->has_piggyback = true;
		a->piggyback = (const uint8_t *)re;
		a->piggyback_len = strlen(re);
	}
	return BEEP_START_OK;
}

static enum beep_start_verdict
defer_start(struct beep_session *s, void *arg, const struct beep_start_req *r,
            struct beep_start_answer *a)
{
	struct peer *p = arg;
	(void)s;
	p->deferred_ch = r->channel;
	p->deferred_msgno = r->msgno;
	a->chan_arg = arg;
	return BEEP_START_DEFER;
}

static enum beep_start_verdict
tune_start(struct beep_session *s, void *arg, const struct beep_start_req *r,
           struct beep_start_answer *a)
{
	struct peer *p = arg;
	(void)r;
	a->chan_arg = arg;
	if (p->reset_in_start)
		CU_ASSERT_EQUAL(beep_session_tuning_reset(s, NULL, 0), 0);
	return BEEP_START_OK;
}

static void
silent_message(struct beep_session *s, void *arg, const struct beep_msg *m)
{
	struct peer *p = arg;
	(void)s;
	p->msgs++;
	p->last_msgno = m->msgno;
}

static void
on_started(struct beep_session *s, void *arg, const struct beep_start_result *r)
{
	struct peer *p = arg;

	p->last_started_ch = r->channel;
	p->last_piggy[0] = '\0';
	if (r->ok) {
		p->started_ok++;
		if (r->has_piggyback)
			snprintf(p->last_piggy, sizeof(p->last_piggy), "%.*s",
			         (int)r->piggyback_len, r->piggyback);
		if (p->reset_in_started && strcmp(r->uri, TUNE) == 0)
			CU_ASSERT_EQUAL(beep_session_tuning_reset(s, NULL, 0), 0);
	} else {
		p->started_err++;
		p->last_err_code = r->code;
	}
}

static void
on_reply(struct beep_session *s, void *arg, const struct beep_msg *m)
{
	struct peer *p = arg;
	(void)s;
	p->replies++;
	rec_body(p, m);
}

static void
on_greeting(struct beep_session *s, void *arg)
{
	struct peer *p = arg;
	(void)s;
	p->greetings++;
}

static void
on_done(struct beep_session *s, void *arg, enum beep_session_state st)
{
	struct peer *p = arg;
	(void)s; (void)st;
	p->done_calls++;
}

static const struct beep_session_ops sess_ops = {
	.greeting = on_greeting, .done = on_done,
};

static struct beep_channel_ops client_ops = {
	.started = on_started, .message = echo_message, .closed = on_closed,
};

static void
peer_init(struct peer *p, const char *name, enum beep_role role, size_t max_message,
          uint32_t max_channels)
{
	struct beep_profile prof[4];
	struct beep_session_config cfg;

	memset(p, 0, sizeof(*p));
	p->name = name;
	memset(prof, 0, sizeof(prof));
	prof[0].uri = ECHO;
	prof[0].advertise = true;
	prof[0].start = echo_start;
	prof[0].ops.message = echo_message;
	prof[0].ops.closed = on_closed;
	prof[0].arg = p;
	prof[1] = prof[0];
	prof[1].uri = DEFER;
	prof[1].start = defer_start;
	prof[2] = prof[0];
	prof[2].uri = TUNE;
	prof[2].start = tune_start;
	prof[3] = prof[0];
	prof[3].uri = SILENT;
	prof[3].advertise = false;
	prof[3].ops.message = silent_message;
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = role;
	cfg.profiles = prof;
	cfg.nprofiles = role == BEEP_LISTENER ? 4 : 0;
	cfg.max_message = max_message;
	cfg.sendq_max = max_message * 2 + 65536;
	cfg.max_channels = max_channels;
	cfg.ops = &sess_ops;
	cfg.arg = p;
	p->s = beep_session_new(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->s);
}

static void
peer_free(struct peer *p)
{
	beep_session_free(p->s);
	free(p->last_body);
	p->s = NULL;
	p->last_body = NULL;
}

/* ---- a wire monitor: checks every frame against the receiver's window --------- */

struct monitor {
	struct beep_parser p;
	uint32_t limit[1024];      /* by channel (tests stay below 1024) */
	uint32_t seq[1024];
	bool     known[1024];
	uint64_t frames, seqs, data_octets;
	uint32_t max_frame;
	bool     violated;
};

static void
mon_init(struct monitor *m)
{
	memset(m, 0, sizeof(*m));
	CU_ASSERT_EQUAL_FATAL(beep_parser_init(&m->p, 1 << 20), 0);
}

static void
mon_chan(struct monitor *m, uint32_t ch)
{
	if (!m->known[ch]) {
		m->known[ch] = true;
		m->limit[ch] = 4096;
		m->seq[ch] = 0;
	}
}

/* data: frames sent one way; rev: the monitor of the other way (its SEQs
 * widen our limits) */
static void
mon_feed(struct monitor *m, struct monitor *rev, const uint8_t *d, size_t n)
{
	struct beep_frame f;
	size_t used;

	while (n > 0) {
		enum beep_parse_status st = beep_parse(&m->p, d, n, &used, &f);
		d += used;
		n -= used;
		if (st == BEEP_PARSE_ERROR) {
			m->violated = true;
			return;
		}
		if (st != BEEP_PARSE_FRAME)
			return;
		m->frames++;
		if (f.channel >= 1024)
			continue;
		if (f.type == BEEP_SEQ) {
			m->seqs++;
			mon_chan(rev, f.channel);
			rev->limit[f.channel] = f.ackno + f.window;
			continue;
		}
		mon_chan(m, f.channel);
		if (f.seqno != m->seq[f.channel] ||
		    (uint32_t)(m->limit[f.channel] - f.seqno) < f.size)
			m->violated = true;
		m->seq[f.channel] += f.size;
		m->data_octets += f.size;
		if (f.size > m->max_frame)
			m->max_frame = f.size;
	}
}

static struct monitor mon_ab, mon_ba;
static bool monitoring;

/* Moves bytes both ways until neither side has output. */
static void
shuttle(struct peer *a, struct peer *b)
{
	const uint8_t *o;
	size_t n, used;
	int rounds = 0;
	bool moved;

	do {
		moved = false;
		o = beep_session_output(a->s, &n);
		if (n > 0) {
			if (monitoring)
				mon_feed(&mon_ab, &mon_ba, o, n);
			beep_session_input(b->s, o, n, &used);
			beep_session_output_done(a->s, n);
			moved = true;
		}
		o = beep_session_output(b->s, &n);
		if (n > 0) {
			if (monitoring)
				mon_feed(&mon_ba, &mon_ab, o, n);
			beep_session_input(a->s, o, n, &used);
			beep_session_output_done(b->s, n);
			moved = true;
		}
	} while (moved && ++rounds < 100000);
}

static void
pair(struct peer *init, struct peer *lis, size_t max_message, uint32_t max_channels)
{
	peer_init(init, "initiator", BEEP_INITIATOR, max_message, max_channels);
	peer_init(lis, "listener", BEEP_LISTENER, max_message, max_channels);
	shuttle(init, lis);
	CU_ASSERT_EQUAL_FATAL(beep_session_state(init->s), BEEP_SS_OPEN);
	CU_ASSERT_EQUAL_FATAL(beep_session_state(lis->s), BEEP_SS_OPEN);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
t_greetings(void)
{
	struct peer i, l;
	const char *const *uris;
	size_t n;
	const uint8_t *o;

	peer_init(&i, "initiator", BEEP_INITIATOR, 0, 0);
	peer_init(&l, "listener", BEEP_LISTENER, 0, 0);
	/* both greet at once, without waiting */
	o = beep_session_output(i.s, &n);
	CU_ASSERT_TRUE(n > 0 && memcmp(o, "RPY 0 0 . 0 ", 12) == 0);
	o = beep_session_output(l.s, &n);
	CU_ASSERT_TRUE(n > 0 && memcmp(o, "RPY 0 0 . 0 ", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(memmem(o, n, "Content-Type: application/beep+xml\r\n\r\n<greeting>", 48));
	CU_ASSERT_PTR_NULL(memmem(o, n, SILENT, strlen(SILENT)));   /* not advertised */
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_GREETING);
	/* nothing may be started before the peer greeted */
	CU_ASSERT_EQUAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL, &client_ops,
	                                           &i, 0, NULL), -1);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_OPEN);
	CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_OPEN);
	CU_ASSERT_EQUAL(i.greetings, 1);
	CU_ASSERT_EQUAL(l.greetings, 1);
	n = beep_session_peer_profiles(i.s, &uris);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(uris[0], ECHO);
	CU_ASSERT_TRUE(beep_session_peer_offers(i.s, TUNE));
	CU_ASSERT_FALSE(beep_session_peer_offers(i.s, SILENT));
	CU_ASSERT_EQUAL(beep_session_peer_profiles(l.s, &uris), 0);
	peer_free(&i);
	peer_free(&l);
	beep_session_free(NULL);
}

static void
t_start_and_messages(void)
{
	struct peer i, l;
	uint32_t ch = 0, ch2 = 0;
	uint8_t *big;
	size_t bigsz = 1024 * 1024, k;

	mon_init(&mon_ab);
	mon_init(&mon_ba);
	monitoring = true;
	pair(&i, &l, 2 * bigsz, 0);
	/* start with piggyback, answered with piggyback */
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, ECHO, (const uint8_t *)"<hi a='1'/>",
	                      11, true, "srv.example", &client_ops, &i, 0, &ch), 0);
	CU_ASSERT_EQUAL(ch % 2, 1);
	/* unknown profile: 550 */
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, "urn:nope", NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch2), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.started_ok, 1);
	CU_ASSERT_EQUAL(i.started_err, 1);
	CU_ASSERT_EQUAL(i.last_err_code, 550);
	CU_ASSERT_FALSE(beep_session_channel_open(i.s, ch2));
	CU_ASSERT_TRUE(beep_session_channel_open(i.s, ch));
	CU_ASSERT_TRUE(beep_session_channel_open(l.s, ch));
	CU_ASSERT_STRING_EQUAL(beep_session_server_name(l.s), "srv.example");

	/* 11 octets */
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, NULL, (const uint8_t *)"hello world", 11,
	                                      on_reply, &i, 0, NULL), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(l.msgs, 1);
	CU_ASSERT_EQUAL_FATAL(i.replies, 1);
	CU_ASSERT_EQUAL(i.last_len, 11);
	CU_ASSERT_EQUAL(memcmp(i.last_body, "hello world", 11), 0);

	/* 1 MiB, both ways, through 4096-octet windows */
	big = malloc(bigsz);
	for (k = 0; k < bigsz; k++)
		big[k] = (uint8_t)(k * 7 + (k >> 12));
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, "application/x-test", big, bigsz,
	                                      on_reply, &i, 0, NULL), 0);
	/* never more in flight than the window */
	CU_ASSERT_TRUE(beep_session_send_window(i.s, ch) <= 4096);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(l.msgs, 2);
	CU_ASSERT_EQUAL_FATAL(l.last_len, bigsz);
	CU_ASSERT_EQUAL(memcmp(l.last_body, big, bigsz), 0);
	CU_ASSERT_EQUAL_FATAL(i.replies, 2);
	CU_ASSERT_EQUAL_FATAL(i.last_len, bigsz);
	CU_ASSERT_EQUAL(memcmp(i.last_body, big, bigsz), 0);
	CU_ASSERT_FALSE(mon_ab.violated);
	CU_ASSERT_FALSE(mon_ba.violated);
	CU_ASSERT_TRUE(mon_ab.max_frame <= 4096);
	CU_ASSERT_TRUE(mon_ab.seqs > 200);     /* the listener opened the window as it read */
	CU_ASSERT_TRUE(mon_ba.seqs > 200);
	CU_ASSERT_TRUE(mon_ab.data_octets > bigsz);
	CU_ASSERT_EQUAL(beep_session_queued(i.s), 0);
	free(big);

	/* over max_message: refused at send time */
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, NULL, (const uint8_t *)"x", 2 * bigsz + 1,
	                                      on_reply, &i, 0, NULL), -1);
	monitoring = false;
	beep_parser_free(&mon_ab.p);
	beep_parser_free(&mon_ba.p);
	peer_free(&i);
	peer_free(&l);
	CU_ASSERT_EQUAL(l.closed_calls, 1);   /* from free */
}

static void
t_many_channels(void)
{
	struct peer i, l;
	uint32_t chs[300];
	unsigned k;
	char body[32];

	pair(&i, &l, 0, 0);
	for (k = 0; k < 300; k++)
		CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
		                      &client_ops, &i, 0, &chs[k]), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.started_ok, 300);
	CU_ASSERT_EQUAL(beep_session_channel_count(i.s), 300);
	CU_ASSERT_EQUAL(beep_session_channel_count(l.s), 300);
	for (k = 0; k < 300; k++) {
		snprintf(body, sizeof(body), "msg %u", k);
		CU_ASSERT_EQUAL(beep_session_send_msg(i.s, chs[k], NULL, (const uint8_t *)body,
		                                      strlen(body), on_reply, &i, 0, NULL), 0);
	}
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(l.msgs, 300);
	CU_ASSERT_EQUAL(i.replies, 300);
	for (k = 0; k < 300; k++)
		CU_ASSERT_EQUAL(beep_session_close_channel(i.s, chs[k], 200, NULL, NULL, NULL), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(beep_session_channel_count(i.s), 0);
	CU_ASSERT_EQUAL(beep_session_channel_count(l.s), 0);
	CU_ASSERT_EQUAL(i.closed_calls, 300);
	CU_ASSERT_EQUAL(l.closed_calls, 300);
	peer_free(&i);
	peer_free(&l);

	/* a configured cap */
	pair(&i, &l, 0, 2);
	for (k = 0; k < 2; k++)
		CU_ASSERT_EQUAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
		                &client_ops, &i, 0, NULL), 0);
	CU_ASSERT_EQUAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
	                &client_ops, &i, 0, NULL), -1);
	peer_free(&i);
	peer_free(&l);
}

static void
on_release(struct beep_session *s, void *arg, const struct beep_msg *m)
{
	struct peer *p = arg;
	(void)s;
	p->replies++;
	p->last_err_code = m->type == BEEP_RPY ? 200 : 550;
}

static void
t_close_release(void)
{
	struct peer i, l;
	uint32_t ch;

	pair(&i, &l, 0, 0);
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch), 0);
	shuttle(&i, &l);
	/* release refused while a channel is open */
	CU_ASSERT_EQUAL(beep_session_release(i.s, 200, NULL, on_release, &i), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.replies, 1);
	CU_ASSERT_EQUAL(i.last_err_code, 550);
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_OPEN);
	/* close the channel, then release */
	CU_ASSERT_EQUAL(beep_session_close_channel(i.s, ch, 200, "done", NULL, NULL), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.closed_calls, 1);
	CU_ASSERT_EQUAL(l.closed_calls, 1);
	CU_ASSERT_FALSE(beep_session_channel_open(l.s, ch));
	CU_ASSERT_EQUAL(beep_session_close_channel(i.s, ch, 200, NULL, NULL, NULL), -1);
	CU_ASSERT_EQUAL(beep_session_release(i.s, 200, NULL, on_release, &i), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.last_err_code, 200);
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_RELEASED);
	CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_RELEASED);
	CU_ASSERT_EQUAL(beep_session_fail_code(l.s), BEEP_FAIL_NONE);
	peer_free(&i);
	peer_free(&l);
}

static void
t_deferred(void)
{
	struct peer i, l;
	uint32_t ch, m0, m1;

	pair(&i, &l, 0, 0);
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, DEFER, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(l.deferred_ch, ch);
	CU_ASSERT_EQUAL(i.started_ok + i.started_err, 0);   /* reply withheld */
	CU_ASSERT_FALSE(beep_session_channel_open(l.s, ch));
	CU_ASSERT_EQUAL(beep_session_start_accept(l.s, ch + 2, NULL, 0, false, 0), -1);
	CU_ASSERT_EQUAL(beep_session_start_accept(l.s, ch, (const uint8_t *)"later", 5, true, 0), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.started_ok, 1);
	CU_ASSERT_STRING_EQUAL(i.last_piggy, "later");
	CU_ASSERT_TRUE(beep_session_channel_open(l.s, ch));

	/* replies in MSG order even when answered out of order */
	l.reply_later = true;
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, NULL, (const uint8_t *)"first", 5, on_reply,
	                                      &i, 0, &m0), 0);
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, NULL, (const uint8_t *)"second", 6, on_reply,
	                                      &i, 0, &m1), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL_FATAL(l.npend, 2);
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m1, BEEP_RPY, NULL, (const uint8_t *)"R2", 2, 0), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.replies, 0);       /* held behind the first */
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_ERR, NULL, (const uint8_t *)"R1", 2, 0), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.replies, 2);
	CU_ASSERT_EQUAL(i.last_msgno, m1);
	CU_ASSERT_EQUAL(memcmp(i.last_body, "R2", 2), 0);
	/* a second reply to the same MSG is refused */
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_RPY, NULL, NULL, 0, 0), -1);

	/* ANS ... NUL */
	l.npend = 0;
	CU_ASSERT_EQUAL(beep_session_send_msg(i.s, ch, NULL, (const uint8_t *)"many", 4, on_reply,
	                                      &i, 0, &m0), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_ANS, NULL, (const uint8_t *)"a1", 2, 0), 0);
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_ANS, NULL, (const uint8_t *)"a2", 2, 0), 0);
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_RPY, NULL, NULL, 0, 0), -1);
	CU_ASSERT_EQUAL(beep_session_reply(l.s, ch, m0, BEEP_NUL, NULL, NULL, 0, 0), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.replies, 5);
	CU_ASSERT_EQUAL(i.last_len, 0);
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_OPEN);

	/* deferred refusal */
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, DEFER, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(beep_session_start_refuse(l.s, ch, 554, "policy"), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.started_err, 1);
	CU_ASSERT_EQUAL(i.last_err_code, 554);
	CU_ASSERT_FALSE(beep_session_channel_open(i.s, ch));
	peer_free(&i);
	peer_free(&l);
}

static const char TRAIL[] = "\x16\x03\x01 pipe bytes RPY 0 0 . 0 0\r\nEND\r\n";

static void
t_detach(void)
{
	struct peer i, l;
	uint32_t ch;
	const uint8_t *o;
	uint8_t *wire;
	size_t n, used, olen;
	uint64_t lout;

	pair(&i, &l, 0, 0);
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, DEFER, (const uint8_t *)"<tunnel/>",
	                      9, true, NULL, &client_ops, &i, BEEP_START_DETACH_ON_OK, &ch), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL_FATAL(l.deferred_ch, ch);
	/* the listener answers <ok/> and becomes a pipe right after that frame */
	CU_ASSERT_EQUAL(beep_session_start_accept(l.s, ch, (const uint8_t *)"<ok/>", 5, true,
	                                          BEEP_REPLY_DETACH), 0);
	CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_DETACHED);
	o = beep_session_output(l.s, &n);
	CU_ASSERT_TRUE_FATAL(n > 5);
	CU_ASSERT_EQUAL(memcmp(o + n - 5, "END\r\n", 5), 0);
	lout = beep_session_output_offset(l.s);
	/* nothing after: more input produces no SEQ, input is not ours */
	CU_ASSERT_EQUAL(beep_session_input(l.s, (const uint8_t *)"xyz", 3, &used), BEEP_IN_DETACHED);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_EQUAL(beep_session_send_msg(l.s, ch, NULL, (const uint8_t *)"x", 1, NULL, NULL,
	                                      0, NULL), -1);

	/* the initiator gets the reply and pipe bytes in one read */
	wire = malloc(n + sizeof(TRAIL));
	memcpy(wire, o, n);
	memcpy(wire + n, TRAIL, sizeof(TRAIL) - 1);
	olen = n;
	beep_session_output_done(l.s, n);
	CU_ASSERT_EQUAL(beep_session_output(l.s, &n) != NULL && n == 0, true);
	CU_ASSERT_EQUAL(beep_session_output_offset(l.s), lout);
	beep_session_output(i.s, &n);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(beep_session_input(i.s, wire, olen + sizeof(TRAIL) - 1, &used),
	                BEEP_IN_DETACHED);
	CU_ASSERT_EQUAL(used, olen);
	CU_ASSERT_EQUAL(memcmp(wire + used, TRAIL, sizeof(TRAIL) - 1), 0);
	CU_ASSERT_EQUAL(i.started_ok, 1);
	CU_ASSERT_STRING_EQUAL(i.last_piggy, "<ok/>");
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_DETACHED);
	CU_ASSERT_EQUAL(beep_session_pipe_offset(i.s), beep_session_output_offset(l.s));
	beep_session_output(i.s, &n);
	CU_ASSERT_EQUAL(n, 0);               /* no SEQ for the <ok/> frame */
	free(wire);
	peer_free(&i);
	peer_free(&l);
}

/* ---- raw scripts against a listener --------------------------------------------- */

static size_t
rawf(uint8_t *out, const char *kw, uint32_t ch, uint32_t msgno, char more, uint32_t seq,
     const char *payload)
{
	size_t pl = strlen(payload);
	int h = sprintf((char *)out, "%s %u %u %c %u %zu\r\n", kw, (unsigned)ch, (unsigned)msgno,
	                more, (unsigned)seq, pl);
	memcpy(out + h, payload, pl);
	memcpy(out + h + pl, "END\r\n", 5);
	return (size_t)h + pl + 5;
}

#define XMLH "Content-Type: application/beep+xml\r\n\r\n"
#define GREET XMLH "<greeting/>"

static enum beep_start_verdict
now_start(struct beep_session *s, void *arg, const struct beep_start_req *r,
          struct beep_start_answer *a)
{
	(void)s; (void)arg; (void)r;
	a->has_piggyback = true;
	a->piggyback = (const uint8_t *)"<ok/>";
	a->piggyback_len = 5;
	a->detach = true;
	return BEEP_START_OK;
}

static void
t_detach_listener_sync(void)
{
	/* a start answered at once with detach, with pipe bytes behind it in
	 * the same read: the listener stops right after the start frame */
	struct peer l;
	uint8_t buf[2048];
	size_t n = 0, used, olen, end;
	const uint8_t *o;
	struct beep_profile prof;
	struct beep_session_config cfg;
	struct beep_session *s;

	memset(&prof, 0, sizeof(prof));
	prof.uri = "urn:test:now";
	prof.advertise = true;
	prof.start = now_start;
	memset(&l, 0, sizeof(l));
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = BEEP_LISTENER;
	cfg.profiles = &prof;
	cfg.nprofiles = 1;
	cfg.ops = &sess_ops;
	cfg.arg = &l;
	s = beep_session_new(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	beep_session_output(s, &olen);
	beep_session_output_done(s, olen);
	n += rawf(buf + n, "RPY", 0, 0, '.', 0, GREET);
	n += rawf(buf + n, "MSG", 0, 1, '.', (uint32_t)strlen(GREET),
	          XMLH "<start number='1'><profile uri='urn:test:now'/></start>");
	end = n;
	memcpy(buf + n, TRAIL, sizeof(TRAIL) - 1);
	n += sizeof(TRAIL) - 1;
	CU_ASSERT_EQUAL(beep_session_input(s, buf, n, &used), BEEP_IN_DETACHED);
	CU_ASSERT_EQUAL(used, end);
	CU_ASSERT_EQUAL(beep_session_pipe_offset(s), end);
	CU_ASSERT_EQUAL(beep_session_state(s), BEEP_SS_DETACHED);
	CU_ASSERT_EQUAL(l.done_calls, 1);
	o = beep_session_output(s, &olen);
	CU_ASSERT_TRUE_FATAL(olen > 10);
	CU_ASSERT_EQUAL(memcmp(o, "RPY 0 1 . ", 10), 0);
	CU_ASSERT_EQUAL(memcmp(o + olen - 5, "END\r\n", 5), 0);
	CU_ASSERT_PTR_NOT_NULL(memmem(o, olen, "&lt;ok/&gt;", 11));
	beep_session_free(s);
}

struct viol {
	const char *name;
	enum beep_fail want;
	bool greet;         /* send a greeting first */
	const char *kw;
	uint32_t ch, msgno;
	char more;
	int seq;            /* -1: the right one */
	const char *payload;
	/* an optional frame before */
	const char *pre_kw;
	uint32_t pre_ch, pre_msgno;
	char pre_more;
	const char *pre_payload;
};

static void
t_violations(void)
{
	static char big[5000];
	const struct viol v[] = {
		{ "not a frame", BEEP_FAIL_FRAME, true, "XYZ", 0, 1, '.', -1, "", NULL, 0, 0, 0, NULL },
		{ "NUL with payload", BEEP_FAIL_FRAME, true, "NUL", 0, 1, '.', -1, "x", NULL, 0, 0, 0, NULL },
		{ "MSG before greeting", BEEP_FAIL_GREETING, false, "MSG", 0, 1, '.', 0,
		  XMLH "<start number='1'><profile uri='" ECHO "'/></start>", NULL, 0, 0, 0, NULL },
		{ "greeting not XML", BEEP_FAIL_GREETING, false, "RPY", 0, 0, '.', 0, XMLH "<greeting",
		  NULL, 0, 0, 0, NULL },
		{ "greeting is an ok", BEEP_FAIL_GREETING, false, "RPY", 0, 0, '.', 0, XMLH "<ok/>",
		  NULL, 0, 0, 0, NULL },
		{ "peer unavailable", BEEP_FAIL_REFUSED, false, "ERR", 0, 0, '.', 0,
		  XMLH "<error code='421'/>", NULL, 0, 0, 0, NULL },
		{ "wrong seqno", BEEP_FAIL_SEQNO, true, "MSG", 0, 1, '.', 7, XMLH "<ok/>", NULL, 0, 0, 0, NULL },
		{ "over the window", BEEP_FAIL_WINDOW, true, "MSG", 0, 1, '*', -1, big, NULL, 0, 0, 0, NULL },
		{ "unopened channel", BEEP_FAIL_CHANNEL, true, "MSG", 3, 0, '.', 0, "\r\nx", NULL, 0, 0, 0, NULL },
		{ "reply to unknown msgno", BEEP_FAIL_REPLY, true, "RPY", 0, 5, '.', -1, XMLH "<ok/>",
		  NULL, 0, 0, 0, NULL },
		{ "second greeting", BEEP_FAIL_REPLY, true, "RPY", 0, 0, '.', -1, GREET, NULL, 0, 0, 0, NULL },
		{ "start with even number", BEEP_FAIL_PARITY, true, "MSG", 0, 1, '.', -1,
		  XMLH "<start number='2'><profile uri='" ECHO "'/></start>", NULL, 0, 0, 0, NULL },
		{ "msgno reuse", BEEP_FAIL_MSGNO, true, "MSG", 0, 1, '.', -1,
		  XMLH "<start number='3'><profile uri='" ECHO "'/></start>",
		  "MSG", 0, 1, '.', XMLH "<start number='1'><profile uri='" DEFER "'/></start>" },
		{ "interleaved msgno", BEEP_FAIL_SEQUENCE, true, "MSG", 0, 2, '.', -1, "x",
		  "MSG", 0, 1, '*', XMLH },
		{ "keyword change mid-message", BEEP_FAIL_SEQUENCE, true, "ERR", 0, 1, '.', -1, "x",
		  "MSG", 0, 1, '*', XMLH },
		{ NULL, BEEP_FAIL_NONE, false, NULL, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, NULL },
	};
	uint8_t *buf = malloc(16384);
	size_t k, n, used, olen;
	uint32_t seq;
	struct peer l;
	uint64_t failed_before;

	memset(big, 'a', 4096 - strlen(GREET) + 1);
	big[4096 - strlen(GREET) + 1] = '\0';
	for (k = 0; v[k].name != NULL; k++) {
		peer_init(&l, "listener", BEEP_LISTENER, 0, 0);
		beep_session_output(l.s, &olen);
		beep_session_output_done(l.s, olen);
		n = 0;
		seq = 0;
		if (v[k].greet) {
			n += rawf(buf + n, "RPY", 0, 0, '.', 0, GREET);
			seq = (uint32_t)strlen(GREET);
		}
		if (v[k].pre_kw != NULL) {
			n += rawf(buf + n, v[k].pre_kw, v[k].pre_ch, v[k].pre_msgno, v[k].pre_more, seq,
			          v[k].pre_payload);
			seq += (uint32_t)strlen(v[k].pre_payload);
		}
		/* everything before the bad frame is fine */
		CU_ASSERT_EQUAL(beep_session_input(l.s, buf, n, &used), BEEP_IN_OK);
		beep_session_output(l.s, &olen);
		beep_session_output_done(l.s, olen);
		n = rawf(buf, v[k].kw, v[k].ch, v[k].msgno, v[k].more,
		         v[k].seq < 0 ? seq : (uint32_t)v[k].seq, v[k].payload);
		failed_before = beep_session_counters.fail[v[k].want];
		CU_ASSERT_EQUAL(beep_session_input(l.s, buf, n, &used), BEEP_IN_DONE);
		if (beep_session_fail_code(l.s) != v[k].want)
			fprintf(stderr, "case '%s': got %s (%s)\n", v[k].name,
			        beep_session_fail_name(beep_session_fail_code(l.s)),
			        beep_session_reason(l.s));
		CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_FAILED);
		CU_ASSERT_EQUAL(beep_session_fail_code(l.s), v[k].want);
		CU_ASSERT_TRUE(strlen(beep_session_reason(l.s)) > 0);
		CU_ASSERT_EQUAL(beep_session_counters.fail[v[k].want], failed_before + 1);
		CU_ASSERT_EQUAL(l.done_calls, 1);
		/* terminated without a reply: nothing new to send */
		beep_session_output(l.s, &olen);
		CU_ASSERT_EQUAL(olen, 0);
		CU_ASSERT_EQUAL(beep_session_input(l.s, buf, n, &used), BEEP_IN_DONE);
		CU_ASSERT_EQUAL(used, 0);
		peer_free(&l);
	}
	free(buf);
}

static void
t_ch0_errors(void)
{
	/* a poorly formed MSG on channel 0 gets an <error>, the session lives */
	struct peer l;
	uint8_t buf[2048];
	size_t n = 0, used, olen;
	const uint8_t *o;
	uint32_t seq;

	peer_init(&l, "listener", BEEP_LISTENER, 0, 0);
	beep_session_output(l.s, &olen);
	beep_session_output_done(l.s, olen);
	n += rawf(buf + n, "RPY", 0, 0, '.', 0, GREET);
	seq = (uint32_t)strlen(GREET);
	n += rawf(buf + n, "MSG", 0, 1, '.', seq, XMLH "<start number='1'><bogus/></start>");
	CU_ASSERT_EQUAL(beep_session_input(l.s, buf, n, &used), BEEP_IN_OK);
	o = beep_session_output(l.s, &olen);
	CU_ASSERT_TRUE_FATAL(olen > 0);
	CU_ASSERT_EQUAL(memcmp(o, "ERR 0 1 . ", 10), 0);
	CU_ASSERT_PTR_NOT_NULL(memmem(o, olen, "<error code=\"500\">", 18));
	CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_OPEN);
	peer_free(&l);
}

static void
t_tuning_reset(void)
{
	struct peer i, l;
	uint32_t ch, ch2;

	pair(&i, &l, 0, 0);
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch), 0);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(beep_session_channel_count(l.s), 1);
	l.reset_in_start = true;
	i.reset_in_started = true;
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, TUNE, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch2), 0);
	shuttle(&i, &l);
	/* both sides: every channel closed, new greetings exchanged */
	CU_ASSERT_EQUAL(i.started_ok, 2);
	CU_ASSERT_EQUAL(i.greetings, 2);
	CU_ASSERT_EQUAL(l.greetings, 2);
	CU_ASSERT_EQUAL(i.closed_calls, 2);
	CU_ASSERT_EQUAL(l.closed_calls, 2);
	CU_ASSERT_EQUAL(beep_session_channel_count(i.s), 0);
	CU_ASSERT_EQUAL(beep_session_channel_count(l.s), 0);
	CU_ASSERT_EQUAL(beep_session_state(i.s), BEEP_SS_OPEN);
	CU_ASSERT_EQUAL(beep_session_state(l.s), BEEP_SS_OPEN);
	/* numbering starts over and the session works */
	CU_ASSERT_EQUAL_FATAL(beep_session_start_channel(i.s, ECHO, NULL, 0, false, NULL,
	                      &client_ops, &i, 0, &ch2), 0);
	CU_ASSERT_EQUAL(ch2, 1);
	shuttle(&i, &l);
	CU_ASSERT_EQUAL(i.started_ok, 3);
	CU_ASSERT_TRUE(beep_session_channel_open(l.s, 1));
	peer_free(&i);
	peer_free(&l);
}

int
main(void)
{
	static const struct cutest_case cases[] = {
		{ "greetings", t_greetings },
		{ "start, 11 B and 1 MiB messages, windows", t_start_and_messages },
		{ "300 channels", t_many_channels },
		{ "close and release", t_close_release },
		{ "deferred replies, order, ANS/NUL", t_deferred },
		{ "detach at the exact byte", t_detach },
		{ "listener input stops at a frame", t_detach_listener_sync },
		{ "protocol violations", t_violations },
		{ "channel 0 errors", t_ch0_errors },
		{ "tuning reset", t_tuning_reset },
		CUTEST_END
	};
	return cutest_run("beep_session", cases);
}
