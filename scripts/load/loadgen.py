#!/usr/bin/env python3
"""Bounded load against a local autodiffd (127.0.0.1 only), for scripts/overload.sh and scripts/soak.sh.

  loadgen.py overload --port P --pid PID [--connections 48] [--duration 60]
  loadgen.py soak     --port P --pid PID [--connections 8]  [--duration 600]
  loadgen.py probe    --port P --duration S --out FILE      (run by the two above, as its own process)

Every mode ends on its own (duration-bounded) and prints a plain-text report. Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
SQUARE = {"inputs": ["x"], "nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]}]}


def heavy_body(n=200, depth=12):
    """s = sum(x^(depth+1)) through `depth` n*n matmuls: ~2*depth*n^3 flops, a small answer."""
    nodes = [{"id": "m1", "op": "matmul", "args": ["x", "x"]}]
    for k in range(2, depth + 1):
        nodes.append({"id": f"m{k}", "op": "matmul", "args": [f"m{k - 1}", "x"]})
    nodes.append({"id": "s", "op": "sum", "args": [f"m{depth}"]})
    x = {"shape": [n, n], "data": [1.0 / n] * (n * n)}
    return json.dumps({"graph": {"inputs": ["x"], "nodes": nodes}, "values": {"x": x}, "outputs": ["s"]}).encode()


def small_body():
    values = [random.uniform(-2, 2) for _ in range(8)]
    return json.dumps({"graph": SQUARE, "values": {"x": values}, "outputs": ["y"], "seeds": {"y": "ones"}}).encode()


INVALID_BODIES = [
    b'{"graph": {"inputs": ["x"]',  # 400 invalid_json
    json.dumps({"graph": SQUARE, "values": {"x": [1, 2]}, "outputs": ["y"]}).encode(),  # 422 seed_required
    json.dumps({"graph": {"inputs": ["x"], "nodes": [{"id": "y", "op": "nope", "args": ["x"]}]},
                "values": {"x": 1}, "outputs": ["y"]}).encode(),  # 422 unknown_op
    json.dumps({"graph": SQUARE, "values": {}, "outputs": ["y"]}).encode(),  # 400 invalid_request
]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Tally:
    """Thread-safe counts of (endpoint kind, status) and of protocol problems."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.problems = []
        self.latencies = {}

    def add(self, kind, status, seconds):
        with self.lock:
            self.counts[(kind, status)] = self.counts.get((kind, status), 0) + 1
            self.latencies.setdefault(kind, []).append(seconds)

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 20:
                self.problems.append(text)

    def total(self, status=None):
        with self.lock:
            return sum(n for (_, s), n in self.counts.items() if status is None or s == status)


def call(connection, method, path, body, tally, kind):
    """One request on a keep-alive connection; returns the (possibly new) connection."""
    started = time.monotonic()
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        status = response.status
        if status == 503:
            error = json.loads(data)["error"]["code"]
            if error == "overloaded" and response.getheader("Retry-After") is None:
                tally.problem("503 overloaded without Retry-After")
        elif status >= 500:
            tally.problem(f"{kind}: {status} {data[:200]!r}")
        elif body is not None and path.startswith("/v1/"):
            json.loads(data)  # every answer is complete JSON
        tally.add(kind, status, time.monotonic() - started)
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection(HOST, connection.port, timeout=120)
    except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
        tally.add(kind, "error", time.monotonic() - started)
        tally.problem(f"{kind}: {type(error).__name__}: {error}")
        connection.close()
        connection = http.client.HTTPConnection(HOST, connection.port, timeout=120)
    return connection


def run_clients(port, connections, seconds, pick):
    """`connections` threads, each calling `pick()` -> (kind, method, path, body) until `seconds` pass."""
    tally = Tally()
    stop = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        while time.monotonic() < stop:
            kind, method, path, body = pick()
            connection = call(connection, method, path, body, tally, kind)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def start_probe(port, seconds, out):
    return subprocess.Popen([sys.executable, __file__, "probe", "--port", str(port), "--duration", str(seconds),
                             "--out", out])


def probe(args):
    """GET /healthz and /readyz alternately every 20 ms, each on a new connection (as a load balancer)."""
    samples = {"/healthz": [], "/readyz": []}
    failures = 0
    stop = time.monotonic() + args.duration
    while time.monotonic() < stop:
        for path in samples:
            started = time.monotonic()
            try:
                connection = http.client.HTTPConnection(HOST, args.port, timeout=10)
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 200:
                    failures += 1
                samples[path].append(time.monotonic() - started)
            except (OSError, http.client.HTTPException):
                failures += 1
        time.sleep(0.02)
    with open(args.out, "w") as out:
        json.dump({"samples": samples, "failures": failures}, out)


def probe_report(out):
    with open(out) as data:
        result = json.load(data)
    lines = []
    for path, values in result["samples"].items():
        ms = [v * 1000 for v in values]
        lines.append(f"  {path}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms "
                     f"max={max(ms, default=float('nan')):.1f} ms")
    lines.append(f"  probe failures (non-200 or no answer): {result['failures']}")
    return "\n".join(lines)


def sample_rss(pid, seconds, every, into):
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        into.append((time.monotonic(), rss_kib(pid)))
        time.sleep(every)


def small_throughput(port, seconds=5, connections=4):
    tally = run_clients(port, connections, seconds, lambda: ("small", "POST", "/v1/backward", small_body()))
    return tally.total(200) / seconds, tally


def statuses(tally):
    return ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(tally.counts.items(), key=str))


def overload(args):
    heavy = heavy_body()
    print(f"overload: {args.connections} connections of heavy /v1/forward calls ({len(heavy)} bytes each) "
          f"for {args.duration} s, against pid {args.pid}")
    before_rate, _ = small_throughput(args.port)
    rss_before = rss_kib(args.pid)
    out = f"/tmp/autodiffd-probe-{os.getpid()}.json"
    prober = start_probe(args.port, args.duration, out)
    rss = []
    sampler = threading.Thread(target=sample_rss, args=(args.pid, args.duration, 1.0, rss), daemon=True)
    sampler.start()
    tally = run_clients(args.port, args.connections, args.duration, lambda: ("heavy", "POST", "/v1/forward", heavy))
    prober.wait()
    sampler.join()
    time.sleep(2)  # let the last queued calls finish before measuring again
    after_rate, after = small_throughput(args.port)
    rss_after = rss_kib(args.pid)
    heavy_ok = tally.total(200)
    print(f"statuses under load: {statuses(tally)}")
    print(f"heavy calls answered 200: {heavy_ok / args.duration:.1f}/s; "
          f"503: {tally.total(503)}; other: {tally.total() - heavy_ok - tally.total(503)}")
    ok_ms = [v * 1000 for v in tally.latencies.get("heavy", [])]
    print(f"heavy call latency (all answers): p50={percentile(ok_ms, 50):.0f} ms p99={percentile(ok_ms, 99):.0f} ms")
    print("probes during the load (separate process, new connection each):")
    print(probe_report(out))
    print(f"RSS: before {rss_before / 1024:.0f} MiB, during max {max(r for _, r in rss) / 1024:.0f} MiB, "
          f"after {rss_after / 1024:.0f} MiB")
    print(f"small /v1/backward throughput, 4 connections: before {before_rate:.0f}/s, after {after_rate:.0f}/s "
          f"({statuses(after)})")
    problems = tally.problems + after.problems
    print("problems: " + ("none" if not problems else "\n  " + "\n  ".join(problems)))
    return 0 if not problems else 1


def soak(args):
    heavy = heavy_body(n=120, depth=6)

    def pick():
        roll = random.random()
        if roll < 0.45:
            return ("valid", "POST", "/v1/backward", small_body())
        if roll < 0.70:
            return ("invalid", "POST", "/v1/backward", random.choice(INVALID_BODIES))
        if roll < 0.80:
            return ("heavy", "POST", "/v1/forward", heavy)
        return ("tiny", "GET", random.choice(["/healthz", "/readyz", "/v1/ops"]), None)

    print(f"soak: {args.connections} connections, mixed calls for {args.duration} s, RSS every 5 s, pid {args.pid}")
    rss = []
    sampler = threading.Thread(target=sample_rss, args=(args.pid, args.duration, 5.0, rss), daemon=True)
    sampler.start()
    started = time.monotonic()
    tally = run_clients(args.port, args.connections, args.duration, pick)
    sampler.join()
    elapsed = time.monotonic() - started
    print(f"calls: {tally.total()} in {elapsed:.0f} s ({tally.total() / elapsed:.0f}/s); {statuses(tally)}")
    minute = [r for t, r in rss if t - rss[0][0] <= 60]
    last = [r for t, r in rss if rss[-1][0] - t <= 60]
    first_median, last_median = statistics.median(minute), statistics.median(last)
    print("RSS samples (MiB, every 5 s): " + " ".join(f"{r / 1024:.0f}" for _, r in rss))
    print(f"RSS median, first minute: {first_median / 1024:.1f} MiB; last minute: {last_median / 1024:.1f} MiB; "
          f"growth {100 * (last_median - first_median) / first_median:+.1f} %")
    print("problems: " + ("none" if not tally.problems else "\n  " + "\n  ".join(tally.problems)))
    return 0 if not tally.problems else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["overload", "soak", "probe"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int)
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.mode == "probe":
        probe(args)
        return 0
    return overload(args) if args.mode == "overload" else soak(args)


if __name__ == "__main__":
    sys.exit(main())
