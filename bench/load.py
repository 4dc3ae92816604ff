"""A bounded load bench of the web service: a real `kgspatial serve` on loopback, 20 concurrent
clients x 25 mixed requests (reads of plans, OGC items, conflicts, maps; 10 uploads and 10
checks in all), latency per request kind, errors by status and the server's peak RSS.

    python bench/load.py [--clients 20] [--requests 25] [--store postgis --database-url URL]

Exits 1 on any 5xx or connection error (a bench that hides failures measures nothing). The
server runs under a 4 GB address-space limit; every request has a 120 s timeout.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.hostile import corpus  # noqa: E402  (the scene: a 2-zone master plan, an ODT plan)


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key(data: Path, env: dict, role: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgspatial",
            "keys",
            "create",
            "--role",
            role,
            "--name",
            f"bench {role}",
            "--data-dir",
            str(data),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--writes", type=int, default=10, help="uploads, and as many checks, in all")
    ap.add_argument("--store", choices=["embedded", "postgis"], default="embedded")
    ap.add_argument("--database-url")
    args = ap.parse_args()
    if args.store == "postgis" and not args.database_url:
        ap.error("--store postgis needs --database-url")

    work = Path(tempfile.mkdtemp(prefix="kgspatial-load-"))
    data = work / "data"
    files = work / "files"
    files.mkdir(parents=True)
    corpus.write_master(files / "master.gpkg")
    corpus.frame(corpus.PLAN).to_file(files / "plan.gpkg", layer="plan")
    (files / "rules.csv").write_text(corpus.RULES_OK, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KGSPATIAL_DATABASE_URL", None)
    if args.database_url:
        env["KGSPATIAL_DATABASE_URL"] = args.database_url
    admin, planner = key(data, env, "admin"), key(data, env, "planner")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kgspatial",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ],
        env=env,
        preexec_fn=_limits,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "wb"),
    )
    base = f"http://127.0.0.1:{port}"
    peak = [0]
    stop = threading.Event()

    def watch():  # the server and any process it starts
        proc = psutil.Process(server.pid)
        while not stop.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                print((work / "server.log").read_text()[-3000:], file=sys.stderr)
                return 1
            time.sleep(0.1)
        threading.Thread(target=watch, daemon=True).start()
        ha, hp = {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {planner}"}
        with httpx.Client(base_url=base, timeout=120) as c:

            def up(route, fname, headers, **fields):
                with open(files / fname, "rb") as f:
                    r = c.post(f"/api/v1/{route}", headers=headers, files={"file": (fname, f)}, data=fields)
                r.raise_for_status()
                return r.json()["id"]

            master, rules = up("masters", "master.gpkg", ha, name="master"), up("rules", "rules.csv", ha, name="rules")
            plan = up("plans", "plan.gpkg", hp, name="plan", plan_type="urban_general")
            check = c.post("/api/v1/checks", headers=hp, json={"plan_id": plan, "master_id": master}).json()["id"]
            for _ in range(1200):
                if c.get(f"/api/v1/checks/{check}", headers=hp).json()["status"] in ("successful", "failed"):
                    break
                time.sleep(0.1)
            assert c.get(f"/api/v1/checks/{check}", headers=hp).json()["status"] == "successful"

        plan_bytes = (files / "plan.gpkg").read_bytes()
        reads = [
            ("plans", "GET", "/api/v1/plans"),
            ("ogc_items", "GET", f"/ogc/collections/plan-{plan}/items?limit=100"),
            ("conflicts", "GET", f"/api/v1/checks/{check}/conflicts"),
            ("map", "GET", f"/api/v1/checks/{check}/map"),
        ]
        # the schedule: every client's list of requests; writes spread over the first clients' turns
        schedule = [[reads[(i + j) % len(reads)] for j in range(args.requests)] for i in range(args.clients)]
        for w in range(2 * args.writes):
            client, turn = w % args.clients, (w // args.clients) * 2 + 1
            schedule[client][turn] = (
                ("upload", "POST", "/api/v1/plans") if w % 2 == 0 else ("check", "POST", "/api/v1/checks")
            )
        times: dict[str, list[float]] = defaultdict(list)
        statuses: Counter = Counter()
        errors: list[str] = []
        started: list[str] = []
        lock = threading.Lock()

        def client(jobs):
            with httpx.Client(base_url=base, timeout=120, headers=hp) as c:
                for kind, method, url in jobs:
                    t = time.perf_counter()
                    try:
                        if kind == "upload":
                            r = c.post(
                                url,
                                files={"file": ("plan.gpkg", plan_bytes)},
                                data={"name": "load", "plan_type": "urban_general"},
                            )
                        elif kind == "check":
                            r = c.post(url, json={"plan_id": plan, "master_id": master, "rules_id": rules})
                        else:
                            r = c.request(method, url)
                        dt = time.perf_counter() - t
                        with lock:
                            times[kind].append(dt)
                            statuses[r.status_code] += 1
                            if kind == "check" and r.status_code == 202:
                                started.append(r.json()["id"])
                    except httpx.HTTPError as exc:
                        with lock:
                            errors.append(f"{kind}: {type(exc).__name__}: {exc}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(jobs,)) for jobs in schedule]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        # the checks queued under load must end, and succeed
        outcome: Counter = Counter()
        with httpx.Client(base_url=base, timeout=120, headers=hp) as c:
            end = time.monotonic() + 300
            for cid in started:
                while True:
                    status = c.get(f"/api/v1/checks/{cid}").json()["status"]
                    if status in ("successful", "failed", "dismissed") or time.monotonic() > end:
                        break
                    time.sleep(0.2)
                outcome[status] += 1
        drained = time.perf_counter() - t0
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)

    every = [x for v in times.values() for x in v]
    print(
        f"store {args.store}: {args.clients} clients x {args.requests} requests = {len(every) + len(errors)} "
        f"in {wall:.1f} s ({len(every) / wall:.1f}/s); queued checks done after {drained:.1f} s: {dict(outcome)}"
    )
    print(f"statuses: {dict(sorted(statuses.items()))}; connection errors: {len(errors)}")
    print(f"{'kind':<10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, v in sorted(times.items()) + [("all", every)]:
        a = np.array(v) * 1000
        print(f"{kind:<10} {len(a):>4} {np.percentile(a, 50):>8.0f} {np.percentile(a, 95):>8.0f} {a.max():>8.0f}")
    print(f"server peak RSS: {peak[0] / 2**20:.0f} MB")
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    bad = sum(n for s, n in statuses.items() if s >= 500) + len(errors) + outcome["failed"]
    return 1 if bad or sum(outcome.values()) != len(started) else 0


if __name__ == "__main__":
    sys.exit(main())
