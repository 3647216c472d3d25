/* log: syslog or stderr logging, and rate-limited lines for hostile input. */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <time.h>

/* foreground: log to stderr; verbose: 0 info, 1 debug. */
void log_init(const char *ident, int foreground, int verbose);
void log_set_verbose(int verbose);
int log_get_verbose(void);
void log_close(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)

/* A rate limiter for one kind of event: at most one line per `interval`
 * seconds; the lines suppressed meanwhile are counted and reported with the
 * next line that goes out.  Zero-initialise; set interval (default 1 s). */
struct log_ratelimit {
	time_t   last;
	time_t   interval;
	uint64_t suppressed;
	uint64_t total;
};
void log_limited(struct log_ratelimit *rl, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies s into buf for a quoted log field, as the policy audit lines
 * write values from the network: '"' and '\' backslash-escaped, control
 * and non-ASCII bytes \xHH, so no text can end a field or a line.  Cut
 * (never mid-escape) when buf is short; returns buf. */
#define LOG_QUOTE_MAX 1024
const char *log_quote(const char *s, char *buf, size_t len);

/* Formats an address for logs ("127.0.0.1:604", "[::1]:1") into buf. */
struct sockaddr;
const char *log_addr(const struct sockaddr *sa, char *buf, unsigned int len);
#define LOG_ADDRSTRLEN 64
#endif
