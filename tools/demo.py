"""beepgate loopback demonstration (see tools/demo.sh)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))
os.environ["BEEPGATE_BUILD"] = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/plain")

from integration.harness import BEEPGATED, Backend, connect, sha256, stream_both_ways  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import signal  # noqa: E402


def main():
    print("== beepgate demo: forwarding through beepgated (built-in configuration)")
    backend = Backend(mode="stream", host="127.0.0.1", send_bytes=32 << 20, seed=42)
    # the built-in configuration forwards 127.0.0.1:16080 to 127.0.0.1:16081
    import socket
    fixed = socket.socket()
    fixed.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fixed.bind(("127.0.0.1", 16081))
    fixed.listen(16)
    backend.sock.close()
    backend.sock = fixed
    backend.port = 16081
    import threading
    threading.Thread(target=backend._accept, daemon=True).start()

    log = open("/tmp/beepgate-demo.log", "wb")
    proc = subprocess.Popen([BEEPGATED, "-d"], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 16080), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.monotonic()
        s = connect("127.0.0.1", 16080)
        sent, got, n = stream_both_ways(s, 32 << 20, seed=7)
        s.close()
        dt = time.monotonic() - t0
        for _ in range(100):
            if backend.results:
                break
            time.sleep(0.05)
        ok = got == backend.sent_sha and backend.results and backend.results[0][0] == sent
        print("  sent 32 MiB each way through the relay in %.2f s (%.0f MiB/s each way)"
              % (dt, 32 / dt))
        print("  client->service sha256 %s" % ("matches" if backend.results and backend.results[0][0] == sent else "DIFFERS"))
        print("  service->client sha256 %s" % ("matches" if got == backend.sent_sha else "DIFFERS"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        log.close()
    print("== relay log (/tmp/beepgate-demo.log):")
    with open("/tmp/beepgate-demo.log") as f:
        for line in f:
            print("  " + line.rstrip())
    print("== demo %s" % ("succeeded" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


main()
