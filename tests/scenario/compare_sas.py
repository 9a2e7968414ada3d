#!/usr/bin/env python3
"""Compares `swanctl --list-sas` text with `airlockctl status --json`.

usage: compare_sas.py SWANCTL_OUTPUT AIRLOCKCTL_JSON
Prints one line per compared field and exits 1 on any difference, or when
either side lists no CHILD_SA at all (a comparison of nothing proves nothing).
"""
import json
import re
import sys


def parse_swanctl(text):
    """IKE and CHILD SAs from swanctl's human output, keyed by uniqueid."""
    ikes, child = {}, None
    ike = None
    for line in text.splitlines():
        m = re.match(r"^(\S+): #(\d+), (\w+), IKEv(\d)", line)
        if m:
            ike = {"name": m[1], "uniqueid": int(m[2]), "state": m[3], "children": {}}
            ikes[ike["uniqueid"]] = ike
            continue
        m = re.match(r"^  (\S+): #(\d+), reqid (\d+), (\w+), (\S+), (\w+):", line)
        if m and ike:
            child = {"name": m[1], "uniqueid": int(m[2]), "reqid": int(m[3]),
                     "state": m[4], "mode": m[5].split("-")[0], "encap": "UDP" in m[5],
                     "protocol": m[6], "local_ts": [], "remote_ts": []}
            ike["children"][child["uniqueid"]] = child
            continue
        m = re.match(r"^    (in|out) +([0-9a-f]+)(?:_i|_o)?, +(\d+) bytes, +(\d+) packets", line)
        if m and child:
            child["spi_" + m[1]] = m[2]
            child["bytes_" + m[1]] = int(m[3])
            child["packets_" + m[1]] = int(m[4])
            continue
        m = re.match(r"^    (local|remote) +(.*)$", line)
        if m and child:
            child[m[1] + "_ts"] = m[2].split()
    return ikes


def main():
    swan = parse_swanctl(open(sys.argv[1]).read())
    doc = json.load(open(sys.argv[2]))
    ours = {}
    for conn in doc["connections"]:
        for ike in conn["ike_sas"]:
            ours[ike["uniqueid"]] = dict(ike, name=conn["name"])
    bad = 0
    nchild = 0

    def same(what, a, b):
        nonlocal bad
        ok = a == b
        bad += not ok
        print(("ok   " if ok else "DIFF ") + f"{what}: swanctl={a!r} airlockctl={b!r}")

    same("IKE_SA ids", sorted(swan), sorted(ours))
    for uid, s in swan.items():
        o = ours.get(uid)
        if not o:
            continue
        same(f"IKE #{uid} name", s["name"], o["name"])
        same(f"IKE #{uid} state", s["state"], o["state"])
        ochildren = {c["uniqueid"]: c for c in o["child_sas"]}
        same(f"IKE #{uid} CHILD_SA ids", sorted(s["children"]), sorted(ochildren))
        for cid, sc in s["children"].items():
            oc = ochildren.get(cid)
            if not oc:
                continue
            nchild += 1
            for key in ("name", "reqid", "state", "mode", "protocol", "encap", "spi_in",
                        "spi_out", "bytes_in", "bytes_out", "packets_in", "packets_out",
                        "local_ts", "remote_ts"):
                same(f"CHILD #{cid} {key}", sc.get(key), oc.get(key))
    if nchild == 0:
        print("DIFF no CHILD_SA compared")
        bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
