#include "relay/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static int log_fg = 1;
static int log_verbose;
static const char *log_ident = "beepgated";

void
log_init(const char *ident, int foreground, int verbose)
{
	log_ident = ident;
	log_fg = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

void
log_close(void)
{
	if (!log_fg)
		closelog();
}

static void log_vmsg(int, const char *, va_list) __attribute__((format(printf, 2, 0)));
static void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	static const char *names[] = { "emerg", "alert", "crit", "error", "warning",
	                               "notice", "info", "debug" };
	char line[2048];

	if (prio == LOG_DEBUG && log_verbose < 1)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_fg) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%s]: %s\n", stamp, ts.tv_nsec / 1000000L,
		        log_ident, names[prio & 7], line);
	} else
		syslog(prio, "%s", line);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void
log_limited(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;
	char line[1536];
	time_t interval = rl->interval > 0 ? rl->interval : 1;

	rl->total++;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (rl->last != 0 && now.tv_sec - rl->last < interval) {
		rl->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (rl->suppressed > 0)
		log_msg(prio, "%s (%llu similar suppressed)", line,
		        (unsigned long long)rl->suppressed);
	else
		log_msg(prio, "%s", line);
	rl->suppressed = 0;
	rl->last = now.tv_sec == 0 ? 1 : now.tv_sec;
}

const char *
log_addr(const struct sockaddr *sa, char *buf, unsigned int len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa == NULL) {
		snprintf(buf, len, "-");
		return buf;
	}
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(buf, len, "unix");
		break;
	default:
		snprintf(buf, len, "af%d", sa->sa_family);
	}
	return buf;
}

const char *
log_quote(const char *s, char *buf, size_t len)
{
	size_t i, j = 0;
	unsigned char ch;

	if (len == 0)
		return buf;
	for (i = 0; s[i] != '\0' && j + 5 < len; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			buf[j++] = (char)ch;
		else if (ch == '"' || ch == '\\') {
			buf[j++] = '\\';
			buf[j++] = (char)ch;
		} else
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", ch);
	}
	buf[j] = '\0';
	return buf;
}
