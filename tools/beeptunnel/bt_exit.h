/* bt_exit: the exit statuses of beeptunnel and the BEEP/TUNNEL reply codes
 * (RFC 3080 sec. 8, RFC 3620 sec. 6) they stand for.  One status per kind
 * of failure, so scripts (and ssh's ProxyCommand users) can tell them apart;
 * the table is printed by `beeptunnel -h` and documented in
 * docs/beeptunnel.md. */
#ifndef BEEPTUNNEL_BT_EXIT_H
#define BEEPTUNNEL_BT_EXIT_H

enum bt_exit {
	BT_EXIT_OK = 0,               /* the tunnel ran and the relay side ended it */
	BT_EXIT_LOCAL = 1,            /* local failure (memory, I/O after the tunnel opened) */
	BT_EXIT_USAGE = 2,            /* bad command line, unusable password file */
	BT_EXIT_CONNECT = 3,          /* cannot connect to the relay */
	BT_EXIT_NOT_BEEP = 4,         /* relay is not BEEP, offers no TUNNEL, TCPMUX "-" */
	BT_EXIT_AUTH = 5,             /* authentication failed (535, 534, 454) */
	BT_EXIT_AUTH_REQUIRED = 6,    /* 530: authentication required */
	BT_EXIT_NOT_AUTHORIZED = 7,   /* 537, 554: not authorized / refused */
	BT_EXIT_UNREACHABLE = 8,      /* 450: destination unreachable */
	BT_EXIT_NEXT_HOP = 9,         /* 550: a further hop failed */
	BT_EXIT_BAD_REQUEST = 10,     /* 500, 501, 504, 553: request rejected as malformed */
	BT_EXIT_BUSY = 11,            /* 421: relay busy or out of resources */
	BT_EXIT_OTHER = 12,           /* any other reply code, timeouts */
};

/* The status for a reply code in answer to a TUNNEL start. */
enum bt_exit bt_exit_for_code(unsigned code);
/* A short human description of a status ("destination unreachable"). */
const char *bt_exit_describe(enum bt_exit status);
/* The table as usage text, one status a line. */
const char *bt_exit_table(void);
#endif
