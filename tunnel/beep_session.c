/* beep_session: the BEEP session engine (RFC 3080, RFC 3081). */
#include "tunnel/beep_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "tunnel/beep_xml.h"

struct beep_session_counters beep_session_counters;

#define CH0_HDR      "Content-Type: " BEEP_CT_BEEPXML "\r\n\r\n"
#define CH0_HDR_LEN  (sizeof(CH0_HDR) - 1)
/* A channel-0 message: the document plus its entity headers. */
#define CH0_MSG_MAX  (BG_BEEP_CH0_MAX + BEEP_MIME_HEADERS_MAX)

/* ---- data ----------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t   len, cap;
};

/* An outgoing message, framed as the peer's window allows. */
struct qmsg {
	TAILQ_ENTRY(qmsg) entry;
	enum beep_frame_type type;
	uint32_t msgno, ansno;
	bool     final;        /* completes our reply to the peer's MSG msgno */
	bool     detach;       /* the stream becomes a pipe after its last frame */
	bool     release;      /* our <ok/> to a session release */
	bool     unavailable;  /* our <error> instead of a greeting */
	size_t   len, off;
	uint8_t  data[];
};
TAILQ_HEAD(qlist, qmsg);

/* A MSG from the peer, until the last frame of our reply is framed. */
struct inmsg {
	TAILQ_ENTRY(inmsg) entry;
	uint32_t msgno;
	bool     queued;       /* final reply queued */
	bool     answering;    /* ANS queued */
	uint32_t next_ansno;
	bool     start;        /* channel 0: a start we deferred */
	uint32_t start_ch;
	struct qlist held;     /* replies waiting for earlier MSGs' replies */
};
TAILQ_HEAD(inlist, inmsg);

enum out_kind { OUT_USER, OUT_GREETING, OUT_START, OUT_CLOSE, OUT_RELEASE };

/* A MSG we sent, until its reply is complete. */
struct outmsg {
	TAILQ_ENTRY(outmsg) entry;
	uint32_t msgno;
	enum out_kind kind;
	uint32_t target;       /* START, CLOSE: the channel */
	bool     replying;     /* a reply frame arrived */
	enum beep_frame_type rtype;
	beep_reply_fn *cb;
	void    *arg;
	unsigned flags;
};
TAILQ_HEAD(outlist, outmsg);

enum chan_state { CH_STARTING_IN, CH_STARTING_OUT, CH_OPEN, CH_CLOSING };

struct ansbuf {
	bool     used;
	uint32_t ansno;
	struct buf b;
};

struct chan {
	uint32_t num;
	enum chan_state st;
	char    *uri;
	struct beep_channel_ops ops;
	void    *arg;
	/* receiving */
	uint32_t rseq;         /* next seqno expected */
	uint32_t rlimit;       /* right edge of the window we advertised */
	bool     seq_due;
	bool     rprog;        /* last frame had '*' (or ANS in progress) */
	enum beep_frame_type rtype;
	uint32_t rmsgno;
	struct buf rbuf;
	struct ansbuf ans[BEEP_SESSION_ANS_MAX];
	unsigned nans;
	size_t   ansbytes;
	struct inlist inq;
	unsigned ninq;
	struct outlist outq;
	uint32_t next_msgno;
	/* sending */
	uint32_t sseq;
	uint32_t slimit;       /* right edge of the peer's window */
	struct qlist sendq;
};

struct profile_set {
	struct beep_profile *p;
	size_t n;
};

struct beep_session {
	enum beep_role role;
	enum beep_session_state state;
	enum beep_fail fail;
	char     reason[BEEP_SESSION_REASON_MAX];
	const struct beep_session_ops *ops;
	void    *arg;
	struct profile_set prof;
	char    *features, *localize, *unavail_text;
	unsigned unavail_code;
	uint32_t max_channels;
	size_t   max_message;
	uint32_t window;
	size_t   sendq_max;
	unsigned greeting_timeout_ms;

	struct beep_parser parser;
	struct chan **ch;      /* ch[0] is channel 0 */
	size_t   nch, chcap;
	size_t   rr;
	uint32_t next_chan;

	uint8_t *ob;
	size_t   ob_start, ob_len, ob_cap;
	size_t   queued;

	uint64_t in_total, frame_start, out_total, pipe_in, pipe_out;

	struct beep_xml_doc peer;      /* the peer's greeting */
	const char **peer_uris;
	char    *server_name;

	unsigned cb_depth;
	bool     in_input, detach_req, in_pump, pump_again;
	bool     reset_pending;
	struct profile_set reset_prof;
	bool     reset_new_prof;
	bool     t0_set;
	uint64_t t0;
	char     ct[128], cte[64];
};

#define CALLBACK(s, call) do { (s)->cb_depth++; call; (s)->cb_depth--; } while (0)

static void pump(struct beep_session *s);
static int  send_greeting(struct beep_session *s);

/* ---- small helpers ---------------------------------------------------------- */

static int
buf_add(struct buf *b, const uint8_t *d, size_t n, size_t max)
{
	size_t cap;
	uint8_t *p;

	if (n > max || b->len > max - n)
		return -1;
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		if ((p = realloc(b->p, cap > 0 ? cap : 1)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void
qlist_free(struct beep_session *s, struct qlist *q)
{
	struct qmsg *m;

	while ((m = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, m, entry);
		s->queued -= m->len - m->off;
		free(m);
	}
}

static void
profiles_free(struct profile_set *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		free((char *)(uintptr_t)ps->p[i].uri);
	free(ps->p);
	ps->p = NULL;
	ps->n = 0;
}

static int
profiles_copy(struct profile_set *ps, const struct beep_profile *p, size_t n)
{
	size_t i;

	ps->p = NULL;
	ps->n = 0;
	if (n > BEEP_SESSION_PROFILES_MAX || (n > 0 && p == NULL))
		return -1;
	if (n == 0)
		return 0;
	if ((ps->p = calloc(n, sizeof(*ps->p))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		ps->p[i] = p[i];
		if (p[i].uri == NULL || (ps->p[i].uri = strdup(p[i].uri)) == NULL) {
			ps->n = i;
			profiles_free(ps);
			return -1;
		}
		ps->n = i + 1;
	}
	return 0;
}

static bool
terminal(const struct beep_session *s)
{
	switch (s->state) {
	case BEEP_SS_GREETING:
	case BEEP_SS_OPEN:
	case BEEP_SS_DETACHING:
		return false;
	case BEEP_SS_DETACHED:
	case BEEP_SS_RELEASED:
	case BEEP_SS_FAILED:
		return true;
	}
	return true;
}

static void
set_done(struct beep_session *s, enum beep_session_state st)
{
	s->state = st;
	if (s->ops != NULL && s->ops->done != NULL)
		CALLBACK(s, s->ops->done(s, s->arg, st));
}

static void
sfail(struct beep_session *s, enum beep_fail f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sfail(struct beep_session *s, enum beep_fail f, const char *fmt, ...)
{
	va_list ap;

	if (terminal(s))
		return;
	s->fail = f;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	beep_session_counters.failed++;
	beep_session_counters.fail[f]++;
	set_done(s, BEEP_SS_FAILED);
}

static struct chan *
chan_find(const struct beep_session *s, uint32_t num)
{
	size_t i;

	for (i = 0; i < s->nch; i++)
		if (s->ch[i]->num == num)
			return s->ch[i];
	return NULL;
}

static struct chan *
chan_new(struct beep_session *s, uint32_t num, enum chan_state st)
{
	struct chan *c, **nc;
	size_t cap;

	if (s->nch == s->chcap) {
		cap = s->chcap ? s->chcap * 2 : 8;
		if ((nc = realloc(s->ch, cap * sizeof(*nc))) == NULL)
			return NULL;
		s->ch = nc;
		s->chcap = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->num = num;
	c->st = st;
	c->rlimit = BG_BEEP_WINDOW;
	c->slimit = BG_BEEP_WINDOW;
	c->next_msgno = num == 0 ? 1 : 0;
	TAILQ_INIT(&c->inq);
	TAILQ_INIT(&c->outq);
	TAILQ_INIT(&c->sendq);
	s->ch[s->nch++] = c;
	return c;
}

/* Frees a channel's state (no callbacks). */
static void
chan_destroy(struct beep_session *s, struct chan *c)
{
	struct inmsg *im;
	struct outmsg *om;
	size_t i;

	while ((im = TAILQ_FIRST(&c->inq)) != NULL) {
		TAILQ_REMOVE(&c->inq, im, entry);
		qlist_free(s, &im->held);
		free(im);
	}
	while ((om = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, om, entry);
		free(om);
	}
	qlist_free(s, &c->sendq);
	buf_free(&c->rbuf);
	for (i = 0; i < BEEP_SESSION_ANS_MAX; i++)
		buf_free(&c->ans[i].b);
	free(c->uri);
	free(c);
}

static void
chan_remove(struct beep_session *s, struct chan *c)
{
	size_t i;

	for (i = 0; i < s->nch; i++)
		if (s->ch[i] == c) {
			s->ch[i] = s->ch[--s->nch];
			break;
		}
	chan_destroy(s, c);
}

/* Calls closed() where it is owed, then removes the channel. */
static void
chan_close(struct beep_session *s, struct chan *c, unsigned code)
{
	struct beep_channel_ops ops = c->ops;
	void *arg = c->arg;
	uint32_t num = c->num;
	enum chan_state st = c->st;

	chan_remove(s, c);
	switch (st) {
	case CH_STARTING_IN:
	case CH_OPEN:
	case CH_CLOSING:
		if (ops.closed != NULL)
			CALLBACK(s, ops.closed(s, arg, num, code));
		break;
	case CH_STARTING_OUT:
		break;
	}
}

/* A larger window than the initial one is announced once the channel opens. */
static void
chan_opened(struct beep_session *s, struct chan *c)
{
	c->st = CH_OPEN;
	if (s->window != BG_BEEP_WINDOW)
		c->seq_due = true;
}

static size_t
chans_besides0(const struct beep_session *s)
{
	return s->nch > 0 ? s->nch - 1 : 0;
}

/* ---- output ----------------------------------------------------------------- */

/* Room for n more octets at the end of the output buffer. */
static uint8_t *
ob_room(struct beep_session *s, size_t n)
{
	if (s->ob_start + s->ob_len + n > s->ob_cap && s->ob_start > 0) {
		memmove(s->ob, s->ob + s->ob_start, s->ob_len);
		s->ob_start = 0;
	}
	if (s->ob_start + s->ob_len + n > s->ob_cap)
		return NULL;
	return s->ob + s->ob_start + s->ob_len;
}

static void
ob_commit(struct beep_session *s, size_t n)
{
	s->ob_len += n;
	s->out_total += n;
	beep_session_counters.frames_out++;
}

static struct qmsg *
qmsg_new(enum beep_frame_type type, uint32_t msgno, const uint8_t *hdr, size_t hlen,
         const uint8_t *body, size_t blen)
{
	struct qmsg *m;

	if ((m = calloc(1, sizeof(*m) + hlen + blen)) == NULL)
		return NULL;
	m->type = type;
	m->msgno = msgno;
	m->len = hlen + blen;
	if (hlen > 0)
		memcpy(m->data, hdr, hlen);
	if (blen > 0)
		memcpy(m->data + hlen, body, blen);
	return m;
}

/* The entity headers we put before a body. */
static int
mime_header(const char *ct, char *out, size_t outlen, size_t *n)
{
	int r;

	if (ct == NULL) {
		*n = 2;
		memcpy(out, "\r\n", 2);
		return 0;
	}
	if (strpbrk(ct, "\r\n") != NULL)
		return -1;
	r = snprintf(out, outlen, "Content-Type: %s\r\n\r\n", ct);
	if (r < 0 || (size_t)r >= outlen)
		return -1;
	*n = (size_t)r;
	return 0;
}

static void
detach_now(struct beep_session *s)
{
	size_t i;

	s->detach_req = false;
	s->pipe_in = s->in_total;
	s->pipe_out = s->out_total + 0;
	for (i = 0; i < s->nch; i++) {
		qlist_free(s, &s->ch[i]->sendq);
		s->ch[i]->seq_due = false;
	}
	beep_session_counters.detached++;
	set_done(s, BEEP_SS_DETACHED);
}

/* Writes due SEQ frames; false when the output buffer is full. */
static bool
emit_seqs(struct beep_session *s)
{
	struct beep_frame f;
	struct chan *c;
	uint8_t *o;
	size_t i, n;

	for (i = 0; i < s->nch; i++) {
		c = s->ch[i];
		if (!c->seq_due)
			continue;
		memset(&f, 0, sizeof(f));
		f.type = BEEP_SEQ;
		f.channel = c->num;
		f.ackno = c->rseq;
		f.window = s->window;
		n = beep_frame_len(&f);
		if ((o = ob_room(s, n)) == NULL)
			return false;
		if (beep_frame_write(o, n, &f, NULL) != n)
			return false;
		ob_commit(s, n);
		c->rlimit = c->rseq + s->window;
		c->seq_due = false;
	}
	return true;
}

/* The reply head of a channel: the first MSG whose final reply is not queued. */
static struct inmsg *
reply_head(struct chan *c)
{
	struct inmsg *im;

	TAILQ_FOREACH(im, &c->inq, entry)
		if (!im->queued)
			return im;
	return NULL;
}

/* Moves held replies of MSGs that became the reply head to the send queue. */
static void
release_held(struct chan *c)
{
	struct inmsg *im;
	struct qmsg *m;

	while ((im = reply_head(c)) != NULL && !TAILQ_EMPTY(&im->held)) {
		while ((m = TAILQ_FIRST(&im->held)) != NULL) {
			TAILQ_REMOVE(&im->held, m, entry);
			TAILQ_INSERT_TAIL(&c->sendq, m, entry);
			if (m->final)
				im->queued = true;
		}
	}
}

/* Frames the head of c's send queue once; 1 progress, 0 blocked, -1 full. */
static int
emit_frame(struct beep_session *s, struct chan *c)
{
	struct qmsg *m = TAILQ_FIRST(&c->sendq);
	struct beep_frame f;
	struct inmsg *im;
	uint32_t avail;
	size_t n, need;
	uint8_t *o;

	if (m == NULL)
		return 0;
	avail = (int32_t)(c->slimit - c->sseq) > 0 ? c->slimit - c->sseq : 0;
	n = m->len - m->off;
	if (n > avail)
		n = avail;
	if (n > BEEP_SESSION_FRAME_MAX)
		n = BEEP_SESSION_FRAME_MAX;
	if (n == 0 && m->len - m->off > 0)
		return 0;
	memset(&f, 0, sizeof(f));
	f.type = m->type;
	f.channel = c->num;
	f.msgno = m->msgno;
	f.ansno = m->ansno;
	f.more = m->off + n < m->len;
	f.seqno = c->sseq;
	f.size = (uint32_t)n;
	need = beep_frame_len(&f);
	if (need == 0)
		return 0;
	if ((o = ob_room(s, need)) == NULL)
		return -1;
	if (beep_frame_write(o, need, &f, m->data + m->off) != need)
		return -1;
	ob_commit(s, need);
	c->sseq += (uint32_t)n;
	m->off += n;
	s->queued -= n;
	if (m->off < m->len)
		return 1;
	/* the message is out */
	TAILQ_REMOVE(&c->sendq, m, entry);
	if (m->final) {
		TAILQ_FOREACH(im, &c->inq, entry)
			if (im->msgno == m->msgno) {
				TAILQ_REMOVE(&c->inq, im, entry);
				c->ninq--;
				qlist_free(s, &im->held);
				free(im);
				break;
			}
		release_held(c);
	}
	if (m->detach) {
		free(m);
		detach_now(s);
		return -1;
	}
	if (m->release || m->unavailable) {
		bool unavail = m->unavailable;
		free(m);
		if (!unavail) {
			beep_session_counters.released++;
			snprintf(s->reason, sizeof(s->reason), "session released by peer");
		} else
			snprintf(s->reason, sizeof(s->reason), "unavailable");
		set_done(s, BEEP_SS_RELEASED);
		return -1;
	}
	free(m);
	return 1;
}

static void
pump(struct beep_session *s)
{
	size_t i, n;
	int r;
	bool progress;
	size_t before;

	if (s->in_pump) {
		s->pump_again = true;
		return;
	}
	s->in_pump = true;
	before = s->ob_len;
	do {
		s->pump_again = false;
		switch (s->state) {
		case BEEP_SS_GREETING:
		case BEEP_SS_OPEN:
		case BEEP_SS_DETACHING:
			break;
		case BEEP_SS_DETACHED:
		case BEEP_SS_RELEASED:
		case BEEP_SS_FAILED:
			goto out;
		}
		/* SEQs are consolidated: one per channel per input call */
		if (!s->in_input && !emit_seqs(s))
			break;
		/* round robin over the channels, one frame each */
		do {
			progress = false;
			n = s->nch;
			for (i = 0; i < n && !terminal(s); i++) {
				if (s->nch == 0)
					break;
				s->rr = (s->rr + 1) % s->nch;
				r = emit_frame(s, s->ch[s->rr]);
				if (r < 0)
					goto out;
				if (r > 0)
					progress = true;
			}
		} while (progress && !terminal(s));
	} while (s->pump_again && !terminal(s));
out:
	s->in_pump = false;
	if (s->ob_len > before && s->ops != NULL && s->ops->output != NULL)
		CALLBACK(s, s->ops->output(s, s->arg));
}

/* Queues a reply to the peer's MSG im on c (held if an earlier MSG's reply is
 * not queued yet). */
static void
queue_reply(struct beep_session *s, struct chan *c, struct inmsg *im, struct qmsg *m)
{
	s->queued += m->len;
	if (m->type == BEEP_ANS) {
		m->ansno = im->next_ansno++;
		im->answering = true;
	}
	m->final = m->type != BEEP_ANS;
	if (reply_head(c) == im) {
		TAILQ_INSERT_TAIL(&c->sendq, m, entry);
		if (m->final) {
			im->queued = true;
			release_held(c);
		}
	} else
		TAILQ_INSERT_TAIL(&im->held, m, entry);
}

/* Queues a channel-0 reply built from an XML document. */
static int
ch0_reply_xml(struct beep_session *s, struct inmsg *im, enum beep_frame_type type,
              const uint8_t *xml, size_t xlen, bool detach, bool release)
{
	struct qmsg *m;

	if ((m = qmsg_new(type, im->msgno, (const uint8_t *)CH0_HDR, CH0_HDR_LEN, xml, xlen)) == NULL)
		return -1;
	m->detach = detach;
	m->release = release;
	queue_reply(s, s->ch[0], im, m);
	return 0;
}

static int
ch0_reply_error(struct beep_session *s, struct inmsg *im, unsigned code, const char *text)
{
	uint8_t *x;
	size_t n;
	int r;

	if (beep_xml_error(code, text, &x, &n) != 0 &&
	    beep_xml_error(code, NULL, &x, &n) != 0)
		return -1;
	r = ch0_reply_xml(s, im, BEEP_ERR, x, n, false, false);
	free(x);
	return r;
}

static int
ch0_reply_ok(struct beep_session *s, struct inmsg *im, bool release)
{
	uint8_t *x;
	size_t n;
	int r;

	if (beep_xml_ok(&x, &n) != 0)
		return -1;
	r = ch0_reply_xml(s, im, BEEP_RPY, x, n, false, release);
	free(x);
	return r;
}

/* Sends a channel-0 MSG and records what it is for. */
static struct outmsg *
ch0_send(struct beep_session *s, enum out_kind kind, uint32_t target, const uint8_t *xml,
         size_t xlen)
{
	struct chan *c = s->ch[0];
	struct outmsg *om, *o;
	struct qmsg *m;
	uint32_t msgno;
	bool used;

	/* next msgno not awaiting a reply */
	do {
		msgno = c->next_msgno;
		c->next_msgno = c->next_msgno >= BEEP_MAX_NUMBER ? 1 : c->next_msgno + 1;
		used = false;
		TAILQ_FOREACH(o, &c->outq, entry)
			if (o->msgno == msgno)
				used = true;
	} while (used);
	if ((om = calloc(1, sizeof(*om))) == NULL)
		return NULL;
	if ((m = qmsg_new(BEEP_MSG, msgno, (const uint8_t *)CH0_HDR, CH0_HDR_LEN, xml, xlen)) == NULL) {
		free(om);
		return NULL;
	}
	om->msgno = msgno;
	om->kind = kind;
	om->target = target;
	TAILQ_INSERT_TAIL(&c->outq, om, entry);
	s->queued += m->len;
	TAILQ_INSERT_TAIL(&c->sendq, m, entry);
	return om;
}

/* ---- MIME ------------------------------------------------------------------- */

static void
copy_token(char *dst, size_t dstlen, const uint8_t *v, size_t n)
{
	size_t i, j = 0;

	/* media type or encoding: up to ';', trimmed, lower-cased */
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	for (i = 0; i < n && v[i] != ';' && j + 1 < dstlen; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		dst[j++] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	}
	while (j > 0 && (dst[j - 1] == ' ' || dst[j - 1] == '\t'))
		j--;
	dst[j] = '\0';
}

/* Splits a message into entity headers and body (RFC 3080 sec. 2.2). */
static int
mime_parse(struct beep_session *s, const uint8_t *p, size_t n, struct beep_msg *m)
{
	size_t i = 0, ls, le, colon;

	strcpy(s->ct, BEEP_CT_DEFAULT);
	strcpy(s->cte, BEEP_CTE_DEFAULT);
	m->content_type = s->ct;
	m->transfer_encoding = s->cte;
	m->payload = p;
	m->payload_len = n;
	if (n == 0) {
		m->body = p;
		m->len = 0;
		return 0;
	}
	for (;;) {
		ls = i;
		while (i + 1 < n && !(p[i] == '\r' && p[i + 1] == '\n')) {
			if (i - ls >= BEEP_MIME_HEADERS_MAX || i >= BEEP_MIME_HEADERS_MAX)
				return -1;
			i++;
		}
		if (i + 1 >= n)
			return -1;             /* no empty line ends the headers */
		le = i;
		i += 2;
		if (le == ls)
			break;                 /* empty line: body follows */
		if (p[ls] == ' ' || p[ls] == '\t') {
			if (ls == 0)
				return -1;
			continue;              /* folded continuation (ignored) */
		}
		for (colon = ls; colon < le && p[colon] != ':'; colon++)
			if (p[colon] <= ' ' || p[colon] >= 0x7f)
				return -1;
		if (colon == le || colon == ls)
			return -1;
		if (colon - ls == 12 && strncasecmp((const char *)p + ls, "content-type", 12) == 0)
			copy_token(s->ct, sizeof(s->ct), p + colon + 1, le - colon - 1);
		else if (colon - ls == 25 &&
		         strncasecmp((const char *)p + ls, "content-transfer-encoding", 25) == 0)
			copy_token(s->cte, sizeof(s->cte), p + colon + 1, le - colon - 1);
	}
	m->body = p + i;
	m->len = n - i;
	return 0;
}

/* ---- channel 0 ----------------------------------------------------------------- */

static const struct beep_profile *
profile_find(const struct beep_session *s, const char *uri)
{
	size_t i;

	for (i = 0; i < s->prof.n; i++)
		if (strcmp(s->prof.p[i].uri, uri) == 0)
			return &s->prof.p[i];
	return NULL;
}

static int
start_reply_ok(struct beep_session *s, struct inmsg *im, struct chan *c,
               const uint8_t *piggy, size_t plen, bool has_piggy, bool detach)
{
	uint8_t *x;
	size_t n;
	int r;

	if (beep_xml_profile(c->uri, piggy, plen, has_piggy, &x, &n) != 0)
		return -1;
	r = ch0_reply_xml(s, im, BEEP_RPY, x, n, detach, false);
	free(x);
	if (r == 0) {
		chan_opened(s, c);
		beep_session_counters.channels_started++;
		if (detach && s->state == BEEP_SS_OPEN)
			s->state = BEEP_SS_DETACHING;
	}
	return r;
}

static void
ch0_start(struct beep_session *s, struct inmsg *im, struct beep_xml_doc *d)
{
	const struct beep_profile *p = NULL;
	struct beep_xml_profile *xp = NULL;
	struct beep_start_req req;
	struct beep_start_answer ans;
	enum beep_start_verdict v;
	struct chan *c;
	size_t i;
	bool peer_odd = s->role == BEEP_LISTENER;   /* the peer initiates */

	if ((d->number % 2 == 1) != peer_odd) {
		sfail(s, BEEP_FAIL_PARITY, "start: channel %u has the wrong parity for the %s",
		      (unsigned)d->number, peer_odd ? "initiator" : "listener");
		return;
	}
	if (chan_find(s, d->number) != NULL) {
		ch0_reply_error(s, im, 550, "channel number in use");
		return;
	}
	if (chans_besides0(s) >= s->max_channels) {
		ch0_reply_error(s, im, 550, "too many channels");
		return;
	}
	for (i = 0; i < d->nprofiles && p == NULL; i++)
		if ((p = profile_find(s, d->profiles[i].uri)) != NULL)
			xp = &d->profiles[i];
	if (p == NULL) {
		ch0_reply_error(s, im, 550, "all requested profiles are unsupported");
		return;
	}
	if ((c = chan_new(s, d->number, CH_STARTING_IN)) == NULL ||
	    (c->uri = strdup(p->uri)) == NULL) {
		if (c != NULL)
			chan_remove(s, c);
		ch0_reply_error(s, im, 451, "out of memory");
		return;
	}
	c->ops = p->ops;
	memset(&req, 0, sizeof(req));
	req.channel = d->number;
	req.msgno = im->msgno;
	req.uri = c->uri;
	req.server_name = s->server_name != NULL ? s->server_name : d->server_name;
	req.has_piggyback = xp->has_content;
	req.piggyback = xp->content;
	req.piggyback_len = xp->content_len;
	memset(&ans, 0, sizeof(ans));
	v = BEEP_START_OK;
	if (p->start != NULL)
		CALLBACK(s, v = p->start(s, p->arg, &req, &ans));
	if (terminal(s))
		return;
	c->arg = ans.chan_arg;
	switch (v) {
	case BEEP_START_OK:
		if (s->server_name == NULL && d->server_name != NULL)
			s->server_name = strdup(d->server_name);
		if (start_reply_ok(s, im, c, ans.piggyback, ans.piggyback_len,
		                   ans.has_piggyback, ans.detach) != 0) {
			chan_remove(s, c);
			ch0_reply_error(s, im, 451, "cannot build reply");
		}
		return;
	case BEEP_START_ERROR:
		chan_remove(s, c);
		ch0_reply_error(s, im, ans.code >= 100 && ans.code <= 599 ? ans.code : 550,
		                ans.text);
		return;
	case BEEP_START_DEFER:
		im->start = true;
		im->start_ch = c->num;
		if (s->server_name == NULL && d->server_name != NULL)
			s->server_name = strdup(d->server_name);
		return;
	}
}

static bool
chan_idle(const struct chan *c)
{
	return TAILQ_EMPTY(&c->inq) && TAILQ_EMPTY(&c->outq) && TAILQ_EMPTY(&c->sendq) &&
	    !c->rprog;
}

static void
ch0_close(struct beep_session *s, struct inmsg *im, struct beep_xml_doc *d)
{
	struct chan *c;
	unsigned code = 0;
	size_t i;

	if (d->number == 0) {
		if (s->ops != NULL && s->ops->release_req != NULL)
			CALLBACK(s, code = s->ops->release_req(s, s->arg));
		else
			for (i = 0; i < s->nch; i++)
				if (s->ch[i]->num != 0)
					code = 550;
		if (terminal(s))
			return;
		if (code != 0)
			ch0_reply_error(s, im, code >= 100 && code <= 599 ? code : 550, "still working");
		else
			ch0_reply_ok(s, im, true);
		return;
	}
	c = chan_find(s, d->number);
	if (c == NULL || (c->st != CH_OPEN && c->st != CH_CLOSING)) {
		ch0_reply_error(s, im, 550, "no such channel");
		return;
	}
	if (!chan_idle(c)) {
		ch0_reply_error(s, im, 550, "still working");
		return;
	}
	if (c->ops.close_req != NULL)
		CALLBACK(s, code = c->ops.close_req(s, c->arg, c->num));
	if (terminal(s))
		return;
	if (code != 0) {
		ch0_reply_error(s, im, code >= 100 && code <= 599 ? code : 550, "close declined");
		return;
	}
	if (ch0_reply_ok(s, im, false) == 0)
		chan_close(s, c, 200);
}

/* A complete MSG on channel 0. */
static void
ch0_msg(struct beep_session *s, struct inmsg *im, const struct beep_msg *m)
{
	struct beep_xml_doc d;
	struct beep_xml_error e;

	if (strcmp(m->content_type, BEEP_CT_BEEPXML) != 0 &&
	    strcmp(m->content_type, BEEP_CT_DEFAULT) != 0) {
		ch0_reply_error(s, im, 500, "channel 0 takes application/beep+xml");
		return;
	}
	if (beep_xml_parse(m->body, m->len, &d, &e) != 0) {
		ch0_reply_error(s, im, e.code, e.text);
		return;
	}
	switch (d.kind) {
	case BEEP_XML_START:
		ch0_start(s, im, &d);
		break;
	case BEEP_XML_CLOSE:
		ch0_close(s, im, &d);
		break;
	case BEEP_XML_GREETING:
	case BEEP_XML_PROFILE:
	case BEEP_XML_OK:
	case BEEP_XML_ERROR:
		ch0_reply_error(s, im, 500, "unexpected element in MSG");
		break;
	}
	beep_xml_doc_clear(&d);
}

/* A complete reply on channel 0 to our MSG om. */
static void
ch0_reply(struct beep_session *s, struct outmsg *om, const struct beep_msg *m)
{
	struct beep_xml_doc d;
	struct beep_xml_error e;
	struct beep_start_result r;
	struct chan *c;
	bool ok = m->type == BEEP_RPY;
	size_t i;

	if (m->type != BEEP_RPY && m->type != BEEP_ERR) {
		sfail(s, om->kind == OUT_GREETING ? BEEP_FAIL_GREETING : BEEP_FAIL_CH0,
		      "channel 0: %s reply", beep_frame_type_name(m->type));
		return;
	}
	if (beep_xml_parse(m->body, m->len, &d, &e) != 0) {
		sfail(s, om->kind == OUT_GREETING ? BEEP_FAIL_GREETING : BEEP_FAIL_CH0,
		      "channel 0 reply: %s", e.text);
		return;
	}
	if (!ok && d.kind != BEEP_XML_ERROR) {
		sfail(s, BEEP_FAIL_CH0, "channel 0: ERR without <error>");
		goto out;
	}
	switch (om->kind) {
	case OUT_GREETING:
		if (!ok) {
			sfail(s, BEEP_FAIL_REFUSED, "peer unavailable: %u %.80s", d.code,
			      d.text != NULL ? d.text : "");
			goto out;
		}
		if (d.kind != BEEP_XML_GREETING) {
			sfail(s, BEEP_FAIL_GREETING, "first reply is a %s, not a greeting",
			      beep_xml_kind_name(d.kind));
			goto out;
		}
		if (d.nprofiles > 0 &&
		    (s->peer_uris = calloc(d.nprofiles, sizeof(*s->peer_uris))) == NULL) {
			sfail(s, BEEP_FAIL_LOCAL, "out of memory");
			goto out;
		}
		for (i = 0; i < d.nprofiles; i++)
			s->peer_uris[i] = d.profiles[i].uri;
		s->peer = d;
		memset(&d, 0, sizeof(d));
		s->state = BEEP_SS_OPEN;
		if (s->ops != NULL && s->ops->greeting != NULL)
			CALLBACK(s, s->ops->greeting(s, s->arg));
		break;
	case OUT_START:
		c = chan_find(s, om->target);
		if (c == NULL || c->st != CH_STARTING_OUT) {
			sfail(s, BEEP_FAIL_CH0, "start reply for a vanished channel");
			goto out;
		}
		if (ok && (d.kind != BEEP_XML_PROFILE || strcmp(d.profiles[0].uri, c->uri) != 0)) {
			sfail(s, BEEP_FAIL_CH0, "start answered with a %s for another profile",
			      beep_xml_kind_name(d.kind));
			goto out;
		}
		memset(&r, 0, sizeof(r));
		r.ok = ok;
		r.channel = c->num;
		r.msg = m;
		if (ok) {
			chan_opened(s, c);
			beep_session_counters.channels_started++;
			r.uri = c->uri;
			r.has_piggyback = d.profiles[0].has_content;
			r.piggyback = d.profiles[0].content;
			r.piggyback_len = d.profiles[0].content_len;
			if (om->flags & BEEP_START_DETACH_ON_OK)
				s->detach_req = true;
			if (c->ops.started != NULL)
				CALLBACK(s, c->ops.started(s, c->arg, &r));
		} else {
			struct beep_channel_ops ops = c->ops;
			void *arg = c->arg;
			r.code = d.code;
			r.text = d.text;
			r.lang = d.lang;
			chan_remove(s, c);
			if (ops.started != NULL)
				CALLBACK(s, ops.started(s, arg, &r));
		}
		break;
	case OUT_CLOSE:
		c = chan_find(s, om->target);
		if (ok && d.kind != BEEP_XML_OK) {
			sfail(s, BEEP_FAIL_CH0, "close answered with a %s", beep_xml_kind_name(d.kind));
			goto out;
		}
		if (om->cb != NULL)
			CALLBACK(s, om->cb(s, om->arg, m));
		if (c != NULL && c->st == CH_CLOSING) {
			if (ok)
				chan_close(s, c, 200);
			else
				c->st = CH_OPEN;
		}
		break;
	case OUT_RELEASE:
		if (ok && d.kind != BEEP_XML_OK) {
			sfail(s, BEEP_FAIL_CH0, "release answered with a %s", beep_xml_kind_name(d.kind));
			goto out;
		}
		if (om->cb != NULL)
			CALLBACK(s, om->cb(s, om->arg, m));
		if (ok && !terminal(s)) {
			beep_session_counters.released++;
			snprintf(s->reason, sizeof(s->reason), "session released");
			set_done(s, BEEP_SS_RELEASED);
		}
		break;
	case OUT_USER:
		break;
	}
out:
	beep_xml_doc_clear(&d);
}

/* ---- input -------------------------------------------------------------------- */

static struct outmsg *
outmsg_find(struct chan *c, uint32_t msgno)
{
	struct outmsg *om;

	TAILQ_FOREACH(om, &c->outq, entry)
		if (om->msgno == msgno)
			return om;
	return NULL;
}

/* A complete message: deliver it.  buf/len: the reassembled payload. */
static void
deliver(struct beep_session *s, struct chan *c, const struct beep_frame *f,
        const uint8_t *data, size_t len, struct outmsg *om)
{
	struct beep_msg m;
	struct inmsg *im;
	bool mime_ok;

	memset(&m, 0, sizeof(m));
	m.type = f->type;
	m.channel = c->num;
	m.msgno = f->msgno;
	m.ansno = f->ansno;
	mime_ok = mime_parse(s, data, len, &m) == 0;

	if (f->type == BEEP_MSG) {
		if ((im = calloc(1, sizeof(*im))) == NULL) {
			sfail(s, BEEP_FAIL_LOCAL, "out of memory");
			return;
		}
		im->msgno = f->msgno;
		TAILQ_INIT(&im->held);
		TAILQ_INSERT_TAIL(&c->inq, im, entry);
		c->ninq++;
		if (!mime_ok) {
			/* poorly formed MSG: answered with an error (RFC 3080 2.2.2.1) */
			struct qmsg *q;
			uint8_t *x;
			size_t n;
			if (beep_xml_error(500, "poorly formed MIME headers", &x, &n) != 0) {
				sfail(s, BEEP_FAIL_LOCAL, "out of memory");
				return;
			}
			q = qmsg_new(BEEP_ERR, f->msgno, (const uint8_t *)CH0_HDR, CH0_HDR_LEN, x, n);
			free(x);
			if (q == NULL) {
				sfail(s, BEEP_FAIL_LOCAL, "out of memory");
				return;
			}
			queue_reply(s, c, im, q);
			return;
		}
		if (c->num == 0)
			ch0_msg(s, im, &m);
		else if (c->ops.message != NULL)
			CALLBACK(s, c->ops.message(s, c->arg, &m));
		else {
			/* no handler: every profile must answer unexpected MSGs */
			uint8_t *x;
			size_t n;
			struct qmsg *q;
			if (beep_xml_error(500, "unexpected message", &x, &n) == 0) {
				q = qmsg_new(BEEP_ERR, f->msgno, (const uint8_t *)CH0_HDR,
				             CH0_HDR_LEN, x, n);
				free(x);
				if (q != NULL)
					queue_reply(s, c, im, q);
			}
		}
		return;
	}
	/* a reply to our MSG om */
	if (!mime_ok) {
		sfail(s, c->num == 0 ? BEEP_FAIL_CH0 : BEEP_FAIL_MIME,
		      "channel %u: poorly formed MIME headers in %s", (unsigned)c->num,
		      beep_frame_type_name(f->type));
		return;
	}
	if (f->type != BEEP_ANS) {
		/* RPY, ERR, NUL complete the reply: forget om first */
		TAILQ_REMOVE(&c->outq, om, entry);
		if (c->num == 0)
			ch0_reply(s, om, &m);
		else {
			if (om->cb != NULL)
				CALLBACK(s, om->cb(s, om->arg, &m));
			if (f->type == BEEP_RPY && (om->flags & BEEP_MSG_DETACH_ON_RPY))
				s->detach_req = true;
		}
		free(om);
		return;
	}
	if (c->num == 0) {
		sfail(s, BEEP_FAIL_CH0, "channel 0: ANS reply");
		return;
	}
	if (om->cb != NULL)
		CALLBACK(s, om->cb(s, om->arg, &m));
}

static size_t
msg_cap(const struct beep_session *s, const struct chan *c)
{
	return c->num == 0 ? CH0_MSG_MAX : s->max_message;
}

static void
data_frame(struct beep_session *s, const struct beep_frame *f)
{
	struct chan *c;
	struct outmsg *om = NULL;
	struct inmsg *im;
	struct ansbuf *ab = NULL;
	uint32_t room;
	unsigned i;

	c = chan_find(s, f->channel);
	if (s->state == BEEP_SS_GREETING &&
	    (f->channel != 0 || f->type == BEEP_MSG || f->msgno != 0)) {
		sfail(s, BEEP_FAIL_GREETING, "%s on channel %u before the greeting",
		      beep_frame_type_name(f->type), (unsigned)f->channel);
		return;
	}
	if (c == NULL || c->st == CH_STARTING_IN || c->st == CH_STARTING_OUT) {
		sfail(s, BEEP_FAIL_CHANNEL, "%s on channel %u, which is not open",
		      beep_frame_type_name(f->type), (unsigned)f->channel);
		return;
	}
	if (f->seqno != c->rseq) {
		sfail(s, BEEP_FAIL_SEQNO, "channel %u: seqno %u, expected %u", (unsigned)c->num,
		      (unsigned)f->seqno, (unsigned)c->rseq);
		return;
	}
	room = (int32_t)(c->rlimit - c->rseq) > 0 ? c->rlimit - c->rseq : 0;
	if (f->size > room) {
		sfail(s, BEEP_FAIL_WINDOW, "channel %u: frame of %u octets, window %u",
		      (unsigned)c->num, (unsigned)f->size, (unsigned)room);
		return;
	}
	if (c->rprog) {
		if (f->msgno != c->rmsgno) {
			sfail(s, BEEP_FAIL_SEQUENCE, "channel %u: msgno %u interleaved with %u",
			      (unsigned)c->num, (unsigned)f->msgno, (unsigned)c->rmsgno);
			return;
		}
		if (f->type != c->rtype &&
		    !(c->rtype == BEEP_ANS && f->type == BEEP_NUL)) {
			sfail(s, BEEP_FAIL_SEQUENCE, "channel %u: %s continues a %s",
			      (unsigned)c->num, beep_frame_type_name(f->type),
			      beep_frame_type_name(c->rtype));
			return;
		}
	}
	if (f->type == BEEP_MSG) {
		if (!c->rprog) {
			TAILQ_FOREACH(im, &c->inq, entry)
				if (im->msgno == f->msgno) {
					sfail(s, BEEP_FAIL_MSGNO,
					      "channel %u: MSG %u reused while awaiting our reply",
					      (unsigned)c->num, (unsigned)f->msgno);
					return;
				}
			if (c->ninq >= BEEP_SESSION_PIPELINE_MAX) {
				sfail(s, BEEP_FAIL_LIMIT, "channel %u: more than %u MSGs awaiting replies",
				      (unsigned)c->num, BEEP_SESSION_PIPELINE_MAX);
				return;
			}
		}
	} else {
		om = outmsg_find(c, f->msgno);
		if (om == NULL) {
			sfail(s, BEEP_FAIL_REPLY, "channel %u: %s to msgno %u, which is not outstanding",
			      (unsigned)c->num, beep_frame_type_name(f->type), (unsigned)f->msgno);
			return;
		}
		if (om != TAILQ_FIRST(&c->outq)) {
			sfail(s, BEEP_FAIL_REPLY, "channel %u: reply to msgno %u out of order",
			      (unsigned)c->num, (unsigned)f->msgno);
			return;
		}
		if (om->replying && om->rtype != f->type &&
		    !(om->rtype == BEEP_ANS && f->type == BEEP_NUL)) {
			sfail(s, BEEP_FAIL_SEQUENCE, "channel %u: %s after %s for msgno %u",
			      (unsigned)c->num, beep_frame_type_name(f->type),
			      beep_frame_type_name(om->rtype), (unsigned)f->msgno);
			return;
		}
		if (f->type == BEEP_NUL && c->nans > 0) {
			sfail(s, BEEP_FAIL_SEQUENCE, "channel %u: NUL with answers in progress",
			      (unsigned)c->num);
			return;
		}
		om->replying = true;
		om->rtype = f->type;
	}

	/* take the payload in */
	c->rseq += f->size;
	if ((uint32_t)(c->rseq + s->window - c->rlimit) >= s->window / 2 && f->size > 0)
		c->seq_due = true;

	if (f->type == BEEP_ANS) {
		for (i = 0; i < BEEP_SESSION_ANS_MAX; i++)
			if (c->ans[i].used && c->ans[i].ansno == f->ansno)
				ab = &c->ans[i];
		if (ab == NULL) {
			if (c->nans >= BEEP_SESSION_ANS_MAX) {
				sfail(s, BEEP_FAIL_LIMIT, "channel %u: more than %u answers at once",
				      (unsigned)c->num, BEEP_SESSION_ANS_MAX);
				return;
			}
			for (i = 0; i < BEEP_SESSION_ANS_MAX && ab == NULL; i++)
				if (!c->ans[i].used)
					ab = &c->ans[i];
			ab->used = true;
			ab->ansno = f->ansno;
			ab->b.len = 0;
			c->nans++;
		}
		if (c->ansbytes + f->size > s->max_message ||
		    buf_add(&ab->b, f->payload, f->size, s->max_message) != 0) {
			sfail(s, BEEP_FAIL_SIZE, "channel %u: answers over %zu octets",
			      (unsigned)c->num, s->max_message);
			return;
		}
		c->ansbytes += f->size;
		if (f->more) {
			c->rprog = true;
			c->rtype = BEEP_ANS;
			c->rmsgno = f->msgno;
			return;
		}
		c->ansbytes -= ab->b.len;
		ab->used = false;
		c->nans--;
		c->rprog = c->nans > 0;
		deliver(s, c, f, ab->b.p, ab->b.len, om);
		if (ab->b.cap > BEEP_SESSION_FRAME_MAX)
			buf_free(&ab->b);
		return;
	}
	if (buf_add(&c->rbuf, f->payload, f->size, msg_cap(s, c)) != 0) {
		sfail(s, BEEP_FAIL_SIZE, "channel %u: message over %zu octets", (unsigned)c->num,
		      msg_cap(s, c));
		return;
	}
	if (f->more) {
		c->rprog = true;
		c->rtype = f->type;
		c->rmsgno = f->msgno;
		return;
	}
	c->rprog = false;
	{
		/* deliver from a detached buffer: callbacks may queue on c */
		struct buf b = c->rbuf;
		memset(&c->rbuf, 0, sizeof(c->rbuf));
		deliver(s, c, f, b.p, b.len, om);
		if ((c = chan_find(s, f->channel)) != NULL && c->rbuf.p == NULL &&
		    b.cap <= BEEP_SESSION_FRAME_MAX) {
			b.len = 0;
			c->rbuf = b;
		} else
			buf_free(&b);
	}
}

static void
seq_frame(struct beep_session *s, const struct beep_frame *f)
{
	struct chan *c = chan_find(s, f->channel);

	/* a SEQ may cross our <ok/> to a close: ignore unknown channels */
	if (c == NULL)
		return;
	if ((int32_t)(c->sseq - f->ackno) < 0) {
		sfail(s, BEEP_FAIL_SEQNO, "channel %u: SEQ acknowledges %u, only %u sent",
		      (unsigned)c->num, (unsigned)f->ackno, (unsigned)c->sseq);
		return;
	}
	c->slimit = f->ackno + f->window;
}

static void do_reset(struct beep_session *s);

enum beep_input_status
beep_session_input(struct beep_session *s, const uint8_t *in, size_t len, size_t *consumed)
{
	struct beep_frame f;
	enum beep_parse_status st;
	size_t off = 0, used;

	*consumed = 0;
	switch (s->state) {
	case BEEP_SS_GREETING:
	case BEEP_SS_OPEN:
	case BEEP_SS_DETACHING:
		break;
	case BEEP_SS_DETACHED:
		return BEEP_IN_DETACHED;
	case BEEP_SS_RELEASED:
	case BEEP_SS_FAILED:
		return BEEP_IN_DONE;
	}
	s->in_input = true;
	while (off < len && !terminal(s)) {
		st = beep_parse(&s->parser, in + off, len - off, &used, &f);
		off += used;
		s->in_total += used;
		if (st == BEEP_PARSE_ERROR) {
			sfail(s, BEEP_FAIL_FRAME, "frame: %s at offset %llu",
			      s->parser.error != NULL ? s->parser.error : "syntax",
			      (unsigned long long)s->parser.error_offset);
			break;
		}
		if (st == BEEP_PARSE_NEED_MORE)
			break;
		s->frame_start = s->in_total;
		beep_session_counters.frames_in++;
		if (f.type == BEEP_SEQ)
			seq_frame(s, &f);
		else
			data_frame(s, &f);
		if (terminal(s))
			break;
		if (s->detach_req) {
			detach_now(s);
			break;
		}
		/* replies go out as soon as the windows allow (and the reply
		 * that detaches stops the input right here) */
		pump(s);
		if (s->reset_pending)
			do_reset(s);
	}
	s->in_input = false;
	*consumed = off;
	if (!terminal(s))
		pump(s);
	switch (s->state) {
	case BEEP_SS_GREETING:
	case BEEP_SS_OPEN:
	case BEEP_SS_DETACHING:
		return BEEP_IN_OK;
	case BEEP_SS_DETACHED:
		/* detached after a frame: the rest of the input is pipe */
		return BEEP_IN_DETACHED;
	case BEEP_SS_RELEASED:
	case BEEP_SS_FAILED:
		break;
	}
	return BEEP_IN_DONE;
}

void
beep_session_eof(struct beep_session *s)
{
	if (!terminal(s))
		sfail(s, BEEP_FAIL_LOCAL, "peer closed the connection%s",
		      s->in_total != s->frame_start ? " mid-frame" : "");
}

void
beep_session_tick(struct beep_session *s, uint64_t now_ms)
{
	if (!s->t0_set) {
		s->t0_set = true;
		s->t0 = now_ms;
	}
	if (s->state == BEEP_SS_GREETING && s->greeting_timeout_ms > 0 &&
	    now_ms - s->t0 >= s->greeting_timeout_ms)
		sfail(s, BEEP_FAIL_TIMEOUT, "no greeting within %u ms", s->greeting_timeout_ms);
}

/* ---- life cycle ------------------------------------------------------------------ */

static int
send_greeting(struct beep_session *s)
{
	const char *uris[BEEP_SESSION_PROFILES_MAX];
	struct chan *c = s->ch[0];
	struct outmsg *om;
	struct qmsg *m;
	uint8_t *x;
	size_t i, n = 0, xl;
	int r;

	if (s->unavail_code != 0 && s->role == BEEP_LISTENER)
		r = beep_xml_error(s->unavail_code, s->unavail_text, &x, &xl);
	else {
		for (i = 0; i < s->prof.n; i++)
			if (s->prof.p[i].advertise)
				uris[n++] = s->prof.p[i].uri;
		r = beep_xml_greeting(uris, n, s->features, s->localize, &x, &xl);
	}
	if (r != 0)
		return -1;
	m = qmsg_new(s->unavail_code != 0 && s->role == BEEP_LISTENER ? BEEP_ERR : BEEP_RPY, 0,
	             (const uint8_t *)CH0_HDR, CH0_HDR_LEN, x, xl);
	free(x);
	if (m == NULL)
		return -1;
	m->unavailable = s->unavail_code != 0 && s->role == BEEP_LISTENER;
	/* the peer's greeting answers a msgno 0 we never send */
	if ((om = calloc(1, sizeof(*om))) == NULL) {
		free(m);
		return -1;
	}
	om->msgno = 0;
	om->kind = OUT_GREETING;
	TAILQ_INSERT_TAIL(&c->outq, om, entry);
	s->queued += m->len;
	TAILQ_INSERT_TAIL(&c->sendq, m, entry);
	return 0;
}

struct beep_session *
beep_session_new(const struct beep_session_config *cfg)
{
	struct beep_session *s;

	if (cfg == NULL || (cfg->role != BEEP_INITIATOR && cfg->role != BEEP_LISTENER)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->role = cfg->role;
	s->state = BEEP_SS_GREETING;
	s->ops = cfg->ops;
	s->arg = cfg->arg;
	s->max_channels = cfg->max_channels ? cfg->max_channels : BG_BEEP_CHANNELS_MAX;
	s->max_message = cfg->max_message ? cfg->max_message : BG_BEEP_MESSAGE_MAX;
	s->window = cfg->window ? cfg->window : BG_BEEP_WINDOW;
	s->ob_cap = cfg->outbuf_max ? cfg->outbuf_max : BEEP_SESSION_OUTBUF_MAX;
	s->sendq_max = cfg->sendq_max ? cfg->sendq_max : BEEP_SESSION_SENDQ_MAX;
	s->greeting_timeout_ms = cfg->greeting_timeout_ms;
	s->unavail_code = cfg->unavailable_code;
	s->next_chan = s->role == BEEP_INITIATOR ? 1 : 2;
	if (s->window < BG_BEEP_WINDOW || s->window > BEEP_MAX_NUMBER ||
	    s->ob_cap < 2 * (BEEP_SESSION_FRAME_MAX + BEEP_HEADER_MAX) ||
	    (s->unavail_code != 0 && (s->unavail_code < 100 || s->unavail_code > 599))) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	if (profiles_copy(&s->prof, cfg->profiles, cfg->nprofiles) != 0 ||
	    (cfg->features != NULL && (s->features = strdup(cfg->features)) == NULL) ||
	    (cfg->localize != NULL && (s->localize = strdup(cfg->localize)) == NULL) ||
	    (cfg->unavailable_text != NULL &&
	     (s->unavail_text = strdup(cfg->unavailable_text)) == NULL) ||
	    (s->ob = malloc(s->ob_cap)) == NULL ||
	    beep_parser_init(&s->parser, s->window) != 0 ||
	    chan_new(s, 0, CH_OPEN) == NULL ||
	    send_greeting(s) != 0) {
		beep_session_free(s);
		errno = ENOMEM;
		return NULL;
	}
	beep_session_counters.sessions++;
	pump(s);
	return s;
}

void
beep_session_free(struct beep_session *s)
{
	size_t i;

	if (s == NULL)
		return;
	/* channels owed a closed() get it; no other callbacks from here */
	s->ops = NULL;
	while (s->nch > 0) {
		for (i = 0; i < s->nch; i++)
			if (s->ch[i]->num != 0)
				break;
		if (i == s->nch)
			break;
		chan_close(s, s->ch[i], 0);
	}
	for (i = 0; i < s->nch; i++)
		chan_destroy(s, s->ch[i]);
	free(s->ch);
	beep_parser_free(&s->parser);
	profiles_free(&s->prof);
	profiles_free(&s->reset_prof);
	beep_xml_doc_clear(&s->peer);
	free(s->peer_uris);
	free(s->server_name);
	free(s->features);
	free(s->localize);
	free(s->unavail_text);
	free(s->ob);
	free(s);
}

/* ---- accessors ---------------------------------------------------------------------- */

const uint8_t *
beep_session_output(struct beep_session *s, size_t *len)
{
	*len = s->ob_len;
	return s->ob + s->ob_start;
}

void
beep_session_output_done(struct beep_session *s, size_t n)
{
	if (n > s->ob_len)
		n = s->ob_len;
	s->ob_start += n;
	s->ob_len -= n;
	if (s->ob_len == 0)
		s->ob_start = 0;
	if (!s->in_input)
		pump(s);
}

enum beep_session_state
beep_session_state(const struct beep_session *s)
{
	return s->state;
}

const char *
beep_session_state_name(enum beep_session_state st)
{
	switch (st) {
	case BEEP_SS_GREETING:  return "greeting";
	case BEEP_SS_OPEN:      return "open";
	case BEEP_SS_DETACHING: return "detaching";
	case BEEP_SS_DETACHED:  return "detached";
	case BEEP_SS_RELEASED:  return "released";
	case BEEP_SS_FAILED:    return "failed";
	}
	return "?";
}

enum beep_role
beep_session_role(const struct beep_session *s)
{
	return s->role;
}

enum beep_fail
beep_session_fail_code(const struct beep_session *s)
{
	return s->fail;
}

const char *
beep_session_reason(const struct beep_session *s)
{
	return s->reason;
}

const char *
beep_session_fail_name(enum beep_fail f)
{
	switch (f) {
	case BEEP_FAIL_NONE:     return "none";
	case BEEP_FAIL_FRAME:    return "frame";
	case BEEP_FAIL_SEQNO:    return "seqno";
	case BEEP_FAIL_WINDOW:   return "window";
	case BEEP_FAIL_CHANNEL:  return "channel";
	case BEEP_FAIL_MSGNO:    return "msgno";
	case BEEP_FAIL_REPLY:    return "reply";
	case BEEP_FAIL_SEQUENCE: return "sequence";
	case BEEP_FAIL_GREETING: return "greeting";
	case BEEP_FAIL_CH0:      return "channel0";
	case BEEP_FAIL_PARITY:   return "parity";
	case BEEP_FAIL_SIZE:     return "size";
	case BEEP_FAIL_MIME:     return "mime";
	case BEEP_FAIL_LIMIT:    return "limit";
	case BEEP_FAIL_REFUSED:  return "refused";
	case BEEP_FAIL_TIMEOUT:  return "timeout";
	case BEEP_FAIL_LOCAL:    return "local";
	case BEEP_FAIL_COUNT:    break;
	}
	return "?";
}

void
beep_session_abort(struct beep_session *s, const char *reason)
{
	sfail(s, BEEP_FAIL_LOCAL, "%s", reason != NULL ? reason : "aborted");
}

size_t
beep_session_peer_profiles(const struct beep_session *s, const char *const **uris)
{
	*uris = s->peer_uris;
	return s->peer_uris != NULL ? s->peer.nprofiles : 0;
}

bool
beep_session_peer_offers(const struct beep_session *s, const char *uri)
{
	size_t i;

	for (i = 0; s->peer_uris != NULL && i < s->peer.nprofiles; i++)
		if (strcmp(s->peer_uris[i], uri) == 0)
			return true;
	return false;
}

const char *
beep_session_peer_features(const struct beep_session *s)
{
	return s->peer.features;
}

const char *
beep_session_peer_localize(const struct beep_session *s)
{
	return s->peer.localize;
}

const char *
beep_session_server_name(const struct beep_session *s)
{
	return s->server_name;
}

size_t
beep_session_channel_count(const struct beep_session *s)
{
	return chans_besides0(s);
}

bool
beep_session_channel_open(const struct beep_session *s, uint32_t channel)
{
	const struct chan *c = chan_find(s, channel);

	return c != NULL && (c->st == CH_OPEN || c->st == CH_CLOSING);
}

uint32_t
beep_session_send_window(const struct beep_session *s, uint32_t channel)
{
	const struct chan *c = chan_find(s, channel);

	if (c == NULL || (int32_t)(c->slimit - c->sseq) <= 0)
		return 0;
	return c->slimit - c->sseq;
}

size_t
beep_session_queued(const struct beep_session *s)
{
	return s->queued;
}

uint64_t
beep_session_pipe_offset(const struct beep_session *s)
{
	return s->pipe_in;
}

uint64_t
beep_session_output_offset(const struct beep_session *s)
{
	return s->pipe_out;
}

/* ---- actions ------------------------------------------------------------------------- */

static bool
can_send(struct beep_session *s)
{
	if (s->state != BEEP_SS_OPEN) {
		errno = ENOTCONN;
		return false;
	}
	return true;
}

int
beep_session_start_channel(struct beep_session *s, const char *uri, const uint8_t *piggyback,
                           size_t piggyback_len, bool has_piggyback, const char *server_name,
                           const struct beep_channel_ops *ops, void *arg, unsigned flags,
                           uint32_t *channel)
{
	struct outmsg *om = NULL;
	struct chan *c;
	uint32_t num = 0;
	uint8_t *x;
	size_t xl, tries;

	if (!can_send(s))
		return -1;
	if (uri == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (chans_besides0(s) >= s->max_channels) {
		errno = EMFILE;
		return -1;
	}
	if (s->queued >= s->sendq_max) {
		errno = ENOBUFS;
		return -1;
	}
	for (tries = 0; tries < s->max_channels + 2; tries++) {
		num = s->next_chan;
		s->next_chan += 2;
		if (s->next_chan > BEEP_MAX_NUMBER || s->next_chan < 2)
			s->next_chan = s->role == BEEP_INITIATOR ? 1 : 2;
		if (chan_find(s, num) == NULL)
			break;
	}
	if (chan_find(s, num) != NULL) {
		errno = EMFILE;
		return -1;
	}
	if (beep_xml_start(num, server_name, &uri, 1, piggyback, piggyback_len, has_piggyback,
	                   &x, &xl) != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((c = chan_new(s, num, CH_STARTING_OUT)) == NULL || (c->uri = strdup(uri)) == NULL ||
	    (om = ch0_send(s, OUT_START, num, x, xl)) == NULL) {
		if (c != NULL)
			chan_remove(s, c);
		free(x);
		errno = ENOMEM;
		return -1;
	}
	free(x);
	if (ops != NULL)
		c->ops = *ops;
	c->arg = arg;
	om->flags = flags;
	if (channel != NULL)
		*channel = num;
	pump(s);
	return 0;
}

static struct inmsg *
deferred_start(struct beep_session *s, uint32_t channel, struct chan **cp)
{
	struct inmsg *im;
	struct chan *c = chan_find(s, channel);

	if (c == NULL || c->st != CH_STARTING_IN)
		return NULL;
	TAILQ_FOREACH(im, &s->ch[0]->inq, entry)
		if (im->start && im->start_ch == channel && !im->queued) {
			*cp = c;
			return im;
		}
	return NULL;
}

int
beep_session_start_accept(struct beep_session *s, uint32_t channel, const uint8_t *piggyback,
                          size_t piggyback_len, bool has_piggyback, unsigned flags)
{
	struct inmsg *im;
	struct chan *c = NULL;

	if (!can_send(s))
		return -1;
	if ((im = deferred_start(s, channel, &c)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (start_reply_ok(s, im, c, piggyback, piggyback_len, has_piggyback,
	                   (flags & BEEP_REPLY_DETACH) != 0) != 0) {
		errno = EINVAL;
		return -1;
	}
	im->start = false;
	pump(s);
	return 0;
}

int
beep_session_start_refuse(struct beep_session *s, uint32_t channel, unsigned code,
                          const char *text)
{
	struct inmsg *im;
	struct chan *c = NULL;

	if (!can_send(s))
		return -1;
	if ((im = deferred_start(s, channel, &c)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (ch0_reply_error(s, im, code >= 100 && code <= 599 ? code : 550, text) != 0) {
		errno = ENOMEM;
		return -1;
	}
	im->start = false;
	/* the layer above learns nothing more about it: it refused */
	chan_remove(s, c);
	pump(s);
	return 0;
}

static struct qmsg *
build_msg(struct beep_session *s, enum beep_frame_type type, uint32_t msgno,
          const char *content_type, const uint8_t *body, size_t len)
{
	char hdr[192];
	size_t hl = 0;
	struct qmsg *m;

	if (type != BEEP_NUL && mime_header(content_type, hdr, sizeof(hdr), &hl) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (type == BEEP_NUL)
		len = 0;
	if (len > s->max_message || hl + len > s->max_message + sizeof(hdr)) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (s->queued + hl + len > s->sendq_max) {
		errno = ENOBUFS;
		return NULL;
	}
	if ((m = qmsg_new(type, msgno, (const uint8_t *)hdr, hl, body, len)) == NULL)
		errno = ENOMEM;
	return m;
}

int
beep_session_send_msg(struct beep_session *s, uint32_t channel, const char *content_type,
                      const uint8_t *body, size_t len, beep_reply_fn *cb, void *arg,
                      unsigned flags, uint32_t *msgno)
{
	struct chan *c;
	struct outmsg *om, *o;
	struct qmsg *m;
	uint32_t n;
	bool used;

	if (!can_send(s))
		return -1;
	if (channel == 0 || (c = chan_find(s, channel)) == NULL || c->st != CH_OPEN) {
		errno = EBADF;
		return -1;
	}
	do {
		n = c->next_msgno;
		c->next_msgno = c->next_msgno >= BEEP_MAX_NUMBER ? 0 : c->next_msgno + 1;
		used = false;
		TAILQ_FOREACH(o, &c->outq, entry)
			if (o->msgno == n)
				used = true;
	} while (used);
	if ((m = build_msg(s, BEEP_MSG, n, content_type, body, len)) == NULL)
		return -1;
	if ((om = calloc(1, sizeof(*om))) == NULL) {
		free(m);
		errno = ENOMEM;
		return -1;
	}
	om->msgno = n;
	om->kind = OUT_USER;
	om->cb = cb;
	om->arg = arg;
	om->flags = flags;
	TAILQ_INSERT_TAIL(&c->outq, om, entry);
	s->queued += m->len;
	TAILQ_INSERT_TAIL(&c->sendq, m, entry);
	if (msgno != NULL)
		*msgno = n;
	pump(s);
	return 0;
}

int
beep_session_reply(struct beep_session *s, uint32_t channel, uint32_t msgno,
                   enum beep_frame_type type, const char *content_type, const uint8_t *body,
                   size_t len, unsigned flags)
{
	struct chan *c;
	struct inmsg *im;
	struct qmsg *m;

	if (!can_send(s))
		return -1;
	if ((c = chan_find(s, channel)) == NULL || channel == 0 ||
	    (c->st != CH_OPEN && c->st != CH_CLOSING)) {
		errno = EINVAL;
		return -1;
	}
	TAILQ_FOREACH(im, &c->inq, entry)
		if (im->msgno == msgno && !im->queued)
			break;
	if (im == NULL) {
		errno = EINVAL;
		return -1;
	}
	switch (type) {
	case BEEP_RPY:
	case BEEP_ERR:
		if (im->answering) {
			errno = EINVAL;
			return -1;
		}
		break;
	case BEEP_ANS:
	case BEEP_NUL:
		if (flags & BEEP_REPLY_DETACH) {
			errno = EINVAL;
			return -1;
		}
		break;
	case BEEP_MSG:
	case BEEP_SEQ:
		errno = EINVAL;
		return -1;
	}
	if ((m = build_msg(s, type, msgno, content_type, body, len)) == NULL)
		return -1;
	m->detach = (flags & BEEP_REPLY_DETACH) != 0;
	queue_reply(s, c, im, m);
	if (m->detach)
		s->state = BEEP_SS_DETACHING;
	pump(s);
	return 0;
}

int
beep_session_reply_then_detach(struct beep_session *s, uint32_t channel, uint32_t msgno,
                               enum beep_frame_type type, const char *content_type,
                               const uint8_t *body, size_t len)
{
	return beep_session_reply(s, channel, msgno, type, content_type, body, len,
	                          BEEP_REPLY_DETACH);
}

void
beep_session_detach(struct beep_session *s)
{
	if (terminal(s))
		return;
	if (s->in_input)
		s->detach_req = true;
	else
		detach_now(s);
}

static int
send_close(struct beep_session *s, enum out_kind kind, uint32_t channel, unsigned code,
           const char *text, beep_reply_fn *done, void *arg)
{
	struct outmsg *om;
	struct chan *c = NULL;
	uint8_t *x;
	size_t xl;

	if (!can_send(s))
		return -1;
	if (kind == OUT_CLOSE &&
	    (channel == 0 || (c = chan_find(s, channel)) == NULL || c->st != CH_OPEN)) {
		errno = EBADF;
		return -1;
	}
	if (beep_xml_close(channel, code, text, &x, &xl) != 0) {
		errno = EINVAL;
		return -1;
	}
	om = ch0_send(s, kind, channel, x, xl);
	free(x);
	if (om == NULL) {
		errno = ENOMEM;
		return -1;
	}
	om->cb = done;
	om->arg = arg;
	if (c != NULL)
		c->st = CH_CLOSING;
	pump(s);
	return 0;
}

int
beep_session_close_channel(struct beep_session *s, uint32_t channel, unsigned code,
                           const char *text, beep_reply_fn *done, void *arg)
{
	return send_close(s, OUT_CLOSE, channel, code, text, done, arg);
}

int
beep_session_release(struct beep_session *s, unsigned code, const char *text,
                     beep_reply_fn *done, void *arg)
{
	return send_close(s, OUT_RELEASE, 0, code, text, done, arg);
}

/* ---- tuning reset ------------------------------------------------------------------- */

static void
do_reset(struct beep_session *s)
{
	struct chan *c;
	size_t i;

	s->reset_pending = false;
	/* what is queued before the reset (the reply that asked for it) goes
	 * out first */
	pump(s);
	/* implicit close of every channel; a start in flight fails */
	while (s->nch > 1) {
		for (i = 0; i < s->nch && s->ch[i]->num == 0; i++)
			;
		c = s->ch[i];
		if (c->st == CH_STARTING_OUT && c->ops.started != NULL) {
			struct beep_start_result r;
			struct beep_channel_ops ops = c->ops;
			void *arg = c->arg;
			memset(&r, 0, sizeof(r));
			r.channel = c->num;
			r.code = 421;
			r.text = "tuning reset";
			chan_remove(s, c);
			CALLBACK(s, ops.started(s, arg, &r));
		} else
			chan_close(s, c, 0);
	}
	for (i = 0; i < s->nch; i++)
		chan_destroy(s, s->ch[i]);
	s->nch = 0;
	if (s->reset_new_prof) {
		profiles_free(&s->prof);
		s->prof = s->reset_prof;
		s->reset_prof.p = NULL;
		s->reset_prof.n = 0;
		s->reset_new_prof = false;
	}
	beep_xml_doc_clear(&s->peer);
	free(s->peer_uris);
	s->peer_uris = NULL;
	free(s->server_name);
	s->server_name = NULL;
	beep_parser_reset(&s->parser);
	s->frame_start = s->in_total;
	s->detach_req = false;
	s->next_chan = s->role == BEEP_INITIATOR ? 1 : 2;
	s->state = BEEP_SS_GREETING;
	if (chan_new(s, 0, CH_OPEN) == NULL || send_greeting(s) != 0) {
		sfail(s, BEEP_FAIL_LOCAL, "out of memory in tuning reset");
		return;
	}
	if (!s->in_input)
		pump(s);
}

int
beep_session_tuning_reset(struct beep_session *s, const struct beep_profile *profiles,
                          size_t nprofiles)
{
	switch (s->state) {
	case BEEP_SS_GREETING:
	case BEEP_SS_OPEN:
	case BEEP_SS_DETACHING:
	case BEEP_SS_DETACHED:
		break;
	case BEEP_SS_RELEASED:
	case BEEP_SS_FAILED:
		errno = ENOTCONN;
		return -1;
	}
	if (profiles != NULL) {
		profiles_free(&s->reset_prof);
		if (profiles_copy(&s->reset_prof, profiles, nprofiles) != 0) {
			errno = EINVAL;
			return -1;
		}
		s->reset_new_prof = true;
	}
	if (s->cb_depth > 0 || s->in_input) {
		/* inside a callback: after the frame being handled */
		s->reset_pending = true;
		return 0;
	}
	if (s->state == BEEP_SS_DETACHING) {
		/* let the reply that detaches go out first */
		pump(s);
	}
	do_reset(s);
	return 0;
}
