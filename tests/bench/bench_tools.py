#!/usr/bin/env python3
"""Helpers for tests/bench/edge_vs_postfix.sh (stdlib only).

Subcommands:
  latency  HOST PORT OUT   SMTP client that times end-of-data -> reply per message
  idle     HOST PORT DIR   open N connections, EHLO each, hold them until told to close
  rss      ROOTPID OUT     sample the summed VmRSS (and PSS) of a process tree
  cpu      OUT             sample the CPU time of every thread on the machine until stopped
  cpusum   FILE COUNT      one line: busy CPU, ms per message (--unit), the biggest users
  sinkpoll SINKOUT OUT     follow smtp-sink -c counters, log each change with a timestamp
  reached  PROGRESS TARGET first time the sink count reached TARGET (or "none")
  latstats FILE T_END      p50/p99 of latencies measured before T_END
  status   SOCKET [CMD]    one {"cmd":CMD} (default status) on a control socket, JSON out
  pid      PIDFILE         first integer in a pid file

Every wait is bounded; nothing here runs without a deadline.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
import time


# ---- SMTP client: end-of-data -> reply latency -------------------------------------


class SmtpError(Exception):
    pass


async def read_reply(reader, timeout):
    """Reads one (possibly multi-line) SMTP reply; returns (code, text)."""
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            raise SmtpError("connection closed")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    try:
        code = int(lines[-1][:3])
    except ValueError:
        raise SmtpError("bad reply %r" % lines[-1])
    return code, "\n".join(lines)


async def command(reader, writer, line, want, timeout):
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    code, text = await read_reply(reader, timeout)
    if code // 100 != want:
        raise SmtpError("%s -> %s" % (line, text))
    return code


def make_body(size, seq, sender, rcpt):
    head = (
        "From: <%s>\r\nTo: <%s>\r\nSubject: latency probe %d\r\n"
        "Message-ID: <probe%d.%d@example.org>\r\n\r\n" % (sender, rcpt, seq, seq, os.getpid())
    )
    line = "La de da de da " * 4 + "\r\n"  # 62 octets, never a lone "."
    n = max(1, size // len(line))
    return (head + line * n).encode()


async def latency_session(args, state, out):
    """One session: sends messages until the shared quota is used up."""
    sender, rcpt = args.sender, args.rcpt
    while state["next"] < args.messages and time.monotonic() < state["deadline"]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port), args.io_timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            state["connect_errors"] += 1
            state["errors"].append("connect: %s" % e)
            await asyncio.sleep(0.2)
            continue
        try:
            code, text = await read_reply(reader, args.io_timeout)
            if code != 220:
                raise SmtpError("greeting: %s" % text)
            await command(reader, writer, "EHLO probe.example.org", 2, args.io_timeout)
            while state["next"] < args.messages and time.monotonic() < state["deadline"]:
                seq = state["next"]
                state["next"] += 1
                await command(reader, writer, "MAIL FROM:<%s>" % sender, 2, args.io_timeout)
                await command(reader, writer, "RCPT TO:<%s>" % rcpt, 2, args.io_timeout)
                await command(reader, writer, "DATA", 3, args.io_timeout)
                writer.write(make_body(args.size, seq, sender, rcpt))
                await writer.drain()
                # The clock starts when the terminating ".CRLF" leaves, not with the body.
                t_wall = time.time()
                t0 = time.monotonic()
                writer.write(b".\r\n")
                await writer.drain()
                code, text = await read_reply(reader, args.io_timeout)
                ms = (time.monotonic() - t0) * 1000.0
                out.write("%.6f %.3f %d\n" % (t_wall, ms, code))
                if code == 250:
                    state["accepted"] += 1
                else:
                    state["refused"] += 1
                    state["errors"].append("end of data: %s" % text)
                if args.gap_ms > 0:
                    await asyncio.sleep(args.gap_ms / 1000.0)
            try:
                await command(reader, writer, "QUIT", 2, args.io_timeout)
            except (SmtpError, OSError, asyncio.TimeoutError):
                pass
        except (SmtpError, OSError, asyncio.TimeoutError) as e:
            state["session_errors"] += 1
            state["errors"].append(str(e) or type(e).__name__)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (OSError, asyncio.TimeoutError):
                pass


async def latency_main(args):
    state = {
        "next": 0,
        "accepted": 0,
        "refused": 0,
        "connect_errors": 0,
        "session_errors": 0,
        "errors": [],
        "deadline": time.monotonic() + args.timeout,
    }
    with open(args.out, "w") as out:
        await asyncio.gather(
            *(latency_session(args, state, out) for _ in range(args.sessions))
        )
    errors = state.pop("errors")
    state.pop("deadline")
    state["attempted"] = state.pop("next")
    state["first_errors"] = errors[:5]
    state["error_count"] = len(errors)
    print(json.dumps(state))


# ---- idle connections --------------------------------------------------------------


async def idle_open(args, conns, stats, sem):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port), args.io_timeout
            )
        except (OSError, asyncio.TimeoutError):
            stats["connect_failed"] += 1
            return
        try:
            code, _ = await read_reply(reader, args.io_timeout)
            if code != 220:
                stats["greeting_refused"] += 1
                writer.close()
                return
            await command(reader, writer, "EHLO idle.example.org", 2, args.io_timeout)
            stats["ehlo_ok"] += 1
            conns.append((reader, writer))
        except (SmtpError, OSError, asyncio.TimeoutError):
            stats["ehlo_failed"] += 1
            writer.close()


async def idle_main(args):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.count + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    stats = {"connect_failed": 0, "greeting_refused": 0, "ehlo_ok": 0, "ehlo_failed": 0}
    conns = []
    sem = asyncio.Semaphore(50)
    await asyncio.gather(*(idle_open(args, conns, stats, sem) for _ in range(args.count)))
    ready = os.path.join(args.dir, "ready")
    with open(ready + ".tmp", "w") as f:
        json.dump(stats, f)
    os.rename(ready + ".tmp", ready)
    stop = os.path.join(args.dir, "stop")
    deadline = time.monotonic() + args.hold
    while not os.path.exists(stop) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # Still open when told to stop = the server kept them (no idle timeout hit).
    alive = sum(1 for r, w in conns if not r.at_eof())
    stats["still_open_at_stop"] = alive
    for _, w in conns:
        w.close()
    print(json.dumps(stats))


# ---- memory sampling ---------------------------------------------------------------


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The fields after the last ")" start with state, then ppid.
        rest = stat[stat.rfind(")") + 2 :].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def read_kib(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_main(args):
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peak = {"rss_kib": 0, "pss_kib": 0, "procs": 0, "samples": 0, "by_name": {}}
    deadline = time.monotonic() + args.timeout
    n = 0
    while not stop["now"] and time.monotonic() < deadline:
        if not os.path.exists("/proc/%d" % args.root):
            break
        pids = tree(args.root)
        rss = 0
        names = {}
        for pid in pids:
            kib = read_kib("/proc/%d/status" % pid, "VmRSS:")
            rss += kib
            try:
                with open("/proc/%d/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                comm = "?"
            names[comm] = names.get(comm, 0) + kib
        peak["samples"] += 1
        if rss > peak["rss_kib"]:
            peak["rss_kib"] = rss
            peak["by_name"] = names
        peak["procs"] = max(peak["procs"], len(pids))
        # PSS (shared pages split between sharers) is costlier to read: once a second.
        if n % 10 == 0:
            pss = sum(read_kib("/proc/%d/smaps_rollup" % p, "Pss:") for p in pids)
            peak["pss_kib"] = max(peak["pss_kib"], pss)
        n += 1
        time.sleep(args.interval)
    with open(args.out + ".tmp", "w") as f:
        json.dump(peak, f)
    os.rename(args.out + ".tmp", args.out)


# ---- CPU accounting ---------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, idle, steal) jiffies of all CPUs from /proc/stat. iowait counts as idle;
    steal (a virtual machine's CPU wanted but given to another guest) is neither."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    # already inside user and nice.
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, v[3] + v[4], v[7]


def comm_of(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def task_ticks():
    """{tid: (group, utime + stime, stime)} for every thread of every process."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        pcomm = comm_of("/proc/%s/comm" % pid)
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%s/task/%s/stat" % (pid, tid)) as f:
                    stat = f.read()
            except OSError:
                continue
            i = stat.rfind(")")
            tcomm = stat[stat.find("(") + 1 : i]
            rest = stat[i + 2 :].split()
            # utime and stime are fields 14 and 15; rest starts at field 3.
            ticks, sys_ticks = int(rest[11]) + int(rest[12]), int(rest[12])
            group = pcomm if not pcomm or tcomm == pcomm else "%s/%s" % (pcomm, tcomm)
            out[int(tid)] = (group or tcomm, ticks, sys_ticks)
    return out


def cpu_main(args):
    """Until SIGTERM: the machine's busy CPU time and each thread's CPU time since the
    start, grouped by process and thread name. A thread that ends between two samples
    loses what it used after the last one (at most --interval)."""
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    busy0, idle0, steal0 = machine_ticks()
    base = {tid: (t, st) for tid, (_, t, st) in task_ticks().items()}
    if args.ready:  # the caller starts its load once the baseline is taken
        open(args.ready, "w").close()
    last = {}
    deadline = t0 + args.timeout
    while True:
        for tid, (group, ticks, sys_ticks) in task_ticks().items():
            b = base.get(tid, (0, 0))
            last[tid] = (group, ticks - b[0], sys_ticks - b[1])
        if stop["now"] or time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    busy1, idle1, steal1 = machine_ticks()
    groups, sys_groups = {}, {}
    for group, ticks, sys_ticks in last.values():
        if ticks > 0:
            groups[group] = groups.get(group, 0) + ticks
            sys_groups[group] = sys_groups.get(group, 0) + sys_ticks
    ms = 1000.0 / CLK_TCK
    res = {
        "wall_s": time.monotonic() - t0,
        "cpus": os.cpu_count(),
        "busy_ms": (busy1 - busy0) * ms,
        "idle_ms": (idle1 - idle0) * ms,
        "steal_ms": (steal1 - steal0) * ms,
        "groups_ms": {g: t * ms for g, t in groups.items()},
        "groups_sys_ms": {g: t * ms for g, t in sys_groups.items()},
    }
    total = res["busy_ms"] + res["idle_ms"] + res["steal_ms"]
    res["busy_pct"] = 100.0 * res["busy_ms"] / total if total > 0 else 0.0
    res["steal_pct"] = 100.0 * res["steal_ms"] / total if total > 0 else 0.0
    with open(args.out + ".tmp", "w") as f:
        json.dump(res, f)
    os.rename(args.out + ".tmp", args.out)


def cpusum_main(args):
    try:
        with open(args.file) as f:
            d = json.load(f)
    except (OSError, ValueError):
        print("-")
        return
    n = max(args.messages, 1)
    busy = d["busy_ms"]
    parts = sorted(d["groups_ms"].items(), key=lambda kv: -kv[1])
    in_tasks = sum(v for _, v in parts)
    sys_ms = d.get("groups_sys_ms", {})
    shown = [
        "%s %.2f (sys %.2f)" % (g, v / n, sys_ms.get(g, 0) / n)
        for g, v in parts[: args.top]
        if v / n >= 0.01
    ]
    print(
        "busy %.0f%% of %d CPUs (stolen by the host %.0f%%), %.2f ms per %s (%d), by"
        " thread group, ms (of it in the kernel): %s; not in any task %.2f"
        % (
            d["busy_pct"],
            d["cpus"],
            d["steal_pct"],
            busy / n,
            args.unit,
            n,
            ", ".join(shown),
            max(busy - in_tasks, 0) / n,
        )
    )


# ---- smtp-sink progress ------------------------------------------------------------

MSG_RE = re.compile(rb"mesg=(\d+)")


def sink_count(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256))
            tail = f.read()
    except OSError:
        return None
    found = MSG_RE.findall(tail)
    return int(found[-1]) if found else 0


def sinkpoll_main(args):
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    last = None
    deadline = time.monotonic() + args.timeout
    with open(args.out, "a", buffering=1) as out:
        while not stop["now"] and time.monotonic() < deadline:
            c = sink_count(args.sinkout)
            if c is not None and c != last:
                out.write("%.6f %d\n" % (time.time(), c))
                last = c
            time.sleep(args.interval)


def reached_main(args):
    try:
        with open(args.progress) as f:
            for line in f:
                t, c = line.split()
                if int(c) >= args.target:
                    print(t)
                    return
    except OSError:
        pass
    print("none")


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_values:
        return None
    k = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(k) - 1]


def latstats_main(args):
    """Latencies of accepted messages whose end of data was sent before t_end (the main
    load still running), and of all of them."""
    under, every = [], []
    codes = {}
    try:
        with open(args.file) as f:
            for line in f:
                t, ms, code = line.split()
                codes[code] = codes.get(code, 0) + 1
                if code != "250":
                    continue
                every.append(float(ms))
                if not args.t_end or float(t) <= args.t_end:
                    under.append(float(ms))
    except OSError:
        pass
    under.sort()
    every.sort()
    print(
        json.dumps(
            {
                "samples": len(under),
                "p50": percentile(under, 50),
                "p99": percentile(under, 99),
                "max": under[-1] if under else None,
                "all_samples": len(every),
                "all_p50": percentile(every, 50),
                "all_p99": percentile(every, 99),
                "codes": codes,
            }
        )
    )


def status_main(args):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    try:
        s.connect(args.socket)
        s.sendall(json.dumps({"cmd": args.cmd_name}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return
    finally:
        s.close()
    sys.stdout.write(buf.decode())


def pid_main(args):
    try:
        with open(args.pidfile) as f:
            print(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        print(0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("latency")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--gap-ms", type=float, default=50)
    p.add_argument("--sender", default="probe@example.org")
    p.add_argument("--rcpt", default="r@example.com")
    p.add_argument("--io-timeout", type=float, default=120)
    p.add_argument("--timeout", type=float, default=600)

    p = sub.add_parser("idle")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--hold", type=float, default=120)
    p.add_argument("--io-timeout", type=float, default=30)

    p = sub.add_parser("rss")
    p.add_argument("root", type=int)
    p.add_argument("out")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=1800)

    p = sub.add_parser("cpu")
    p.add_argument("out")
    p.add_argument("--ready", help="file created once the baseline is taken")
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--timeout", type=float, default=1800)

    p = sub.add_parser("cpusum")
    p.add_argument("file")
    p.add_argument("messages", type=int)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--unit", default="message")

    p = sub.add_parser("sinkpoll")
    p.add_argument("sinkout")
    p.add_argument("out")
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=1800)

    p = sub.add_parser("reached")
    p.add_argument("progress")
    p.add_argument("target", type=int)

    p = sub.add_parser("latstats")
    p.add_argument("file")
    p.add_argument("t_end", type=float, nargs="?", default=0)

    p = sub.add_parser("status")
    p.add_argument("socket")
    p.add_argument("cmd_name", nargs="?", default="status")
    p.add_argument("--timeout", type=float, default=5)

    p = sub.add_parser("pid")
    p.add_argument("pidfile")

    args = ap.parse_args()
    if args.cmd == "latency":
        asyncio.run(latency_main(args))
    elif args.cmd == "idle":
        asyncio.run(idle_main(args))
    elif args.cmd == "rss":
        rss_main(args)
    elif args.cmd == "cpu":
        cpu_main(args)
    elif args.cmd == "cpusum":
        cpusum_main(args)
    elif args.cmd == "sinkpoll":
        sinkpoll_main(args)
    elif args.cmd == "reached":
        reached_main(args)
    elif args.cmd == "latstats":
        latstats_main(args)
    elif args.cmd == "status":
        status_main(args)
    elif args.cmd == "pid":
        pid_main(args)


if __name__ == "__main__":
    main()
