/* beepgated: BEEP TUNNEL and TCPMUX relay for network boundaries. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth_sasl.h"
#include "relay/config.h"
#include "relay/defconf.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/privdrop.h"
#include "relay/server.h"
#include "relay/tlsconn.h"
#include "relay/workers.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: beepgated [-dnsv] [-f file]\n"
	    "  -f file  configuration file (default: the built-in loopback configuration)\n"
	    "  -n       check the configuration, print every error, and exit 0/1\n"
	    "  -s       print the status of the running daemon (from its admin listener)\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -v       more verbose logging (debug)\n");
	exit(2);
}

static void
report_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void
report_log(void *arg, const char *msg)
{
	(void)arg;
	log_err("%s", msg);
}

/* workers N: the parent binds, drops privileges and supervises. */
static int
main_workers(struct config *conf, const char *path, bool foreground)
{
	const struct config *c = conf;
	struct workers *w;
	char err[256];
	int rc;

	if ((w = workers_new(conf, path, defconf_name, defconf_text, workers_count(c))) == NULL) {
		log_err("cannot start");
		return 1;
	}
	if (privdrop(c->user, c->group, c->allow_root, err, sizeof(err)) != 0) {
		log_err("%s", err);
		workers_free(w);
		return 1;
	}
	if (server_setup_auth(c) != 0) {
		workers_free(w);
		return 1;
	}
	if (!foreground && daemon(0, 0) != 0) {
		log_err("daemon: %s", strerror(errno));
		workers_free(w);
		return 1;
	}
	rc = workers_run(w);
	log_notice("stopped");
	workers_free(w);
	auth_sasl_done();
	log_close();
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	bool check = false, foreground = false, status = false;
	int verbose = 0, ch, rc;
	struct config *conf;
	struct server *srv;
	char err[256];

	while ((ch = getopt(argc, argv, "df:nsv")) != -1) {
		switch (ch) {
		case 'd': foreground = true; break;
		case 'f': path = optarg; break;
		case 'n': check = true; break;
		case 's': status = true; break;
		case 'v': verbose++; break;
		default: usage();
		}
	}
	if (optind != argc || (status && check))
		usage();

	signal(SIGPIPE, SIG_IGN);
	log_init("beepgated", foreground || check || status, verbose);
	if (path != NULL)
		conf = config_load(path, check || foreground || status ? report_stderr : report_log,
		                   NULL);
	else
		conf = config_load_string(defconf_name, defconf_text,
		                          check || foreground || status ? report_stderr : report_log,
		                          NULL);
	if (conf == NULL) {
		fprintf(stderr, "beepgated: configuration %s is not valid\n",
		        path ? path : defconf_name);
		return 1;
	}
	if (tlsconn_prepare(conf, NULL, check || foreground || status ? report_stderr :
	                    report_log, NULL) != 0) {
		fprintf(stderr, "beepgated: configuration %s is not valid\n",
		        path ? path : defconf_name);
		config_unref(conf);
		return 1;
	}
	if (check) {
		printf("configuration %s OK\n", path ? path : defconf_name);
		config_unref(conf);
		return 0;
	}
	if (status) {
		rc = metrics_client_status(conf, stdout, err, sizeof(err));
		if (rc != 0)
			fprintf(stderr, "beepgated: %s\n", err);
		config_unref(conf);
		return rc == 0 ? 0 : 1;
	}
	if (conf->log_verbose > verbose)
		log_set_verbose(conf->log_verbose);

	if (workers_count(conf) > 1)
		return main_workers(conf, path, foreground);

	/* Bind every listener while we may (ports 1 and 604 need root), then
	 * give privileges up for good. */
	srv = server_new(conf, path, defconf_name, defconf_text);
	if (srv == NULL) {
		log_err("cannot start");
		return 1;
	}
	if (server_setup_dns(srv) != 0) {
		log_err("cannot set up the resolver");
		server_free(srv);
		return 1;
	}
	if (privdrop(conf->user, conf->group, conf->allow_root, err, sizeof(err)) != 0) {
		log_err("%s", err);
		server_free(srv);
		return 1;
	}
	/* After the drop: the user database must be readable by the user we
	 * run as, now and at every reload. */
	if (server_setup_auth(conf) != 0) {
		server_free(srv);
		return 1;
	}
	if (!foreground && daemon(0, 0) != 0) {
		log_err("daemon: %s", strerror(errno));
		server_free(srv);
		return 1;
	}
	log_notice("started (pid %ld, configuration generation %u, uid %ld)", (long)getpid(),
	           conf->generation, (long)getuid());
	rc = server_run(srv);
	log_notice("stopped");
	server_free(srv);
	auth_sasl_done();
	log_close();
	return rc == 0 ? 0 : 1;
}
