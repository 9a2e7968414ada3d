#!/usr/bin/env python3
"""Raw TCP throughput between two testbed hosts: the ceiling a mail path through
the same route (e.g. the IPsec tunnel) can reach. Stdlib only.

  tcp_throughput.py serve ADDR PORT OUT [--timeout S]
      accepts one connection, reads until EOF, writes {"bytes": N, "seconds": T}
      (first byte to EOF) to OUT; gives up after S seconds (default 120).
  tcp_throughput.py send ADDR PORT --bytes N [--source ADDR] [--timeout S]
      connects (from --source when given), sends N bytes in 64 KiB writes, closes,
      prints {"bytes": N, "seconds": T}; gives up after S seconds.

Every wait is bounded; the sender refuses more than 4 GiB.
"""

import argparse
import json
import socket
import sys
import time

CHUNK = 65536


def serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.addr, args.port))
    ls.listen(1)
    ls.settimeout(args.timeout)
    deadline = time.monotonic() + args.timeout
    conn, _ = ls.accept()
    total, first = 0, None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit("serve: deadline reached")
        conn.settimeout(left)
        data = conn.recv(1 << 20)
        if not data:
            break
        if first is None:
            first = time.monotonic()
        total += len(data)
    end = time.monotonic()
    conn.close()
    ls.close()
    with open(args.out, "w") as f:
        json.dump({"bytes": total, "seconds": round(end - (first or end), 6)}, f)


def send(args):
    if not 0 < args.bytes <= 4 << 30:
        raise SystemExit("send: --bytes must be 1..4 GiB")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.source:
        s.bind((args.source, 0))
    s.settimeout(args.timeout)
    deadline = time.monotonic() + args.timeout
    s.connect((args.addr, args.port))
    buf = b"x" * CHUNK
    left = args.bytes
    t0 = time.monotonic()
    while left > 0:
        if time.monotonic() > deadline:
            raise SystemExit("send: deadline reached")
        n = s.send(buf[: min(CHUNK, left)])
        left -= n
    s.shutdown(socket.SHUT_WR)
    s.settimeout(max(1.0, deadline - time.monotonic()))
    while s.recv(4096):
        pass
    t1 = time.monotonic()
    s.close()
    print(json.dumps({"bytes": args.bytes, "seconds": round(t1 - t0, 6)}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("send")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--source")
    p.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    {"serve": serve, "send": send}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
