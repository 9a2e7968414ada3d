#!/usr/bin/env python3
"""A bounded TCP echo stream through the tunnel, for tests/scenario/cert_rotate.sh.

  cert_stream.py serve ADDR PORT DEVICE         accept one connection on DEVICE only, echo lines
  cert_stream.py send SRC DST PORT STOPFILE MAX  one round trip every 10 ms until STOPFILE
                                                 exists or MAX round trips were made

The listener is bound to the TUN device, so every echoed line came through the SA.
"send" prints "sent=N echoed=N max_rtt_ms=X" and exits 0 only if every line came back
in order; a reply that takes longer than 10 s counts as lost.
"""
import os
import socket
import sys
import time

SO_BINDTODEVICE = 25


def serve(addr, port, dev):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev.encode())
    s.bind((addr, int(port)))
    s.listen(1)
    s.settimeout(600)
    print("listening", flush=True)
    c, _ = s.accept()
    c.settimeout(600)
    f = c.makefile("rwb", buffering=0)
    for line in f:
        f.write(line)
    return 0


def send(src, dst, port, stopfile, limit):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect((dst, int(port)))
    f = s.makefile("rwb", buffering=0)
    sent = echoed = 0
    max_rtt = 0.0
    ok = True
    while sent < int(limit) and not os.path.exists(stopfile):
        token = b"%d\n" % sent
        t0 = time.monotonic()
        f.write(token)
        sent += 1
        try:
            reply = f.readline()
        except OSError:
            ok = False
            break
        if reply != token:
            ok = False
            break
        echoed += 1
        max_rtt = max(max_rtt, time.monotonic() - t0)
        time.sleep(0.01)
    print("sent=%d echoed=%d max_rtt_ms=%d" % (sent, echoed, max_rtt * 1000), flush=True)
    return 0 if ok and sent == echoed and sent > 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        sys.exit(serve(*sys.argv[2:]))
    if len(sys.argv) == 7 and sys.argv[1] == "send":
        sys.exit(send(*sys.argv[2:]))
    sys.exit("usage: cert_stream.py serve ADDR PORT DEV | send SRC DST PORT STOPFILE MAX")
