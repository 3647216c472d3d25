/* bt_stdio: the stdin/stdout mode (e.g. ssh's ProxyCommand).  Copies stdin
 * to the tunnel socket and the socket to stdout with poll(2), which also
 * serves regular files and terminals (epoll does not take regular files).
 * The octets read after <ok/> go to stdout first.  EOF on stdin: once its
 * bytes are sent, shutdown(SHUT_WR) on the socket while the other
 * direction keeps flowing.  EOF from the socket: flush stdout and stop. */
#ifndef BEEPTUNNEL_BT_STDIO_H
#define BEEPTUNNEL_BT_STDIO_H
#include <stddef.h>
#include <stdint.h>

#define BT_STDIO_BUFFER (64 * 1024)  /* fixed: octets queued per direction */

/* Runs until the socket side ends.  Closes sock.  Returns 0, or -1 with a
 * message (what failed, the errno text) in err. */
int bt_stdio_run(int sock, int in, int out, const uint8_t *rest, size_t nrest,
                 char *err, size_t errlen);
#endif
