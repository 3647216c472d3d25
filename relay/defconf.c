#include "relay/defconf.h"

/* Loopback only, nothing reachable that the administrator did not name:
 * a safe start for a demonstration.  etc/beepgated.conf documents more. */
const char defconf_name[] = "(built-in)";
const char defconf_text[] =
    "# beepgated built-in configuration: loopback only\n"
    "user \"nobody\"\n"
    "timeouts { handshake 10s connect 5s idle 10m fin 30s hard-stop 10s }\n"
    "listen on 127.0.0.1 port 16080 forward to 127.0.0.1 port 16081\n";
