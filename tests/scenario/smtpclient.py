#!/usr/bin/env python3
"""SMTP test clients for the scenario tests (stdlib only).

  smtpclient.py send HOST:PORT --count N --sessions S --size BYTES --out FILE [--tag T]
      Sends N messages over S concurrent sessions; each message has a unique
      Message-Id <T.i@test>. Writes one JSON line per message to FILE:
      {"msgid": ..., "code": 250, "reply": "..."}; code 0 when the connection
      failed before a reply. Keeps going through connection errors (so a
      daemon being killed and restarted is survived), retrying a failed
      connection after a short pause, until every message got a definite
      reply or --deadline seconds passed.

  smtpclient.py starttls-inject HOST:PORT
      Sends "STARTTLS\\r\\nNOOP\\r\\n" in one segment, completes TLS, then
      EHLO; prints what the server said after the handshake. Exit 0 when no
      reply to the injected NOOP arrived, 1 otherwise.
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time


def make_message(msgid, size):
    head = (f"From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\n"
            f"Subject: scenario {msgid}\r\nMessage-Id: <{msgid}>\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    body = []
    n = 0
    while n < size:
        body.append(line)
        n += len(line)
    # A line that needs dot-stuffing on the wire, to prove transparency.
    body.append(".leading dot line\r\n")
    return (head + "".join(body)).encode()


class Session:
    def __init__(self, host, port, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.reply()  # greeting
        self.cmd("EHLO client.example.org")

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        return int(lines[-1][:3]), " / ".join(lines)

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def send(self, msgid, size):
        code, reply = self.cmd("MAIL FROM:<sender@example.org>")
        if code != 250:
            self.cmd("RSET")
            return code, reply
        code, reply = self.cmd("RCPT TO:<rcpt@example.com>")
        if code != 250:
            self.cmd("RSET")
            return code, reply
        code, reply = self.cmd("DATA")
        if code != 354:
            return code, reply
        data = make_message(msgid, size)
        stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l
                               for l in data.split(b"\r\n"))
        self.sock.sendall(stuffed + b".\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except Exception:
            pass
        self.sock.close()


def cmd_send(args):
    host, port = args.server.rsplit(":", 1)
    port = int(port)
    todo = list(range(args.count))
    lock = threading.Lock()
    results = {}
    deadline = time.time() + args.deadline

    def worker():
        sess = None
        while time.time() < deadline:
            with lock:
                if not todo:
                    break
                i = todo.pop(0)
            msgid = f"{args.tag}.{i}@test"
            try:
                if sess is None:
                    sess = Session(host, port)
                code, reply = sess.send(msgid, args.size)
            except Exception as e:  # connection lost: no definite answer
                code, reply = 0, f"error: {e}"
                if sess:
                    try:
                        sess.sock.close()
                    except Exception:
                        pass
                sess = None
            with lock:
                results[msgid] = (code, reply)
                if code == 0 or (400 <= code < 500 and not args.no_retry):
                    todo.append(i)  # try again, as a real client would
            if code == 0:
                time.sleep(0.2)
        if sess:
            sess.close()

    threads = [threading.Thread(target=worker) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out, "w") as f:
        for msgid, (code, reply) in sorted(results.items()):
            f.write(json.dumps({"msgid": msgid, "code": code, "reply": reply}) + "\n")
    acked = sum(1 for c, _ in results.values() if c == 250)
    print(f"sent {len(results)} messages: {acked} acknowledged with 250")


def cmd_inject(args):
    host, port = args.server.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO client.example.org\r\n")
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            break
    s.sendall(b"STARTTLS\r\nNOOP\r\n")
    # Read exactly the 220 line, byte by byte, so no TLS byte is consumed here.
    line = b""
    while not line.endswith(b"\r\n"):
        line += s.recv(1)
    print("plaintext:", line.decode().strip())
    if not line.startswith(b"220"):
        return 1
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname=host)
    t.settimeout(5)
    t.sendall(b"EHLO client.example.org\r\n")
    time.sleep(0.5)
    data = b""
    try:
        while True:
            chunk = t.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n250 " in b"\r\n" + data:
                break
    except socket.timeout:
        pass
    text = data.decode("utf-8", "replace")
    print("after TLS:", text.replace("\r\n", " | "))
    first = text.split("\r\n")[0]
    # The first reply after the handshake must be the EHLO's 250-, not a NOOP "250 2.0.0 Ok".
    if not first.startswith("250-") or "STARTTLS" in text:
        return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("server")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--sessions", type=int, default=5)
    s.add_argument("--size", type=int, default=2000)
    s.add_argument("--out", required=True)
    s.add_argument("--tag", default="m")
    s.add_argument("--deadline", type=float, default=300)
    s.add_argument("--no-retry", action="store_true",
                   help="a 4xx reply is final (code 0 is still retried)")
    i = sub.add_parser("starttls-inject")
    i.add_argument("server")
    args = p.parse_args()
    if args.cmd == "send":
        cmd_send(args)
        return 0
    return cmd_inject(args)


if __name__ == "__main__":
    sys.exit(main())
