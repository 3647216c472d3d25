#include "bt_stdio.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One direction: a buffer filled from src and drained to dst. */
struct bt_stdio_dir {
	uint8_t *buf;
	size_t   size, off, len;  /* pending octets: buf[off..off+len) */
	bool     eof;             /* src ended */
};

static int
bt_stdio_err(char *err, size_t errlen, const char *what, int e)
{
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -1;
}

/* 1 progress, 0 would block, -1 error (errno) */
static int
bt_stdio_fill(struct bt_stdio_dir *d, int fd)
{
	ssize_t n;

	n = read(fd, d->buf, d->size);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	if (n == 0)
		d->eof = true;
	d->off = 0;
	d->len = (size_t)n;
	return 1;
}

static int
bt_stdio_drain(struct bt_stdio_dir *d, int fd)
{
	ssize_t n;

	n = write(fd, d->buf + d->off, d->len);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	d->off += (size_t)n;
	d->len -= (size_t)n;
	return 1;
}

int
bt_stdio_run(int sock, int in, int out, const uint8_t *rest, size_t nrest,
             char *err, size_t errlen)
{
	struct bt_stdio_dir up, down;   /* stdin -> sock, sock -> stdout */
	struct pollfd pfd[3];
	bool shut = false;
	int rc = -1, i;

	memset(&up, 0, sizeof(up));
	memset(&down, 0, sizeof(down));
	up.size = BT_STDIO_BUFFER;
	down.size = nrest > BT_STDIO_BUFFER ? nrest : BT_STDIO_BUFFER;
	up.buf = malloc(up.size);
	down.buf = malloc(down.size);
	if (up.buf == NULL || down.buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (nrest > 0)
		memcpy(down.buf, rest, nrest);
	down.len = nrest;
	for (;;) {
		if (up.eof && up.len == 0 && !shut) {
			/* everything from stdin is out: half-close */
			if (shutdown(sock, SHUT_WR) != 0 && errno != ENOTCONN) {
				bt_stdio_err(err, errlen, "shutdown toward the tunnel", errno);
				goto out;
			}
			shut = true;
		}
		if (down.eof && down.len == 0) {
			rc = 0;
			break;
		}
		for (i = 0; i < 3; i++) {
			pfd[i].fd = -1;
			pfd[i].events = 0;
			pfd[i].revents = 0;
		}
		if (!up.eof && up.len == 0) {
			pfd[0].fd = in;
			pfd[0].events = POLLIN;
		}
		if (down.len > 0) {
			pfd[1].fd = out;
			pfd[1].events = POLLOUT;
		}
		if ((!down.eof && down.len == 0) || up.len > 0) {
			pfd[2].fd = sock;
			pfd[2].events = (short)(((!down.eof && down.len == 0) ? POLLIN : 0) |
			                        (up.len > 0 ? POLLOUT : 0));
		}
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			bt_stdio_err(err, errlen, "poll", errno);
			goto out;
		}
		if (pfd[0].revents != 0 && bt_stdio_fill(&up, in) < 0) {
			bt_stdio_err(err, errlen, "reading stdin", errno);
			goto out;
		}
		if (pfd[2].revents != 0 && (pfd[2].events & POLLIN) &&
		    bt_stdio_fill(&down, sock) < 0) {
			bt_stdio_err(err, errlen, "reading from the tunnel", errno);
			goto out;
		}
		if (pfd[2].revents != 0 && up.len > 0 && bt_stdio_drain(&up, sock) < 0) {
			if (errno == EPIPE || errno == ECONNRESET) {
				/* the far end no longer reads: drop what stdin gives */
				up.len = 0;
				up.eof = true;
				shut = true;
			} else {
				bt_stdio_err(err, errlen, "writing to the tunnel", errno);
				goto out;
			}
		}
		if (pfd[1].revents != 0 && bt_stdio_drain(&down, out) < 0) {
			bt_stdio_err(err, errlen, "writing stdout", errno);
			goto out;
		}
	}
out:
	free(up.buf);
	free(down.buf);
	close(sock);
	return rc;
}
