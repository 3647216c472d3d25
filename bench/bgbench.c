/* bgbench: load generator and test servers for bench/run.sh.
 *
 *   bgbench server PORT MODE          MODE: echo | sink | source:BYTES
 *   bgbench relay PORT DEST_PORT      a minimal blocking relay (the floor)
 *   bgbench throughput HOST PORT STREAMS BYTES_PER_STREAM
 *   bgbench connrate HOST PORT SECONDS CONCURRENCY
 *   bgbench rtt HOST PORT COUNT
 *   bgbench idle HOST PORT COUNT SECONDS
 *
 * With BGBENCH_TUNNEL="user:password-file:endpoint" set, every connection the
 * client modes make is a TUNNEL through the relay at HOST PORT instead (the
 * full exchange of bench/tunnel.c), and the measured bytes flow through it.
 *
 * Results are printed as "key=value" lines for the driver script. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tunnel_dial.h"

#define BUF (256 * 1024)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dial(const char *host, int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if (tunnel_dial_enabled())
		return tunnel_dial(host, port);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_exact(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* server */
static const char *srv_mode;
static unsigned long long srv_source_bytes;

static void *
serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *buf = malloc(BUF);
	ssize_t r;

	if (buf == NULL)
		goto out;
	memset(buf, 'x', BUF);
	if (strcmp(srv_mode, "echo") == 0) {
		while ((r = read(fd, buf, BUF)) > 0)
			if (write_all(fd, buf, (size_t)r) != 0)
				break;
	} else if (strcmp(srv_mode, "sink") == 0) {
		while ((r = read(fd, buf, BUF)) > 0)
			;
	} else {
		unsigned long long left = srv_source_bytes;
		uint8_t b;

		/* wait for the client's go byte so connection set-up is not timed */
		if (read(fd, &b, 1) == 1)
			while (left > 0) {
				size_t n = left < BUF ? (size_t)left : BUF;

				if (write_all(fd, buf, n) != 0)
					break;
				left -= n;
			}
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

static int
listen_loopback(int port)
{
	struct sockaddr_in sin;
	int lfd, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 4096) != 0) {
		perror("bgbench: listen");
		return -1;
	}
	printf("ready\n");
	fflush(stdout);
	return lfd;
}

static int
spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t a;
	int r;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	r = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return r;
}

static int
cmd_server(int port, const char *mode)
{
	int lfd, one = 1;

	srv_mode = mode;
	if (strncmp(mode, "source:", 7) == 0)
		srv_source_bytes = strtoull(mode + 7, NULL, 10);
	if ((lfd = listen_loopback(port)) < 0)
		return 1;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (spawn(serve, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}

/* relay: the simplest user-space relay there is, a reference for what the
 * kernel allows: per connection two blocking threads, each read(2) then
 * write(2) one direction, shutdown(SHUT_WR) at EOF.  No event loop, no
 * limits, no timeouts; the benchmark's floor for a copying relay. */
struct pair;
struct half { int from, to; struct pair *pair; };
struct pair { struct half half[2]; int refs; pthread_mutex_t mu; };

static void *
relay_half(void *arg)
{
	struct half *h = arg;
	struct pair *p = h->pair;
	uint8_t *buf = malloc(BUF);
	ssize_t r;
	int last;

	while (buf != NULL && (r = read(h->from, buf, BUF)) > 0)
		if (write_all(h->to, buf, (size_t)r) != 0)
			break;
	shutdown(h->to, SHUT_WR);
	free(buf);
	pthread_mutex_lock(&p->mu);
	last = --p->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last) {
		close(h->from);
		close(h->to);
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
	return NULL;
}

static int
cmd_relay(int port, int dport)
{
	int lfd, one = 1;

	if ((lfd = listen_loopback(port)) < 0)
		return 1;
	for (;;) {
		int c = accept(lfd, NULL, NULL), s;
		struct pair *p;

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((s = dial("127.0.0.1", dport)) < 0) {
			close(c);
			continue;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL)
			_exit(1);
		p->refs = 2;
		pthread_mutex_init(&p->mu, NULL);
		p->half[0] = (struct half){ c, s, p };
		p->half[1] = (struct half){ s, c, p };
		if (spawn(relay_half, &p->half[0]) != 0 || spawn(relay_half, &p->half[1]) != 0)
			_exit(1);
	}
}

/* throughput: each stream asks a "source" server for its bytes.  Every
 * stream is connected (for a tunnel: fully set up) before the clock starts,
 * so the figure is the data path's alone; set-up has its own mode. */
struct tp { const char *host; int port; unsigned long long want, got; pthread_barrier_t *ready; };

static void *
tp_run(void *arg)
{
	struct tp *t = arg;
	uint8_t *buf = malloc(BUF);
	int fd = dial(t->host, t->port);
	ssize_t r;

	pthread_barrier_wait(t->ready);
	if (fd >= 0 && buf != NULL && write(fd, "g", 1) == 1)
		while ((r = read(fd, buf, BUF)) > 0)
			t->got += (unsigned long long)r;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int
cmd_throughput(const char *host, int port, int streams, unsigned long long bytes)
{
	pthread_t *th = calloc((size_t)streams, sizeof(*th));
	struct tp *tp = calloc((size_t)streams, sizeof(*tp));
	unsigned long long total = 0;
	pthread_barrier_t ready;
	double t0, t1;
	int i;

	pthread_barrier_init(&ready, NULL, (unsigned)streams + 1);
	for (i = 0; i < streams; i++) {
		tp[i] = (struct tp){ host, port, bytes, 0, &ready };
		pthread_create(&th[i], NULL, tp_run, &tp[i]);
	}
	pthread_barrier_wait(&ready);
	t0 = now_s();
	for (i = 0; i < streams; i++) {
		pthread_join(th[i], NULL);
		total += tp[i].got;
	}
	t1 = now_s();
	printf("bytes=%llu expected=%llu seconds=%.3f mib_per_s=%.1f\n", total,
	       bytes * (unsigned long long)streams, t1 - t0, (double)total / (t1 - t0) / 1048576.0);
	pthread_barrier_destroy(&ready);
	free(th);
	free(tp);
	return total == bytes * (unsigned long long)streams ? 0 : 1;
}

/* connrate */
struct cr {
	const char *host; int port; double until; unsigned long ok, fail;
	double *lat; size_t nlat, caplat;   /* seconds per successful exchange */
};

static void *
cr_run(void *arg)
{
	struct cr *c = arg;
	uint8_t b = 'p';

	while (now_s() < c->until) {
		double t0 = now_s();
		int fd = dial(c->host, c->port);

		if (fd < 0) {
			c->fail++;
			continue;
		}
		if (write_all(fd, &b, 1) == 0 && read_exact(fd, &b, 1) == 0) {
			c->ok++;
			if (c->nlat == c->caplat) {
				size_t ncap = c->caplat ? 2 * c->caplat : 4096;
				double *n = realloc(c->lat, ncap * sizeof(double));

				if (n != NULL) {
					c->lat = n;
					c->caplat = ncap;
				}
			}
			if (c->nlat < c->caplat)
				c->lat[c->nlat++] = now_s() - t0;
		} else
			c->fail++;
		close(fd);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b);

static int
cmd_connrate(const char *host, int port, double secs, int conc)
{
	pthread_t *th = calloc((size_t)conc, sizeof(*th));
	struct cr *cr = calloc((size_t)conc, sizeof(*cr));
	unsigned long ok = 0, fail = 0;
	double t0 = now_s(), *lat = NULL;
	size_t nlat = 0, k;
	int i;

	for (i = 0; i < conc; i++) {
		cr[i] = (struct cr){ host, port, t0 + secs, 0, 0, NULL, 0, 0 };
		pthread_create(&th[i], NULL, cr_run, &cr[i]);
	}
	for (i = 0; i < conc; i++) {
		pthread_join(th[i], NULL);
		ok += cr[i].ok;
		fail += cr[i].fail;
		nlat += cr[i].nlat;
	}
	if (nlat > 0 && (lat = malloc(nlat * sizeof(double))) != NULL) {
		for (i = 0, k = 0; i < conc; i++) {
			memcpy(lat + k, cr[i].lat, cr[i].nlat * sizeof(double));
			k += cr[i].nlat;
		}
		qsort(lat, nlat, sizeof(double), cmp_double);
	}
	printf("connections=%lu failed=%lu per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n", ok, fail,
	       (double)ok / (now_s() - t0), lat ? lat[nlat / 2] * 1e3 : 0.0,
	       lat ? lat[nlat * 99 / 100] * 1e3 : 0.0);
	for (i = 0; i < conc; i++)
		free(cr[i].lat);
	free(lat);
	free(th);
	free(cr);
	return fail == 0 ? 0 : 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_rtt(const char *host, int port, int count)
{
	uint8_t msg[64];
	double *lat = calloc((size_t)count, sizeof(double));
	int fd = dial(host, port), i;

	if (fd < 0 || lat == NULL) {
		fprintf(stderr, "rtt: cannot connect\n");
		return 1;
	}
	memset(msg, 'r', sizeof(msg));
	for (i = 0; i < count + 100; i++) {
		double t0 = now_s();

		if (write_all(fd, msg, sizeof(msg)) != 0 || read_exact(fd, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "rtt: connection lost\n");
			return 1;
		}
		if (i >= 100)       /* warm-up */
			lat[i - 100] = (now_s() - t0) * 1e6;
	}
	close(fd);
	qsort(lat, (size_t)count, sizeof(double), cmp_double);
	printf("p50_us=%.1f p99_us=%.1f\n", lat[count / 2], lat[count * 99 / 100]);
	free(lat);
	return 0;
}

/* idle: COUNT connections, each checked with a 1-byte echo, then held
 * until SECONDS pass or stdin closes.  Dialled by 8 threads (a tunnel's
 * set-up costs a SCRAM exchange). */
struct idl { const char *host; int port; int *fds; int from, to, ok; };

static void *
idle_run(void *arg)
{
	struct idl *d = arg;
	uint8_t b = 'i';
	int i;

	for (i = d->from; i < d->to; i++) {
		d->fds[i] = dial(d->host, d->port);
		if (d->fds[i] >= 0 && write_all(d->fds[i], &b, 1) == 0 &&
		    read_exact(d->fds[i], &b, 1) == 0)
			d->ok++;
	}
	return NULL;
}

static int
cmd_idle(const char *host, int port, int count, int secs)
{
	enum { NT = 8 };
	int *fds = calloc((size_t)count, sizeof(int)), i, ok = 0;
	struct rlimit rl = { 65536, 65536 };
	struct idl d[NT];
	pthread_t th[NT];
	struct pollfd pfd = { 0, POLLIN, 0 };
	double t0 = now_s();

	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < NT; i++) {
		d[i] = (struct idl){ host, port, fds, count * i / NT, count * (i + 1) / NT, 0 };
		pthread_create(&th[i], NULL, idle_run, &d[i]);
	}
	for (i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		ok += d[i].ok;
	}
	printf("established=%d seconds=%.3f\n", ok, now_s() - t0);
	fflush(stdout);
	/* until SECONDS or stdin's EOF; a bare sleep when stdin is not open */
	if (poll(&pfd, 1, secs * 1000) < 0 || (pfd.revents & POLLNVAL))
		sleep((unsigned)secs);
	for (i = 0; i < count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return ok == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "server") == 0)
		return cmd_server(atoi(argv[2]), argv[3]);
	if (argc >= 4 && strcmp(argv[1], "relay") == 0)
		return cmd_relay(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 6 && strcmp(argv[1], "throughput") == 0)
		return cmd_throughput(argv[2], atoi(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10));
	if (argc >= 6 && strcmp(argv[1], "connrate") == 0)
		return cmd_connrate(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
	if (argc >= 5 && strcmp(argv[1], "rtt") == 0)
		return cmd_rtt(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc >= 6 && strcmp(argv[1], "idle") == 0)
		return cmd_idle(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of bench/bgbench.c\n");
	return 2;
}
