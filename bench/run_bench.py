"""Benchmark `kgspatial check` against the plain geopandas way and DuckDB spatial on synthetic provinces.

Each tool runs as a whole separate process (interpreter start-up, imports, reading and writing
included), one at a time, the tools alternating within each round. Wall clock comes from the
parent; peak memory from the kernel's `ru_maxrss` of the reaped child (os.wait4) and from
polling the RSS of the child's whole process tree (in case a tool fans out to worker
processes), whichever is larger. Per-rule and per-commune areas of each tool are compared with
the geopandas baseline's (relative tolerance 1e-6), and the total conflict and conditional
areas to 1e-10: a disagreement is a bug in one of them, and the report says which figures differ.

Usage::

    python bench/run_bench.py --sizes 20000x2000                  # development size
    python bench/run_bench.py --sizes 100000x10000,1000000x100000 --repeat 1 --jobs 2
    python bench/run_bench.py --sizes 100000x10000x50 --rules conflicts-only --repeat 3 \
        --tools kgspatial,baseline,duckdb        # issue 17's case

Sizes are MASTERxPLAN or MASTERxPLANxCOMMUNES. Data are generated once with
bench/gen_province.py and cached under bench/data/; results go to bench/results/latest.md
(and latest.json, and per-run outputs and logs under bench/results/runs/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_RULES = REPO / "layers" / "kien-giang" / "rules.csv"
DEFAULT_TAXONOMY = REPO / "layers" / "taxonomy.csv"
RTOL = 1e-6
TOTAL_RTOL = 1e-10  # the total conflict and conditional areas: every tool must give the same answer
TOOLS = ("kgspatial", "baseline", "duckdb")
ATOL_M2 = 1e-3  # kgspatial rounds summary areas to the mm²; below that, differences are noise
PAGE = os.sysconf("SC_PAGE_SIZE")
# Imports a tool needs before doing any work: measured alone to show the fixed RSS cost
# (kgspatial's own modules included when they import).
IMPORTS_ONLY = (
    "import numpy, pandas, shapely, pyproj, pyogrio, geopandas, pyarrow\n"
    "try:\n    import kgspatial.check, kgspatial.output, kgspatial.cli.check\n"
    "except ImportError:\n    pass"
)


# --------------------------------------------------------------------------- measurement


class TreeRSS(threading.Thread):
    """Polls the summed RSS of a process and all its descendants; keeps the peak.

    ru_maxrss only sees the largest single process, so a tool with worker processes would be
    under-reported by it; this catches the sum (at the polling resolution)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.max_procs = 1
        self._halt = threading.Event()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        return tree

    def _sample(self) -> None:
        tree = self._tree()
        total = 0
        for pid in tree:
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                pass
        self.max_procs = max(self.max_procs, len(tree))
        self.peak = max(self.peak, total)

    def run(self) -> None:
        while not self._halt.is_set():
            self._sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, all cores)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_idle(min_idle: float, window: float = 3.0, timeout: float = 900.0) -> float:
    """On a shared machine, wait until the CPUs were at least `min_idle` idle over `window` s.

    Returns the seconds waited (the timeout only bounds the wait; the run then goes ahead and
    its 'others' figure shows the contention)."""
    ncpu = os.cpu_count() or 1
    t0 = time.monotonic()
    while True:
        b0 = cpu_busy_seconds()
        time.sleep(window)
        idle = 1 - (cpu_busy_seconds() - b0) / (window * ncpu)
        if idle >= min_idle or time.monotonic() - t0 > timeout:
            return time.monotonic() - t0


def run_measured(cmd: list[str], log: Path) -> dict:
    """Run `cmd` to completion; wall seconds, CPU seconds, peak RSS, exit code, and the CPU
    seconds other processes used meanwhile (contention on a shared machine)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        busy0 = cpu_busy_seconds()
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        poller = TreeRSS(proc.pid)
        poller.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy = cpu_busy_seconds() - busy0
        poller.stop()
        self1 = resource.getrusage(resource.RUSAGE_SELF)
    own = (self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime)  # the poller
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    maxrss = ru.ru_maxrss * 1024  # kilobytes on Linux
    return {
        "cmd": cmd,
        "exit": proc.returncode,
        "seconds": wall,
        "cpu_seconds": ru.ru_utime + ru.ru_stime,
        "peak_bytes": max(maxrss, poller.peak),
        "ru_maxrss_bytes": maxrss,
        "tree_peak_bytes": poller.peak,
        "processes": poller.max_procs,
        # Clock-tick granularity and the poller's own use make this a few 0.1 s noisy.
        "others_cpu_seconds": max(0.0, busy - (ru.ru_utime + ru.ru_stime) - own),
        "log": str(log.relative_to(REPO)) if log.is_relative_to(REPO) else str(log),
    }


# --------------------------------------------------------------------------- data


def parse_size(text: str, communes: int) -> tuple[int, int, int]:
    parts = [int(p.replace("_", "")) for p in text.lower().split("x")]
    if len(parts) == 2:
        parts.append(communes)
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use MASTERxPLAN[xCOMMUNES]")
    return tuple(parts)


def ensure_data(size, seed: int, fmt: str, follow: float, data_dir: Path) -> tuple[Path, dict, float | None]:
    """The cached province for `size`, generated (in a child process) when missing."""
    n, m, k = size
    d = data_dir / f"m{n}_p{m}_c{k}_s{seed}_f{follow:g}_{fmt}"
    gen_seconds = None
    if not (d / "meta.json").exists():
        print(f"generating {d.relative_to(REPO) if d.is_relative_to(REPO) else d} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "gen_province.py"),
                "--master",
                str(n),
                "--plan",
                str(m),
                "--communes",
                str(k),
                "--seed",
                str(seed),
                "--follow",
                str(follow),
                "--out",
                str(d),
                "--format",
                fmt,
            ],
            check=True,
        )
        gen_seconds = time.perf_counter() - t0
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    return d, meta, gen_seconds


# --------------------------------------------------------------------------- tools


def kgspatial_cmd(explicit: str | None) -> list[str]:
    """The installed console script beside this interpreter, else `python -m kgspatial`."""
    if explicit:
        return shlex.split(explicit)
    script = Path(sys.executable).with_name("kgspatial")
    if script.exists():
        return [str(script)]
    found = shutil.which("kgspatial")
    return [found] if found else [sys.executable, "-m", "kgspatial"]


def run_kgspatial(
    base: list[str], data: Path, meta: dict, rules: Path, jobs: int, out: Path, log: Path, extra: list[str]
) -> tuple[dict, dict | None]:
    f = meta["files"]
    fields = meta["fields"]
    shutil.rmtree(out, ignore_errors=True)
    cmd = (
        base
        + [
            "check",
            "--master",
            str(data / f["master"]),
            "--master-field",
            fields["master"]["code"],
            "--master-label-field",
            fields["master"]["label"],
            "--plan",
            str(data / f["plan"]),
            "--plan-field",
            fields["plan"]["code"],
            "--plan-label-field",
            fields["plan"]["label"],
            "--admin",
            str(data / f["communes"]),
            "--admin-field",
            fields["communes"]["code"],
            "--admin-name-field",
            fields["communes"]["name"],
            "--rules",
            str(rules),
            "--jobs",
            str(jobs),
            "--min-area",
            "0",
            "--out",
            str(out),
        ]
        + extra
    )
    res = run_measured(cmd, log)
    summary_path = out / "summary.json"
    ok = res["exit"] in (0, 1) and summary_path.exists()  # 1 = conflicts found
    res["ok"] = ok
    return res, json.loads(summary_path.read_text(encoding="utf-8")) if ok else None


def run_baseline(
    data: Path, meta: dict, rules: Path, taxonomy: Path, out_json: Path, log: Path
) -> tuple[dict, dict | None]:
    f = meta["files"]
    fields = meta["fields"]
    out_json.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(BENCH / "baseline_geopandas.py"),
        "--master",
        str(data / f["master"]),
        "--master-field",
        fields["master"]["code"],
        "--plan",
        str(data / f["plan"]),
        "--plan-field",
        fields["plan"]["code"],
        "--communes",
        str(data / f["communes"]),
        "--admin-field",
        fields["communes"]["code"],
        "--admin-name-field",
        fields["communes"]["name"],
        "--rules",
        str(rules),
        "--taxonomy",
        str(taxonomy),
        "--out",
        str(out_json),
    ]
    res = run_measured(cmd, log)
    res["ok"] = res["exit"] == 0 and out_json.exists()
    return res, json.loads(out_json.read_text(encoding="utf-8")) if res["ok"] else None


def run_duckdb(
    data: Path, meta: dict, rules: Path, taxonomy: Path, out_json: Path, log: Path
) -> tuple[dict, dict | None]:
    f = meta["files"]
    fields = meta["fields"]
    out_json.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(BENCH / "duckdb_spatial.py"),
        "--master",
        str(data / f["master"]),
        "--master-field",
        fields["master"]["code"],
        "--master-label-field",
        fields["master"]["label"],
        "--plan",
        str(data / f["plan"]),
        "--plan-field",
        fields["plan"]["code"],
        "--plan-label-field",
        fields["plan"]["label"],
        "--communes",
        str(data / f["communes"]),
        "--admin-field",
        fields["communes"]["code"],
        "--admin-name-field",
        fields["communes"]["name"],
        "--rules",
        str(rules),
        "--taxonomy",
        str(taxonomy),
        "--out",
        str(out_json),
        "--gpkg",
        str(out_json.with_suffix(".gpkg")),
    ]
    res = run_measured(cmd, log)
    res["ok"] = res["exit"] == 0 and out_json.exists()
    return res, json.loads(out_json.read_text(encoding="utf-8")) if res["ok"] else None


def conflicts_only_rules(src: Path, dst: Path) -> Path:
    """The default table cut down to its `conflict` rows: a rules table as users write it, which
    names what is forbidden and leaves every other code pair unreviewed (issue 17's case)."""
    import csv

    with open(src, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        names, rows = reader.fieldnames, [r for r in reader if r["verdict"].strip().lower() == "conflict"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return dst


# --------------------------------------------------------------------------- comparison


def _rule_areas(summary: dict) -> dict[str, dict]:
    rows = summary.get("by_rule") or []
    if isinstance(rows, dict):  # tolerate {rule_id: {...}}
        rows = [dict(v, rule_id=k) for k, v in rows.items()]
    return {str(r["rule_id"]): r for r in rows}


def _count(row: dict | None):
    return None if row is None else row.get("count", row.get("pieces"))


def _admin_areas(summary: dict) -> dict[str, float]:
    rows = summary.get("by_admin") or []
    if isinstance(rows, dict):
        rows = [dict(v, admin_code=k) for k, v in rows.items()]
    out = {}
    for r in rows:
        code = r.get("admin_code", r.get("code"))
        area = r.get("area_m2")
        if area is not None:
            out[str(code or "")] = out.get(str(code or ""), 0.0) + float(area)
    return out


def agree(a: float, b: float) -> tuple[bool, float]:
    diff = abs(a - b)
    scale = max(abs(a), abs(b))
    rel = diff / scale if scale else 0.0
    return diff <= ATOL_M2 or rel <= RTOL, rel


def compare(kg: dict, base: dict) -> dict:
    """Per-rule, per-verdict and total areas of kgspatial vs the baseline.

    Totals are rebuilt from by_rule on both sides (conflict, conditional, both); kgspatial's own
    `totals.conflict_area_m2` / `conditional_area_m2` must equal both its by_rule sums and the
    baseline's. Piece counts are shown but not compared: the tools may cut pieces differently
    (a multi-part intersection is one row or several) and still cover the same land."""
    kg_rules, b_rules = _rule_areas(kg), _rule_areas(base)
    rows, bad = [], []
    for rid in sorted(set(kg_rules) | set(b_rules)):
        ka = float(kg_rules.get(rid, {}).get("area_m2", 0.0))
        ba = float(b_rules.get(rid, {}).get("area_m2", 0.0))
        ok, rel = agree(ka, ba)
        verdict = (b_rules.get(rid) or kg_rules.get(rid) or {}).get("verdict", "")
        row = {
            "rule_id": rid,
            "verdict": verdict,
            "kgspatial_m2": ka,
            "baseline_m2": ba,
            "rel_diff": rel,
            "ok": ok,
            "kgspatial_count": _count(kg_rules.get(rid)),
            "baseline_count": _count(b_rules.get(rid)),
        }
        rows.append(row)
        if not ok:
            bad.append(f"rule {rid}: kgspatial {ka:,.3f} m2 vs baseline {ba:,.3f} m2 (rel {rel:.2e})")

    def verdict_sum(which, verdicts):
        return sum(r[which] for r in rows if r["verdict"] in verdicts)

    totals = {}
    for name, verdicts in (
        ("conflict", {"conflict"}),
        ("conditional", {"conditional"}),
        ("flagged", {"conflict", "conditional"}),
    ):
        ka, ba = verdict_sum("kgspatial_m2", verdicts), verdict_sum("baseline_m2", verdicts)
        ok, rel = agree(ka, ba)
        totals[name] = {"kgspatial_m2": ka, "baseline_m2": ba, "rel_diff": rel, "ok": ok}
        if not ok:
            bad.append(f"{name} total (sum of by_rule): kgspatial {ka:,.3f} vs baseline {ba:,.3f} m2 (rel {rel:.2e})")

    # kgspatial's headline totals must equal its own by_rule sums and the baseline's.
    kg_totals = kg.get("totals") or {}
    for name in ("conflict", "conditional"):
        value = kg_totals.get(f"{name}_area_m2")
        if value is None:
            continue
        own_ok, _ = agree(float(value), totals[name]["kgspatial_m2"])
        ok, rel = agree(float(value), totals[name]["baseline_m2"])
        totals[f"totals.{name}_area_m2"] = {
            "kgspatial_m2": float(value),
            "baseline_m2": totals[name]["baseline_m2"],
            "rel_diff": rel,
            "ok": ok and own_ok,
        }
        if not own_ok:
            bad.append(
                f"kgspatial totals.{name}_area_m2 {value:,.3f} is not the sum of its "
                f"by_rule {name} rows ({totals[name]['kgspatial_m2']:,.3f})"
            )
        if not ok:
            bad.append(
                f"totals.{name}_area_m2: kgspatial {value:,.3f} vs baseline "
                f"{totals[name]['baseline_m2']:,.3f} m2 (rel {rel:.2e})"
            )

    kg_admin, b_admin = _admin_areas(kg), _admin_areas(base)
    admin_bad = []
    if kg_admin and b_admin:
        for code in sorted(set(kg_admin) | set(b_admin)):
            ok, rel = agree(kg_admin.get(code, 0.0), b_admin.get(code, 0.0))
            if not ok:
                admin_bad.append(
                    f"admin {code or '(none)'}: kgspatial "
                    f"{kg_admin.get(code, 0.0):,.3f} vs baseline "
                    f"{b_admin.get(code, 0.0):,.3f} m2 (rel {rel:.2e})"
                )
    bad.extend(admin_bad[:20])
    if len(admin_bad) > 20:
        bad.append(f"... and {len(admin_bad) - 20} more admin units")
    # The answer itself: total conflict and conditional areas to 1e-10 (or the summary's mm² rounding).
    for name in ("conflict", "conditional"):
        ka = float(kg_totals.get(f"{name}_area_m2", totals[name]["kgspatial_m2"]))
        ba = float((base.get("totals") or {}).get(f"{name}_area_m2", totals[name]["baseline_m2"]))
        diff = abs(ka - ba)
        rel = diff / max(abs(ka), abs(ba)) if max(abs(ka), abs(ba)) else 0.0
        if not (rel <= TOTAL_RTOL or diff <= ATOL_M2):
            bad.append(f"total {name} area to {TOTAL_RTOL:g}: {ka:,.6f} vs baseline {ba:,.6f} m2 (rel {rel:.2e})")
    max_rel = max([r["rel_diff"] for r in rows] + [t["rel_diff"] for t in totals.values()], default=0.0)
    return {
        "ok": not bad,
        "max_rel_diff": max_rel,
        "rules": rows,
        "totals": totals,
        "admin_units_compared": len(set(kg_admin) | set(b_admin)) if kg_admin else 0,
        "problems": bad,
    }


# --------------------------------------------------------------------------- report


def mb(n: float | None) -> str:
    if n is None:
        return "-"
    x = n / 2**20
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def machine() -> dict:
    info = {"python": platform.python_version(), "nproc": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import shapely, geopandas, pyogrio, pandas, numpy; print(shapely.__version__, "
            "'.'.join(map(str, shapely.geos_version)), geopandas.__version__, "
            "pyogrio.__version__, pandas.__version__, numpy.__version__)",
        ],
        capture_output=True,
        text=True,
    )
    keys = ("shapely", "geos", "geopandas", "pyogrio", "pandas", "numpy")
    info.update(dict(zip(keys, out.stdout.split())))
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "kgspatial"], capture_output=True, text=True
    ).stdout.strip()
    # kgspatial is installed editable: uncommitted changes to it are what actually ran.
    info["git"] = (rev.stdout.strip() + ("+uncommitted kgspatial changes" if dirty else "")) or None
    return info


def size_label(size) -> str:
    n, m, k = size
    return f"{n:,} x {m:,} (communes {k:,})"


def _round_ratios(r: dict, tool: str) -> list[float]:
    """tool seconds / kgspatial seconds, round by round (the tools alternate within a round, so
    each ratio is taken under the same contention)."""
    kg, other = r["runs"].get("kgspatial") or [], r["runs"].get(tool) or []
    return [o["seconds"] / k["seconds"] for k, o in zip(kg, other) if k["ok"] and o["ok"]]


TOOL_LABELS = {"kgspatial": "kgspatial", "baseline": "geopandas way", "duckdb": "DuckDB spatial"}


def table_rows(results: list[dict], imports_rss: int | None = None) -> list[list[str]]:
    rows = []
    for r in results:
        in_bytes = sum(v["coord_bytes"] for v in r["meta"]["geometry_size"].values())
        for tool in TOOLS:
            runs = r["runs"].get(tool)
            if not runs:
                continue
            good = [x for x in runs if x["ok"]]
            if not good:
                rows.append(
                    [
                        size_label(r["size"]),
                        TOOL_LABELS[tool],
                        "FAILED",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        f"exit {runs[-1]['exit']}, see {runs[-1]['log']}",
                    ]
                )
                continue
            sec = statistics.median(x["seconds"] for x in good)
            best = min(x["seconds"] for x in good)
            cpu = statistics.median(x["cpu_seconds"] for x in good)
            peak = max(x["peak_bytes"] for x in good)
            speed = "-"
            ratios = _round_ratios(r, tool) if tool != "kgspatial" else []
            if ratios:
                speed = f"{statistics.median(ratios):.2f}x" + (
                    f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
                )
            cmp_ = (r.get("comparisons") or {}).get(tool)
            if tool == "baseline":
                area = "reference"
            elif cmp_ is None:
                area = "not compared"
            else:
                area = (
                    f"agree (max rel {cmp_['max_rel_diff']:.1e})"
                    if cmp_["ok"]
                    else f"DISAGREE ({len(cmp_['problems'])})"
                )
            shp = sum(v.get("shapely_bytes") or 0 for v in r["meta"]["geometry_size"].values())
            above = f"{(peak - imports_rss) / shp:.1f}x" if imports_rss and shp else "-"
            others = statistics.median(x.get("others_cpu_seconds", 0.0) for x in good)
            sec_text = f"{sec:.1f}" + (f" / {best:.1f}" if len(good) > 1 else "")
            if others > 0.25 * sec:  # others took over a quarter of a core meanwhile
                sec_text += f" (busy: others +{others:.0f} CPU s)"
            rows.append(
                [
                    size_label(r["size"]),
                    TOOL_LABELS[tool],
                    sec_text,
                    f"{cpu:.1f}",
                    mb(peak),
                    f"{peak / in_bytes:.1f}x",
                    above,
                    speed,
                    area,
                ]
            )
    return rows


def render_md(results: list[dict], info: dict, argv: list[str], imports_rss: int | None) -> str:
    head = [
        "size (master x plan)",
        "tool",
        "seconds (median / best)",
        "CPU s",
        "peak MB",
        "peak / input coords",
        "(peak - imports) / input shapely",
        "its seconds / kgspatial's (median of rounds)",
        "areas vs geopandas way",
    ]
    lines = [
        "# kgspatial benchmark: latest run",
        "",
        f"Run {dt.datetime.now().astimezone().isoformat(timespec='seconds')} "
        f"(git {info.get('git')}) with `python bench/run_bench.py {' '.join(argv)}`.",
        "",
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc')} CPUs, {info.get('ram_gb')} GB RAM "
        f"(shared; load average at start {info.get('loadavg_at_start')}); Python "
        f"{info.get('python')}, shapely {info.get('shapely')} (GEOS {info.get('geos')}), "
        f"geopandas {info.get('geopandas')}, pyogrio {info.get('pyogrio')}, pandas "
        f"{info.get('pandas')}.",
        "",
        "Seconds are wall clock of the whole process (start-up, reading, writing included), "
        "median and best of the repeats, marked 'busy' when other processes on this shared "
        "machine used over a quarter of a core meanwhile (median; see each run below); speed-up "
        "is this tool's seconds over kgspatial's in the same round, median (and range) over the "
        "rounds; CPU s is user+system; peak MB is the larger of the kernel's "
        "ru_maxrss and the polled RSS sum of the process tree. 'peak / input coords' divides it "
        "by the input geometries' raw coordinates (16 bytes a vertex, all three layers); "
        "'(peak - imports) / input shapely' takes away the RSS of a process that only imports "
        "the libraries" + (f" ({mb(imports_rss)} MB)" if imports_rss else "") + " and divides "
        "by what the input geometries take in memory as shapely objects (heap growth when "
        "built from WKB).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(results, imports_rss)]
    for r in results:
        gs = r["meta"]["geometry_size"]
        lines += [
            "",
            f"## {size_label(r['size'])}",
            "",
            f"Data: `{r['data']}` ({r['meta']['params']['format']}, seed "
            f"{r['meta']['params']['seed']}, follow {r['meta']['params'].get('follow')})"
            + (f", generated in {r['gen_seconds']:.1f} s" if r.get("gen_seconds") else ", cached")
            + ".",
            "",
            "| layer | features | vertices | coords MB | WKB MB | shapely MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, g in gs.items():
            lines.append(
                f"| {name} | {g['features']:,} | {g['vertices']:,} | "
                f"{mb(g['coord_bytes'])} | {mb(g['wkb_bytes'])} | "
                f"{mb(g.get('shapely_bytes'))} |"
            )
        tot_c = sum(g["coord_bytes"] for g in gs.values())
        tot_w = sum(g["wkb_bytes"] for g in gs.values())
        tot_s = sum(g.get("shapely_bytes") or 0 for g in gs.values()) or None
        lines.append(f"| all | | | {mb(tot_c)} | {mb(tot_w)} | {mb(tot_s)} |")
        for tool, runs in r["runs"].items():
            lines.append("")
            for i, x in enumerate(runs, 1):
                lines.append(
                    f"- {tool} run {i}: exit {x['exit']}, {x['seconds']:.2f} s wall, "
                    f"{x['cpu_seconds']:.2f} s CPU (other processes "
                    f"{x.get('others_cpu_seconds', 0):.1f} CPU s meanwhile), "
                    f"peak {mb(x['peak_bytes'])} MB "
                    f"(ru_maxrss {mb(x['ru_maxrss_bytes'])}, tree "
                    f"{mb(x['tree_peak_bytes'])}, {x['processes']} process(es)); "
                    f"log `{x['log']}`"
                )
        if r.get("baseline_stages"):
            lines.append("")
            lines.append("Baseline stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["baseline_stages"].items()))
        if r.get("duckdb_stages"):
            lines.append("")
            lines.append("DuckDB stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["duckdb_stages"].items()))
        for tool, cmp_ in (r.get("comparisons") or {}).items():
            lines += [
                "",
                f"{TOOL_LABELS[tool]} against the geopandas way:",
                "",
                f"| rule | verdict | {tool} m² | baseline m² | rel. diff | pieces {tool} / base |",
                "|---|---|---|---|---|---|",
            ]
            for row in cmp_["rules"]:
                lines.append(
                    f"| {row['rule_id']} | {row['verdict']} | "
                    f"{row['kgspatial_m2']:,.1f} | {row['baseline_m2']:,.1f} | "
                    f"{row['rel_diff']:.1e}{'' if row['ok'] else ' **'} | "
                    f"{row['kgspatial_count']} / {row['baseline_count']} |"
                )
            for name, t in cmp_["totals"].items():
                label = name if name.startswith("totals.") else f"sum of {name} rules"
                lines.append(
                    f"| {label} | | {t['kgspatial_m2']:,.1f} | {t['baseline_m2']:,.1f}"
                    f" | {t['rel_diff']:.1e}{'' if t['ok'] else ' **'} | |"
                )
            lines.append("")
            lines.append(f"Admin units compared: {cmp_['admin_units_compared']}.")
            if cmp_["problems"]:
                lines += ["", "**Disagreements:**", ""] + [f"- {p}" for p in cmp_["problems"]]
            else:
                lines += [
                    "",
                    f"All areas agree within {RTOL:g} relative, the total conflict and"
                    f" conditional areas within {TOTAL_RTOL:g}.",
                ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes", default="20000x2000", help="comma-separated MASTERxPLAN[xCOMMUNES] (default %(default)s)"
    )
    ap.add_argument(
        "--communes", type=int, default=144, help="communes when a size does not say (Kiên Giang had 144 before 2025)"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--format", choices=["gpkg", "parquet"], default="gpkg")
    ap.add_argument(
        "--follow", type=float, default=0.7, help="share of plan zones that follow the master plan (gen_province.py)"
    )
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="kgspatial --jobs")
    ap.add_argument(
        "--tools",
        default="kgspatial,baseline",
        help="comma-separated, run in this order in each round: kgspatial, baseline"
        " (the geopandas way), duckdb (DuckDB spatial)",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="PCT",
        help="before each run, wait (up to 15 min) until the CPUs are PCT%% idle "
        "over 3 s: for a machine shared with others (e.g. 90)",
    )
    ap.add_argument(
        "--rules",
        default=str(DEFAULT_RULES),
        help="rules CSV, or 'conflicts-only': the default table's conflict rows alone",
    )
    ap.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY, help="for the baseline's group matching")
    ap.add_argument(
        "--kgspatial-cmd", default=None, help="command that runs kgspatial (default: the installed console script)"
    )
    ap.add_argument("--kgspatial-args", default="", help="extra arguments for kgspatial check")
    ap.add_argument("--data-dir", type=Path, default=BENCH / "data")
    ap.add_argument("--results-dir", type=Path, default=BENCH / "results")
    a = ap.parse_args(argv)
    sizes = [parse_size(s, a.communes) for s in a.sizes.split(",") if s.strip()]
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        ap.error(f"unknown tool(s) {', '.join(sorted(unknown))}")
    if a.rules == "conflicts-only":
        a.rules = conflicts_only_rules(DEFAULT_RULES, a.data_dir / "rules_conflicts_only.csv")
    a.rules = Path(a.rules)
    rules_tag = "" if a.rules == DEFAULT_RULES else f"_{a.rules.stem}"
    kg_base = kgspatial_cmd(a.kgspatial_cmd)
    info = machine()
    runs_dir = a.results_dir / "runs"
    imports = run_measured([sys.executable, "-c", IMPORTS_ONLY], runs_dir / "imports.log")
    imports_rss = imports["peak_bytes"] if imports["exit"] == 0 else None

    results = []
    for size in sizes:
        data, meta, gen_s = ensure_data(size, a.seed, a.format, a.follow, a.data_dir)
        tag = f"m{size[0]}_p{size[1]}_c{size[2]}_f{a.follow:g}_{a.format}{rules_tag}"
        r = {
            "size": list(size),
            "data": str(data.relative_to(REPO)) if data.is_relative_to(REPO) else str(data),
            "meta": meta,
            "gen_seconds": gen_s,
            "runs": {t: [] for t in tools},
        }
        summaries: dict[str, dict] = {}
        for i in range(a.repeat):
            for tool in tools:
                if a.wait_idle:
                    waited = wait_idle(a.wait_idle / 100)
                    if waited > 5:
                        print(f"[{tag}] waited {waited:.0f} s for idle CPUs", file=sys.stderr)
                print(f"[{tag}] {tool} run {i + 1}/{a.repeat} ...", file=sys.stderr, flush=True)
                log = runs_dir / tag / f"{tool}.run{i + 1}.log"
                if tool == "kgspatial":
                    res, s = run_kgspatial(
                        kg_base,
                        data,
                        meta,
                        a.rules,
                        a.jobs,
                        runs_dir / tag / "kgspatial",
                        log,
                        shlex.split(a.kgspatial_args),
                    )
                elif tool == "duckdb":
                    res, s = run_duckdb(data, meta, a.rules, a.taxonomy, runs_dir / tag / "duckdb.json", log)
                else:
                    res, s = run_baseline(data, meta, a.rules, a.taxonomy, runs_dir / tag / "baseline.json", log)
                if s:
                    summaries[tool] = s
                r["runs"][tool].append(res)
                print(
                    f"[{tag}] {tool}: exit {res['exit']}, {res['seconds']:.1f} s, peak {mb(res['peak_bytes'])} MB",
                    file=sys.stderr,
                    flush=True,
                )
        base_summary = summaries.get("baseline")
        if base_summary:
            r["baseline_stages"] = base_summary.get("seconds")
        if summaries.get("duckdb"):
            r["duckdb_stages"] = summaries["duckdb"].get("seconds")
        r["comparisons"] = {
            t: compare(summaries[t], base_summary) for t in ("kgspatial", "duckdb") if base_summary and summaries.get(t)
        }
        results.append(r)

    head = ["size", "tool", "seconds", "CPU s", "peak MB", "peak/coords", "-imports/shapely", "speed-up", "areas"]
    rows = table_rows(results, imports_rss)
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    print()
    for row in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for r in results:
        for tool, cmp_ in r["comparisons"].items():
            for p in cmp_["problems"]:
                print(f"DISAGREEMENT [{size_label(r['size'])}] {tool}: {p}")

    a.results_dir.mkdir(parents=True, exist_ok=True)
    (a.results_dir / "latest.md").write_text(render_md(results, info, argv, imports_rss), encoding="utf-8")
    (a.results_dir / "latest.json").write_text(
        json.dumps(
            {"machine": info, "argv": argv, "imports_rss_bytes": imports_rss, "results": results},
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {a.results_dir / 'latest.md'}", file=sys.stderr)
    failed = any(not x["ok"] for r in results for runs in r["runs"].values() for x in runs)
    disagree = any(not c["ok"] for r in results for c in r["comparisons"].values())
    return 1 if failed or disagree else 0


if __name__ == "__main__":
    sys.exit(main())
