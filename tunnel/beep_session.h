/* beep_session: one BEEP session (RFC 3080 over RFC 3081) in either role,
 * as a pure state machine: bytes in (beep_session_input), bytes out (an
 * output buffer the owner drains), events through callbacks.  It never
 * touches a socket or an event loop.
 *
 * What it does:
 *  - sends its greeting at creation (both roles; never waits for the
 *    peer's), requires the peer's greeting as the first frame (RPY 0 0);
 *  - channel 0: start / close / session release, with the profiles the
 *    layer above registered (struct beep_profile); a start may be answered
 *    at once or deferred (beep_session_start_accept/_refuse later);
 *  - channels: numbering by role (odd from the initiator, even from the
 *    listener), msgno rules, replies in MSG order, ANS/NUL, reassembly of
 *    '*' frames up to max_message, MIME entity headers;
 *  - RFC 3081 flow control: a receive window per channel (SEQ sent as
 *    payload is taken in), never a frame beyond the peer's window (messages
 *    are queued and split into frames);
 *  - poorly formed input (RFC 3080 2.2.1.1) ends the session without a
 *    reply: state BEEP_SS_FAILED, a reason, a counter;
 *  - "stop at an exact byte": after a given reply is sent (listener side)
 *    or received (initiator side) the stream becomes a pipe; the session
 *    reports the exact input offset, hands every later byte back untouched
 *    and emits nothing more;
 *  - tuning reset (RFC 3080 2.3.1.2, RFC 3620 sec. 4);
 *  - bounded memory: output buffer, send queue, receive buffers.
 *
 * Callbacks run synchronously from inside beep_session_* calls.  They may
 * call the sending/replying functions of the same session, but never
 * beep_session_free.  After any call, the owner drains beep_session_output()
 * and checks beep_session_state(). */
#ifndef TUNNEL_BEEP_SESSION_H
#define TUNNEL_BEEP_SESSION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/limits.h"
#include "tunnel/beep_frame.h"

#define BEEP_SESSION_FRAME_MAX     4096            /* fixed: payload per frame we send */
#define BEEP_SESSION_OUTBUF_MAX    (64 * 1024)     /* default: serialized, undrained output */
#define BEEP_SESSION_SENDQ_MAX     (2 * BG_BEEP_MESSAGE_MAX) /* default: queued, unframed payload */
#define BEEP_SESSION_PIPELINE_MAX  128             /* fixed: peer MSGs awaiting our reply, per channel */
#define BEEP_SESSION_ANS_MAX       8               /* fixed: ANS in progress at once, per channel */
#define BEEP_SESSION_PROFILES_MAX  32              /* fixed: profiles registered */
#define BEEP_SESSION_REASON_MAX    160             /* size of the failure reason text */
#define BEEP_MIME_HEADERS_MAX      1024            /* fixed: entity headers of one message */
#define BEEP_CT_BEEPXML            "application/beep+xml"
#define BEEP_CT_DEFAULT            "application/octet-stream"
#define BEEP_CTE_DEFAULT           "binary"

struct beep_session;

enum beep_role { BEEP_INITIATOR, BEEP_LISTENER };

enum beep_session_state {
	BEEP_SS_GREETING,   /* our greeting sent; waiting for the peer's */
	BEEP_SS_OPEN,       /* greetings exchanged */
	BEEP_SS_DETACHING,  /* a detach reply is queued behind the peer's window */
	BEEP_SS_DETACHED,   /* the stream is a pipe from beep_session_pipe_offset() */
	BEEP_SS_RELEASED,   /* session released in order (<close number='0'> + <ok/>) */
	BEEP_SS_FAILED,     /* terminated: beep_session_reason() says why */
};

/* Why a session failed; counted in beep_session_counters.fail[]. */
enum beep_fail {
	BEEP_FAIL_NONE,
	BEEP_FAIL_FRAME,        /* frame syntax (beep_frame parser error) */
	BEEP_FAIL_SEQNO,        /* seqno not the expected one */
	BEEP_FAIL_WINDOW,       /* frame beyond the window we advertised */
	BEEP_FAIL_CHANNEL,      /* frame on a channel that is not open */
	BEEP_FAIL_MSGNO,        /* MSG reusing a msgno still awaiting our reply */
	BEEP_FAIL_REPLY,        /* reply to a msgno never sent / already answered / out of order */
	BEEP_FAIL_SEQUENCE,     /* interleaving, keyword change, NUL rules, ansno */
	BEEP_FAIL_GREETING,     /* first frame not a greeting, or a bad greeting */
	BEEP_FAIL_CH0,          /* poorly formed reply on channel 0 */
	BEEP_FAIL_PARITY,       /* start with the wrong channel parity */
	BEEP_FAIL_SIZE,         /* message over max_message, MIME headers too long */
	BEEP_FAIL_MIME,         /* poorly formed MIME entity headers in a reply */
	BEEP_FAIL_LIMIT,        /* too many channels/pipelined MSGs/answers */
	BEEP_FAIL_REFUSED,      /* the peer answered our greeting with <error> */
	BEEP_FAIL_TIMEOUT,      /* greeting did not arrive in time */
	BEEP_FAIL_LOCAL,        /* out of memory, or the owner called beep_session_abort */
	BEEP_FAIL_COUNT
};

/* Process-wide counters for metrics (the daemon is single-threaded). */
struct beep_session_counters {
	uint64_t sessions;          /* created */
	uint64_t frames_in, frames_out;
	uint64_t channels_started;  /* either side */
	uint64_t detached;
	uint64_t released;
	uint64_t failed;
	uint64_t fail[BEEP_FAIL_COUNT];
};
extern struct beep_session_counters beep_session_counters;

/* A received message, reassembled (MSG, RPY, ERR, one ANS, or NUL). */
struct beep_msg {
	enum beep_frame_type type;
	uint32_t channel;
	uint32_t msgno;
	uint32_t ansno;                /* ANS only */
	const char *content_type;      /* lower-case; default BEEP_CT_DEFAULT */
	const char *transfer_encoding; /* lower-case; default BEEP_CTE_DEFAULT */
	const uint8_t *body;           /* after the entity headers */
	size_t   len;
	const uint8_t *payload;        /* the whole message, headers included */
	size_t   payload_len;
};

/* A start request from the peer, for one of our registered profiles. */
struct beep_start_req {
	uint32_t channel;
	uint32_t msgno;            /* channel-0 msgno of the <start> */
	const char *uri;           /* first proposed profile that we registered */
	const char *server_name;   /* or NULL */
	bool     has_piggyback;
	const uint8_t *piggyback;  /* decoded <profile> content */
	size_t   piggyback_len;
};

enum beep_start_verdict {
	BEEP_START_OK,      /* reply <profile uri=.../> now (answer->piggyback optional) */
	BEEP_START_ERROR,   /* reply <error code=answer->code>answer->text</error> now */
	BEEP_START_DEFER,   /* reply later with beep_session_start_accept/_refuse */
};

/* Filled in by a profile's start callback (zeroed before the call). */
struct beep_start_answer {
	void    *chan_arg;         /* handed to the channel callbacks (OK, DEFER) */
	bool     has_piggyback;    /* OK: content for our <profile> reply (copied) */
	const uint8_t *piggyback;
	size_t   piggyback_len;
	bool     detach;           /* OK: the stream becomes a pipe after this reply */
	unsigned code;             /* ERROR: 3 digits (default 550) */
	const char *text;          /* ERROR: or NULL */
};

/* The outcome of a start we sent. */
struct beep_start_result {
	bool     ok;               /* RPY <profile>; else ERR <error> */
	uint32_t channel;
	const char *uri;           /* ok: the profile the peer chose */
	bool     has_piggyback;    /* ok: its content */
	const uint8_t *piggyback;
	size_t   piggyback_len;
	unsigned code;             /* !ok: the error code, text, xml:lang */
	const char *text;
	const char *lang;
	const struct beep_msg *msg;/* the reply itself */
};

/* Callbacks of one channel (the same for channels we start and channels the
 * peer starts).  All optional. */
struct beep_channel_ops {
	/* A start we sent was answered; on !ok the channel no longer exists. */
	void (*started)(struct beep_session *, void *arg, const struct beep_start_result *);
	/* A complete MSG from the peer; answer with beep_session_reply (now or
	 * later, in any order: the session sends replies in MSG order). */
	void (*message)(struct beep_session *, void *arg, const struct beep_msg *);
	/* The peer asks to close the channel: return 0 to accept (the session
	 * answers <ok/> once the channel is idle, else 550), or a reply code. */
	unsigned (*close_req)(struct beep_session *, void *arg, uint32_t channel);
	/* The channel is gone: closed by either side (code 200), tuning reset
	 * or beep_session_free (code 0).  Called exactly once per channel that
	 * was opened (or whose start we deferred and did not refuse); a start we sent that was
	 * refused only gets started(!ok).  Replies still outstanding on the
	 * channel are not called back. */
	void (*closed)(struct beep_session *, void *arg, uint32_t channel, unsigned code);
};

/* A profile the peer may start (and that we may list in our greeting). */
struct beep_profile {
	const char *uri;           /* copied */
	bool        advertise;     /* list in our greeting */
	enum beep_start_verdict (*start)(struct beep_session *, void *arg,
	                                 const struct beep_start_req *,
	                                 struct beep_start_answer *);
	struct beep_channel_ops ops;
	void       *arg;           /* given to start() */
};

/* A reply to a MSG we sent: called for RPY or ERR, or for each ANS then the
 * final NUL.  The session forgets the MSG after RPY/ERR/NUL. */
typedef void beep_reply_fn(struct beep_session *, void *arg, const struct beep_msg *);

/* Session-level events.  All optional. */
struct beep_session_ops {
	void (*greeting)(struct beep_session *, void *arg);   /* peer greeting parsed */
	void (*output)(struct beep_session *, void *arg);     /* new bytes in the output buffer */
	/* State became DETACHED, RELEASED or FAILED. */
	void (*done)(struct beep_session *, void *arg, enum beep_session_state);
	/* Peer asked to release the session (<close number='0'>): return 0 to
	 * accept (<ok/>, then RELEASED), or a reply code to decline.  Without
	 * this callback: accepted when no channel other than 0 is open. */
	unsigned (*release_req)(struct beep_session *, void *arg);
};

struct beep_session_config {
	enum beep_role role;
	const struct beep_profile *profiles;   /* copied */
	size_t   nprofiles;
	const char *features;      /* greeting attributes, or NULL */
	const char *localize;
	uint32_t max_channels;     /* open channels besides 0; 0: BG_BEEP_CHANNELS_MAX */
	size_t   max_message;      /* reassembled message; 0: BG_BEEP_MESSAGE_MAX */
	uint32_t window;           /* receive window per channel; 0: BG_BEEP_WINDOW */
	size_t   outbuf_max;       /* 0: BEEP_SESSION_OUTBUF_MAX (min 2 frames) */
	size_t   sendq_max;        /* 0: BEEP_SESSION_SENDQ_MAX */
	unsigned greeting_timeout_ms; /* 0: none (the relay has its own deadline) */
	/* Listener only: non-zero sends <error code=...> instead of a greeting
	 * (RFC 3080 2.4, "unavailable"); the session then ends RELEASED once the
	 * peer greeting arrives or at once when the output is drained. */
	unsigned unavailable_code;
	const char *unavailable_text;
	const struct beep_session_ops *ops;
	void    *arg;
};

/* Creates the session and queues our greeting.  NULL on bad config or
 * memory (errno set). */
struct beep_session *beep_session_new(const struct beep_session_config *cfg);
/* NULL-safe.  Calls closed() for every channel still open. */
void beep_session_free(struct beep_session *s);

enum beep_input_status {
	BEEP_IN_OK,         /* all input consumed */
	BEEP_IN_DETACHED,   /* stopped at the pipe: in[*consumed..len) is not ours */
	BEEP_IN_DONE,       /* RELEASED or FAILED: stop reading */
};
/* Feeds received bytes.  *consumed: octets used (== len for BEEP_IN_OK).
 * For BEEP_IN_DETACHED the pipe starts exactly at in + *consumed. */
enum beep_input_status beep_session_input(struct beep_session *s, const uint8_t *in,
                                          size_t len, size_t *consumed);
/* The peer closed its side (EOF): FAILED("peer closed") unless RELEASED or
 * DETACHED already. */
void beep_session_eof(struct beep_session *s);
/* Timer tick, monotonic milliseconds. */
void beep_session_tick(struct beep_session *s, uint64_t now_ms);

/* Output: bytes to write to the peer.  Drain with output_done(n). */
const uint8_t *beep_session_output(struct beep_session *s, size_t *len);
void beep_session_output_done(struct beep_session *s, size_t n);

enum beep_session_state beep_session_state(const struct beep_session *s);
const char *beep_session_state_name(enum beep_session_state st);
enum beep_role beep_session_role(const struct beep_session *s);
/* FAILED: the category and text ("frame: bad seqno at offset 123"). */
enum beep_fail beep_session_fail_code(const struct beep_session *s);
const char *beep_session_reason(const struct beep_session *s);
const char *beep_session_fail_name(enum beep_fail f);
/* Ends the session locally (FAILED, BEEP_FAIL_LOCAL, reason copied). */
void beep_session_abort(struct beep_session *s, const char *reason);

/* Peer greeting (valid in OPEN and later; NULL/0 before). */
size_t beep_session_peer_profiles(const struct beep_session *s, const char *const **uris);
bool beep_session_peer_offers(const struct beep_session *s, const char *uri);
const char *beep_session_peer_features(const struct beep_session *s);
const char *beep_session_peer_localize(const struct beep_session *s);
/* serverName of the first successful start received, or NULL. */
const char *beep_session_server_name(const struct beep_session *s);

/* Starting channels ourselves: sends <start> with one profile (plus optional
 * piggybacked content), picking the next free number of our parity.
 * ops->started tells the outcome.  flags: BEEP_START_DETACH_ON_OK stops
 * parsing right after the positive reply (the initiator side of TUNNEL).
 * Returns 0 and *channel, or -1 (errno: ENOTCONN not OPEN, EMFILE no channel
 * number/limit, ENOBUFS send queue full, EINVAL bad content). */
#define BEEP_START_DETACH_ON_OK  0x1
int beep_session_start_channel(struct beep_session *s, const char *uri,
                               const uint8_t *piggyback, size_t piggyback_len,
                               bool has_piggyback, const char *server_name,
                               const struct beep_channel_ops *ops, void *arg,
                               unsigned flags, uint32_t *channel);

/* Answers a deferred start (BEEP_START_DEFER).  accept: flags may be
 * BEEP_REPLY_DETACH. */
int beep_session_start_accept(struct beep_session *s, uint32_t channel,
                              const uint8_t *piggyback, size_t piggyback_len,
                              bool has_piggyback, unsigned flags);
int beep_session_start_refuse(struct beep_session *s, uint32_t channel,
                              unsigned code, const char *text);

/* Sends a MSG on an open channel (not 0).  content_type NULL: no entity
 * headers (BEEP_CT_DEFAULT).  The reply goes to cb.  flags:
 * BEEP_MSG_DETACH_ON_RPY stops parsing right after a positive reply (RPY).
 * Returns 0 (and *msgno if not NULL) or -1 (errno ENOTCONN, EBADF channel,
 * ENOBUFS queue full, EMSGSIZE). */
#define BEEP_MSG_DETACH_ON_RPY   0x1
int beep_session_send_msg(struct beep_session *s, uint32_t channel,
                          const char *content_type, const uint8_t *body, size_t len,
                          beep_reply_fn *cb, void *arg, unsigned flags, uint32_t *msgno);

/* Replies to the peer's MSG (channel, msgno) with RPY, ERR, ANS (each call
 * one answer, ansno assigned in order) or NUL (ends an ANS series; body
 * ignored).  flags: BEEP_REPLY_DETACH: after the final frame of this reply
 * the stream becomes a pipe (RPY/ERR only).  Returns 0 or -1 (errno EINVAL
 * no such MSG pending / wrong type, ENOBUFS, EMSGSIZE). */
#define BEEP_REPLY_DETACH        0x1
int beep_session_reply(struct beep_session *s, uint32_t channel, uint32_t msgno,
                       enum beep_frame_type type, const char *content_type,
                       const uint8_t *body, size_t len, unsigned flags);
/* = beep_session_reply(s, ch, msgno, type, ct, body, len, BEEP_REPLY_DETACH) */
int beep_session_reply_then_detach(struct beep_session *s, uint32_t channel,
                                   uint32_t msgno, enum beep_frame_type type,
                                   const char *content_type, const uint8_t *body,
                                   size_t len);

/* From inside a callback that delivers a received message: stop parsing
 * right after the frame that completed it (the input offset is reported by
 * beep_session_input).  Outside input: detach now.  Either way, nothing
 * is emitted after the output already buffered. */
void beep_session_detach(struct beep_session *s);
/* DETACHED: stream offset (octets since creation) where the pipe starts,
 * in input and in output. */
uint64_t beep_session_pipe_offset(const struct beep_session *s);
uint64_t beep_session_output_offset(const struct beep_session *s);

/* Closes a channel (<close number=ch code=...>); done gets the RPY <ok/>
 * or ERR <error> (ops->closed follows an <ok/>).  Returns 0 or -1. */
int beep_session_close_channel(struct beep_session *s, uint32_t channel, unsigned code,
                               const char *text, beep_reply_fn *done, void *arg);
/* Releases the session (<close number='0'>); RELEASED on <ok/>. */
int beep_session_release(struct beep_session *s, unsigned code, const char *text,
                         beep_reply_fn *done, void *arg);

/* Tuning reset: every channel (and channel 0) is closed implicitly
 * (closed(code 0) called), all state dropped, the parser restarted at the
 * next octet, a new greeting queued (profiles: new set, or NULL to keep the
 * current one).  Allowed in OPEN, DETACHING (after the reply) and DETACHED
 * (the owner ran TLS over the pipe and resumes BEEP on it).  Returns 0/-1. */
int beep_session_tuning_reset(struct beep_session *s, const struct beep_profile *profiles,
                              size_t nprofiles);

/* Introspection (tests, metrics). */
size_t   beep_session_channel_count(const struct beep_session *s);  /* besides 0 */
bool     beep_session_channel_open(const struct beep_session *s, uint32_t channel);
/* Octets we may still send on channel (peer window), or 0. */
uint32_t beep_session_send_window(const struct beep_session *s, uint32_t channel);
size_t   beep_session_queued(const struct beep_session *s);  /* unframed payload */
#endif
