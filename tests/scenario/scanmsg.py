#!/usr/bin/env python3
"""Messages for the edge_scan scenario, and a client that reports the reply.

usage:
  scanmsg.py build KIND OUT [ARG]   writes one message (CRLF lines) to OUT:
      attach FILE [NAME]   a text part and FILE attached in base64 (as NAME)
      zipzip FILE          FILE inside a zip inside a zip, attached
      targz FILE           FILE in a gzip'd tar, attached
      zipped FILE NAME     FILE stored as NAME in a zip, attached
      rfc2231 FILE NAME    FILE attached, its name in RFC 2231 encoded words
      raw FILE             FILE itself as the message (an mbox "From " line dropped)
      clean TAG            a plain text message carrying TAG and a forged
                           X-Airlock-Scan header
      plain TAG            the same without the forged fields
      twoparts TAG NAME    a text part carrying TAG and a small attachment NAME
  scanmsg.py send SERVER FILE       sends FILE, prints "CODE TEXT" of the end-of-data reply
  scanmsg.py split DUMP OUTDIR      splits smtp-sink's dump into OUTDIR/N.eml (CRLF lines,
                                    smtp-sink's own X-Client-Addr: etc. kept at the top,
                                    the newline it appends to each message removed)
"""
import base64
import io
import os
import re
import smtplib
import sys
import tarfile
import zipfile

FROM = "sender@example.org"
RCPT = "rcpt@example.com"


def crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


def head(subject, boundary=None):
    h = (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: {subject}\r\n"
         f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\nMIME-Version: 1.0\r\n")
    if boundary:
        h += f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
    return h.encode() + b"\r\n"


def attached(data, name, subject, name_params=None, text=b"See the attachment.\r\n"):
    b = "=-=airlock-test-boundary=-="
    params = name_params or f'filename="{name}"'
    body = head(subject, b)
    body += (f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    body += text
    body += (f"--{b}\r\nContent-Type: application/octet-stream\r\n"
             f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
             f"{params}\r\n\r\n").encode()
    enc = base64.encodebytes(data).replace(b"\n", b"\r\n")
    body += enc + f"--{b}--\r\n".encode()
    return body


def zip_of(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def build(kind, out, args):
    if kind == "attach":
        data = open(args[0], "rb").read()
        name = args[1] if len(args) > 1 else os.path.basename(args[0])
        msg = attached(data, name, f"attach {name}")
    elif kind == "zipzip":
        inner = zip_of(os.path.basename(args[0]), open(args[0], "rb").read())
        msg = attached(zip_of("inner.zip", inner), "outer.zip", "zip in zip")
    elif kind == "targz":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            t.add(args[0], arcname=os.path.basename(args[0]))
        msg = attached(buf.getvalue(), "clam.tar.gz", "tar.gz")
    elif kind == "zipped":
        msg = attached(zip_of(args[1], open(args[0], "rb").read()), "archive.zip",
                       f"zipped {args[1]}")
    elif kind == "rfc2231":
        name = args[1]
        half = len(name) // 2
        params = ("filename*0*=utf-8''" + name[:half].replace(".", "%2E") + ";\r\n " +
                  "filename*1*=" + name[half:].replace(".", "%2E"))
        msg = attached(open(args[0], "rb").read(), name, "rfc2231 name", params)
    elif kind == "raw":
        data = open(args[0], "rb").read()
        if data.startswith(b"From "):
            data = data.split(b"\n", 1)[1]
        msg = crlf(data)
    elif kind == "clean":
        msg = (f"X-Airlock-Scan: v=1; forged=yes\r\nFrom: <{FROM}>\r\nTo: <{RCPT}>\r\n"
               f"Subject: clean {args[0]}\r\nx-airlock-other: also forged\r\n\r\n"
               f"Hello, this is {args[0]}.\r\nA second line.\r\n").encode()
    elif kind == "plain":
        msg = (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: plain {args[0]}\r\n\r\n"
               f"Hello, this is {args[0]}.\r\nA second line.\r\n").encode()
    elif kind == "twoparts":
        msg = attached(b"MZ not really a program\r\n", args[1], f"two parts {args[0]}",
                       text=f"Keep this text: {args[0]}\r\n".encode())
    else:
        sys.exit(f"unknown kind {kind}")
    open(out, "wb").write(msg)


def send(server, path):
    host, port = server.rsplit(":", 1)
    data = open(path, "rb").read()
    try:
        with smtplib.SMTP(host, int(port), timeout=60) as s:
            s.ehlo("client.example.org")
            s.mail(FROM)
            s.rcpt(RCPT)
            code, text = s.data(data)
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    except smtplib.SMTPResponseException as e:
        code, text = e.smtp_code, e.smtp_error
    print(code, text.decode(errors="replace").replace("\n", " "))


def split(dump, outdir):
    text = open(dump, "rb").read()
    parts = re.split(rb"(?m)^(?=X-Client-Addr: )", text)
    n = 0
    os.makedirs(outdir, exist_ok=True)
    for p in parts:
        if not p.startswith(b"X-Client-Addr: "):
            continue
        n += 1
        # smtp-sink ends every message it dumps with one extra newline
        if p.endswith(b"\n\n"):
            p = p[:-1]
        open(os.path.join(outdir, f"{n}.eml"), "wb").write(crlf(p))
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
