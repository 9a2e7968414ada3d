#!/usr/bin/env python3
"""Sends one message file to the hub and prints where it ended (stdlib only).

usage: hubsend.py HOST:PORT MESSAGE [--bind ADDR] [--timeout S] [--rcpt R]...

Prints one line "STAGE CODE REPLY": STAGE is connect, greeting, ehlo, mail,
rcpt, data or end; CODE is the reply code (0 when the connection failed or
closed without a reply). Exit 0 when the end-of-data reply was 2xx.
MESSAGE is sent as it is (CRLF lines), dot-stuffed.
"""
import argparse
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("message")
    ap.add_argument("--bind")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--rcpt", action="append")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    data = open(a.message, "rb").read()
    stage = "connect"
    buf = b""
    try:
        s = socket.socket()
        s.settimeout(a.timeout)
        if a.bind:
            s.bind((a.bind, 0))
        s.connect((host, int(port)))

        def reply():
            nonlocal buf
            lines = []
            while True:
                while b"\r\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    buf += chunk
                line, buf = buf.split(b"\r\n", 1)
                lines.append(line.decode("ascii", "replace"))
                if len(line) < 4 or line[3:4] != b"-":
                    return int(line[:3]), lines[-1][4:]

        def step(name, cmd, ok):
            nonlocal stage
            stage = name
            if cmd is not None:
                s.sendall(cmd)
            code, text = reply()
            if code // 100 != ok:
                print(f"{name} {code} {text}")
                sys.exit(1)
            return code, text

        step("greeting", None, 2)
        step("ehlo", b"EHLO edge.example.com\r\n", 2)
        step("mail", b"MAIL FROM:<sender@example.org>\r\n", 2)
        for r in a.rcpt or ["rcpt@example.com"]:
            step("rcpt", f"RCPT TO:<{r}>\r\n".encode(), 2)
        step("data", b"DATA\r\n", 3)
        body = data.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        code, text = step("end", body + b".\r\n", 2)
        print(f"end {code} {text}")
        s.sendall(b"QUIT\r\n")
        return 0
    except (OSError, ConnectionError, ValueError) as e:
        print(f"{stage} 0 {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
