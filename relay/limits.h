/* limits: every bound beepgate enforces, with its default, in one place.
 * Each has a configuration knob (docs/config.md) unless marked "fixed". */
#ifndef RELAY_LIMITS_H
#define RELAY_LIMITS_H

/* Connections */
#define BG_MAX_SESSIONS            10000   /* limits { max-sessions } */
#define BG_MAX_SESSIONS_PER_SOURCE 256     /* limits { max-sessions-per-source } */
#define BG_RATE_PER_SOURCE         100     /* limits { connection-rate N per S } : N */
#define BG_RATE_INTERVAL           1       /* ... per S seconds */
#define BG_MAX_TUNNELS_PER_USER    1000    /* limits { max-tunnels-per-user } */
#define BG_MAX_HOPS                8       /* limits { max-hops }: nesting of <tunnel> */
#define BG_FD_RESERVE              16      /* fixed: descriptors kept free for work in flight */
#define BG_ACCEPT_PAUSE_MS         250     /* fixed: accept paused this long on EMFILE/ENFILE */
#define BG_HEAP_TRIM_MS            1000    /* fixed: at most one malloc_trim this often, after hand-overs/closes */
#define BG_LISTEN_BACKLOG          1024    /* fixed */

/* Processes */
#define BG_WORKERS                 1       /* workers N | auto (one per CPU) */
#define BG_WORKERS_MAX             32      /* = LIMITS_WORKERS_MAX (policy/limits.h) */
#define BG_WORKER_RESTART_MS       1000    /* fixed: a worker dying sooner after its start waits this */

/* The opaque pump */
#define BG_PUMP_BUFFER             (256 * 1024) /* limits { buffer }: bytes queued per direction */
#define BG_PUMP_BUFFER_MIN         4096
#define BG_PUMP_BUFFER_MAX         (64 * 1024 * 1024)
/* limits { socket-buffer }: SO_SNDBUF and SO_RCVBUF of both sockets of a
 * tunnel once it pumps; 0 (off, the default) leaves the kernel's autotuning. */
#define BG_SOCKET_BUFFER           0
#define BG_SOCKET_BUFFER_MIN       4096
#define BG_SOCKET_BUFFER_MAX       (16 * 1024 * 1024)

/* Timeouts, seconds */
#define BG_TIMEOUT_HANDSHAKE       10      /* timeouts { handshake }: total, name/greeting/SASL/TUNNEL */
#define BG_TIMEOUT_CONNECT         10      /* timeouts { connect } */
#define BG_TIMEOUT_IDLE            3600    /* timeouts { idle } */
#define BG_TIMEOUT_FIN             60      /* timeouts { fin }: after one side's EOF */
#define BG_TIMEOUT_HARDSTOP        30      /* timeouts { hard-stop }: drain on SIGTERM */

/* BEEP (RFC 3080/3081) */
#define BG_BEEP_HEADER_MAX         128     /* fixed: longest legal header is < 80 octets */
#define BG_BEEP_WINDOW             4096    /* fixed: RFC 3081 initial window */
#define BG_BEEP_MESSAGE_MAX        65536   /* limits { beep-message }: reassembled message */
#define BG_BEEP_CHANNELS_MAX       512     /* limits { beep-channels }: RFC needs >= 257 */
#define BG_BEEP_CH0_MAX            4096    /* fixed: a channel-0 message; piggyback cap */
#define BG_XML_DEPTH_MAX           32      /* fixed: channel-0 element nesting */

/* TCPMUX (RFC 1078) */
#define BG_TCPMUX_LINE_MAX         128     /* limits { tcpmux-line }: service name line */

/* SASL */
#define BG_SASL_MAX_FAILURES       3       /* sasl { max-failures }: per session, then close */
#define BG_SASL_PENALTY_FAILURES   10      /* sasl { penalty N failures S seconds } */
#define BG_SASL_PENALTY_SECONDS    60

#endif
