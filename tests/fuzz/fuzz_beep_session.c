/* Fuzz target: bytes fed to a listener session in splits.  The first input
 * octet chooses the split size; profiles accept, defer and echo so that
 * replies, deferred starts and detaching are all reachable.  Invariants: the
 * session never consumes more than it was given, a detach reports an offset
 * inside the stream, and nothing is emitted after a failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/beep_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_message(struct beep_session *s, void *arg, const struct beep_msg *m)
{
	(void)arg;
	if (m->len > 0 && m->body[0] == 'A') {
		beep_session_reply(s, m->channel, m->msgno, BEEP_ANS, NULL, m->body, m->len, 0);
		beep_session_reply(s, m->channel, m->msgno, BEEP_NUL, NULL, NULL, 0, 0);
	} else if (m->len > 0 && m->body[0] == 'D')
		beep_session_reply_then_detach(s, m->channel, m->msgno, BEEP_RPY, NULL, m->body, m->len);
	else
		beep_session_reply(s, m->channel, m->msgno, BEEP_RPY, m->content_type, m->body,
		                   m->len, 0);
}

static enum beep_start_verdict
fz_start(struct beep_session *s, void *arg, const struct beep_start_req *r,
         struct beep_start_answer *a)
{
	(void)s; (void)arg;
	if (r->has_piggyback && r->piggyback_len > 0) {
		switch (r->piggyback[0]) {
		case 'd':
			return BEEP_START_DEFER;
		case 'e':
			a->code = 554;
			a->text = "no";
			return BEEP_START_ERROR;
		case 'x':
			a->detach = true;
			break;
		case 't':
			beep_session_tuning_reset(s, NULL, 0);
			break;
		}
		a->has_piggyback = true;
		a->piggyback = r->piggyback;
		a->piggyback_len = r->piggyback_len;
	}
	return BEEP_START_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct beep_profile prof[2];
	struct beep_session_config cfg;
	struct beep_session *s;
	size_t split, off = 0, n, used, olen;
	enum beep_input_status st = BEEP_IN_OK;

	if (size < 1)
		return 0;
	split = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	memset(prof, 0, sizeof(prof));
	prof[0].uri = "http://iana.org/beep/TUNNEL";
	prof[0].advertise = true;
	prof[0].start = fz_start;
	prof[0].ops.message = fz_message;
	prof[1] = prof[0];
	prof[1].uri = "urn:test:echo";
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = BEEP_LISTENER;
	cfg.profiles = prof;
	cfg.nprofiles = 2;
	cfg.max_channels = 300;
	cfg.max_message = 16384;
	if ((s = beep_session_new(&cfg)) == NULL)
		return 0;
	while (off < size && st == BEEP_IN_OK) {
		n = size - off < split ? size - off : split;
		st = beep_session_input(s, data + off, n, &used);
		if (used > n)
			abort();
		off += used;
		if (st == BEEP_IN_DETACHED && beep_session_pipe_offset(s) != off)
			abort();
		beep_session_output(s, &olen);
		if (beep_session_state(s) == BEEP_SS_FAILED && olen > 0)
			beep_session_output_done(s, olen);
		/* drain half the output each round: exercises a slow reader */
		beep_session_output_done(s, olen / 2 + 1);
		if (st == BEEP_IN_DETACHED && split % 3 == 0 &&
		    beep_session_tuning_reset(s, NULL, 0) == 0)
			st = BEEP_IN_OK;
	}
	if (beep_session_state(s) == BEEP_SS_FAILED) {
		beep_session_output(s, &olen);
		beep_session_output_done(s, olen);
		beep_session_input(s, data, size, &used);
		beep_session_output(s, &olen);
		if (olen != 0 || used != 0)
			abort();
	}
	beep_session_free(s);
	return 0;
}
