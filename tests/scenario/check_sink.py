#!/usr/bin/env python3
"""Checks what smtp-sink stored (-D DIR/dump: every message appended to one
file, each starting with smtp-sink's X-Client-Addr: line; LF line ends).

usage: check_sink.py SINK_DIR --hostname EDGE_HOST [--acked RESULTS.jsonl]
                     [--size BYTES] [--expect N] [--smtp-source]
                     [--hub HUB_HOST [--ike-id EDGE_ID]]

- Every message must carry exactly one airlock Received: header naming
  EDGE_HOST, directly below smtp-sink's own.
- With --hub (mail through the hub into its internal MTA): below smtp-sink's
  Received: comes exactly one of the hub HUB_HOST, then the edge's; the hub's
  names the edge's IKE identity EDGE_ID when --ike-id is given; and the
  header holds exactly one X-Airlock-Scan field (the edge's stamp), which is
  taken out before the content is compared, as is the edge's X-Virus-Status.
- With --acked: every message the client saw acknowledged with 250 must be
  there; the content below the Received: headers must be exactly what the
  client sent (smtpclient.make_message). Messages stored twice are counted
  and listed as duplicates (the goal is none).
- With --smtp-source: messages come from Postfix's smtp-source; each must be
  what smtp-source writes (From/To/Date/Message-Id, then numbered lines of X
  adding up to --size octets with CRLF) and all must be identical apart from
  Date and Message-Id.
Prints a summary line "stored=... missing=... duplicates=... bad=..." and
exits 1 on any missing or bad message or when --expect does not match.
"""
import argparse
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from smtpclient import make_message  # noqa: E402


def split_message(text):
    """Returns (sink pseudo-headers, Received blocks, rest) of a stored message."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and re.match(r"^X-(Client|Helo|Mail|Rcpt)-", lines[i]):
        i += 1
    received = []
    while i < len(lines) and lines[i].startswith("Received:"):
        block = [lines[i]]
        i += 1
        while i < len(lines) and lines[i][:1] in (" ", "\t"):
            block.append(lines[i])
            i += 1
        received.append("\n".join(block))
    return lines[:i], received, "\n".join(lines[i:])


def take_stamps(text):
    """Returns (text without the scanning edge's X-Airlock-Scan and X-Virus-Status header
    fields, how many X-Airlock-Scan fields there were)."""
    head, sep, body = text.partition("\n\n")
    kept, count, skipping = [], 0, False
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and skipping:
            continue
        name = line.split(":", 1)[0].lower()
        skipping = name in ("x-airlock-scan", "x-virus-status")
        count += name == "x-airlock-scan"
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + sep + body, count


def smtp_source_shape(norm, size):
    """Why norm (Date and Message-Id values replaced by "x") is not an
    smtp-source message of about size octets, or None."""
    head, sep, body = norm.partition("\n\n")
    if not sep:
        return "no empty line after the header"
    if not re.fullmatch(r"From: <[^>]+>\nTo: <[^>]+>\nDate: x\nMessage-Id: x", head):
        return "unexpected header section"
    lines = body.rstrip("\n").split("\n")
    if not all(re.fullmatch(r"[0-9]?X*", line) for line in lines):
        return "body lines other than smtp-source's numbered X lines"
    octets = sum(len(line) + 2 for line in lines)
    # smtp-source ends its content with a complete line: up to one line more.
    if not size <= octets <= size + 82:
        return f"body of {octets} octets for -l {size}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sink")
    ap.add_argument("--hostname", required=True)
    ap.add_argument("--acked")
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--expect", type=int)
    ap.add_argument("--smtp-source", action="store_true")
    ap.add_argument("--hub")
    ap.add_argument("--ike-id")
    a = ap.parse_args()
    nreceived = 3 if a.hub else 2

    seen = collections.Counter()
    bad = []
    reference = None
    dump = open(os.path.join(a.sink, "dump"), encoding="utf-8", errors="replace").read()
    parts = re.split(r"(?m)^(?=X-Client-Addr: )", dump)
    for n, text in enumerate(p for p in parts if p):
        name = f"message {n + 1}"
        # smtp-sink ends each dump with an empty line of its own.
        if text.endswith("\n\n"):
            text = text[:-1]
        if a.hub:
            text, stamps = take_stamps(text)
            if stamps != 1:
                bad.append(f"{name}: {stamps} X-Airlock-Scan fields")
                continue
        _, received, rest = split_message(text)
        ours = [r for r in received if f"by {a.hostname} (airlock)" in r]
        if len(received) != nreceived or len(ours) != 1 or "by smtp-sink" not in received[0]:
            bad.append(f"{name}: Received headers {len(received)}, airlock's {len(ours)}")
            continue
        if a.hub:
            hub = received[1]
            if f"by {a.hub} (airlock)" not in hub or ours[0] != received[2]:
                bad.append(f"{name}: the hub's Received: is not between the sink's and the edge's")
                continue
            if a.ike_id and f'IKE identity "{a.ike_id}"' not in hub:
                bad.append(f"{name}: the hub's Received: does not name {a.ike_id}: {hub!r}")
                continue
        m = re.search(r"^Message-Id: <([^>]*)>", rest, re.M | re.I)
        if not m:
            bad.append(f"{name}: no Message-Id")
            continue
        msgid = m.group(1)
        seen[msgid] += 1
        if a.smtp_source:
            norm = re.sub(r"^(Date|Message-Id): .*$", r"\1: x", rest, flags=re.M | re.I)
            if reference is None:
                reference = norm
                why = smtp_source_shape(norm, a.size)
                if why:
                    bad.append(f"{name}: not what smtp-source sent: {why}")
            elif norm != reference:
                bad.append(f"{name}: content differs from the first smtp-source message")
        elif a.acked:
            want = make_message(msgid, a.size).decode().replace("\r\n", "\n")
            if rest != want:
                bad.append(f"{name}: content of {msgid} differs from what was sent")

    missing = []
    acked = 0
    if a.acked:
        for line in open(a.acked):
            r = json.loads(line)
            if r["code"] == 250:
                acked += 1
                if seen[r["msgid"]] == 0:
                    missing.append(r["msgid"])
    dups = {k: v for k, v in seen.items() if v > 1}
    stored = sum(seen.values())
    print(f"stored={stored} distinct={len(seen)} acked={acked} missing={len(missing)} "
          f"duplicates={sum(v - 1 for v in dups.values())} bad={len(bad)}")
    for b in bad[:10]:
        print("bad:", b)
    for mm in missing[:10]:
        print("missing:", mm)
    for k, v in list(dups.items())[:10]:
        print(f"duplicate: {k} x{v}")
    fail = bool(missing or bad) or (a.expect is not None and len(seen) != a.expect)
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()
