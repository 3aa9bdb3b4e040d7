#!/usr/bin/env python3
"""Server cost per message: CPU, minor page faults and system calls, for one bench server.

    python3 bench/per_message.py IMPL WORKLOAD [--syscalls] [--strace] [--prof] [LOADGEN ARGS...]

IMPL is trousers, raw or asyncio; WORKLOAD is echo, line, frame, bulk or accept (the suite's
load-generator arguments for that row; extra arguments are appended and win). It starts the
server pinned to core 0 (as `npm run bench` does), runs `bench/build/loadgen` pinned to core 1,
and prints, per message (per connection for accept):

- server CPU in µs (utime + stime from /proc/PID/stat, all threads), and its user/system split;
- minor page faults (from /proc/PID/stat);
- with --syscalls: system calls, counted by the kernel's syscall tracepoints with
  `perf stat -e 'syscalls:sys_enter_*' -p PID` (cheap: the server runs at full speed);
- with --strace: `strace -c -f` instead (slower: the server runs under ptrace, so its rate
  and its CPU figures are not comparable, only the counts);
- with --prof (Node servers): a `node --cpu-prof` profile in bench/build/prof/.

CPU per message is steadier than throughput on a shared machine, but run it on a quiet one.
Python servers use `BENCH_PYTHON` (default /usr/bin/python3) and `BENCH_PYTHON_ENV`.
Build first (`npm run build`); the load generator is compiled by `npm run bench`, or here.
"""

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOADGEN = os.path.join(HERE, "build", "loadgen")
SYSCALLS = [
    "read", "write", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_wait", "epoll_pwait",
    "epoll_ctl", "accept4", "close", "shutdown", "setsockopt", "getsockopt", "getsockname", "getpeername",
    "ioctl", "fcntl", "mmap", "munmap", "madvise", "brk", "mprotect", "futex",
]
ROWS = {
    "echo": ["--mode=stream", "--kind=echo", "--conns=50", "--inflight=16", "--size=32"],
    "line": ["--mode=stream", "--kind=line", "--conns=50", "--inflight=16", "--size=32"],
    "frame": ["--mode=stream", "--kind=frame", "--conns=50", "--inflight=16", "--size=32"],
    "bulk": ["--mode=stream", "--kind=echo", "--conns=4", "--inflight=8", "--size=65536"],
    "accept": ["--mode=accept", "--kind=echo", "--conns=16", "--size=32"],
}


def main():
    args = sys.argv[1:]
    flags = {a for a in args if a in ("--syscalls", "--strace", "--prof")}
    rest = [a for a in args if a not in flags]
    if len(rest) < 2 or rest[0] not in ("trousers", "raw", "asyncio") or rest[1] not in ROWS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    impl, row, extra = rest[0], rest[1], rest[2:]
    workload = "echo" if row in ("bulk", "accept") else row
    if not os.path.exists(LOADGEN):
        os.makedirs(os.path.dirname(LOADGEN), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", LOADGEN, os.path.join(HERE, "loadgen.c")], check=True)
    env = dict(os.environ)
    if impl == "asyncio":
        python = os.environ.get("BENCH_PYTHON", "/usr/bin/python3")
        for kv in os.environ.get("BENCH_PYTHON_ENV", "").split():
            if "=" in kv:
                env[kv.split("=", 1)[0]] = kv.split("=", 1)[1]
        cmd = [python, os.path.join(HERE, "servers", "asyncio_servers.py"), workload, "0"]
    else:
        prof = ["--cpu-prof", "--cpu-prof-interval=50", "--cpu-prof-dir=" + os.path.join(HERE, "build", "prof")] if "--prof" in flags else []
        cmd = ["node", *prof, os.path.join(ROOT, "dist", "bench", "servers", f"{impl}_{workload}.js"), "0"]
    strace_out = os.path.join(HERE, "build", f"strace-{impl}-{row}.txt")
    if "--strace" in flags:
        cmd = ["strace", "-c", "-f", "-o", strace_out, *cmd]
    server = subprocess.Popen(["taskset", "-c", "0", *cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env)
    line = server.stdout.readline().decode()
    port = int(line.split()[1])
    pid = server.pid
    if "--strace" in flags:  # the server is strace's child
        for _ in range(100):
            kids = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
            if kids:
                pid = int(kids[0])
                break
            time.sleep(0.05)
    tck = os.sysconf("SC_CLK_TCK")

    def stat():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) / tck, int(f[12]) / tck, int(f[7])

    perf = None
    perf_out = os.path.join(HERE, "build", "perf-syscalls.txt")
    if "--syscalls" in flags:
        events = ",".join("syscalls:sys_enter_" + s for s in SYSCALLS)
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "-o", perf_out])
        time.sleep(0.2)
    u0, s0, f0 = stat()
    lg = subprocess.run(
        ["taskset", "-c", "1", LOADGEN, *ROWS[row], f"--target=127.0.0.1:{port}", "--duration=2", "--warmup=0.3", *extra],
        capture_output=True, text=True, timeout=60,
    )
    u1, s1, f1 = stat()
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    server.stdin.close()
    server.send_signal(signal.SIGTERM)
    server.wait(10)
    result = json.loads(lg.stdout.strip().splitlines()[-1])
    if not result.get("ok"):
        sys.exit(f"loadgen failed: {result.get('error')}")
    n = result.get("total_messages") or result.get("total_connections")
    unit = "connection" if row == "accept" else "message"
    rate = result.get("msgs_per_s") or result.get("conns_per_s")
    print(f"{impl} {row}: {n} {unit}s, {rate:.0f}/s; per {unit}: server CPU {(u1 - u0 + s1 - s0) / n * 1e6:.3f} µs "
          f"(user {(u1 - u0) / n * 1e6:.3f}, system {(s1 - s0) / n * 1e6:.3f}), minor faults {(f1 - f0) / n:.3f}")
    counts = {}
    if perf is not None:
        for line in open(perf_out):
            f = line.strip().split(",")
            if len(f) > 2 and f[0].isdigit():
                counts[f[2].replace("syscalls:sys_enter_", "")] = int(f[0])
    if "--strace" in flags:
        time.sleep(0.3)
        for line in open(strace_out):
            f = line.split()
            if len(f) >= 5 and f[-1] in SYSCALLS and f[3].isdigit():
                counts[f[-1]] = int(f[3])
    shown = {k: v / n for k, v in counts.items() if v / n >= 0.005}
    if shown:
        print(f"  system calls per {unit}: " + ", ".join(f"{k} {v:.3g}" for k, v in shown.items()) + f"; total {sum(shown.values()):.3g}")


if __name__ == "__main__":
    main()
