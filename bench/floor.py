"""How fast could any tool do kgspatial's job on this machine?  The floor, measured beside the tools.

`run_bench.py` says how fast kgspatial is; this script says how fast it *could* be, so that a
speed-up target can be judged reachable or not.  In one session it runs the geopandas baseline
and kgspatial (as whole processes, like run_bench.py), then times, in this process, only the
work no implementation of CONTRACT §1–2 can skip:

- ``imports``: starting Python and importing the readers (a process that only imports them);
- ``read``: pyogrio's Arrow read of the three layers and WKB -> shapely, nothing else;
- ``intersections``: GEOS intersections of the pairs that truly straddle a border: plan
  feature x master zone pairs a rule reports (conflict or conditional; not the unreviewed
  pairs no rule covers, which need no exact geometry) that intersect and
  where neither covers the other, plus plan feature x commune pairs likewise (single-threaded
  CPU seconds; the only part that two cores can halve);
- ``write``: shapely -> WKB and GDAL's GeoPackage writer for kgspatial's own conflict rows
  (CONTRACT §1 wants them in conflicts.gpkg; the baseline writes a small JSON).

Two floors follow.  *CPU floor*: everything above spread perfectly over all cores (a bound no
schedule can beat).  *Serial floor*: imports, read and write one after another (each needs the
one before, and GDAL's writer and from_wkb hold the GIL) plus the intersections on all cores.
The highest speed-up any tool could show is the baseline's seconds over a floor.

Usage::

    .venv/bin/python bench/floor.py --sizes 100000x10000,1000000x100000
    .venv/bin/python bench/floor.py --sizes 100000x10000x50 --rules conflicts-only --duckdb   # issue 17
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run_bench as rb  # noqa: E402  (after the path insert) the same data, tools and measurement as run_bench.py

sys.path.insert(0, str(rb.REPO))
from kgspatial.profile import load_profile  # noqa: E402
from kgspatial.rules import load_rules  # noqa: E402

# What a reader of GeoPackages through pyogrio cannot avoid importing (pyogrio itself imports
# geopandas, pandas and pyarrow when they are installed).
READER_IMPORTS = "import pyogrio, shapely, pyproj"
TARGETS = {100_000: (4.0, 1.5), 1_000_000: (6.0, 1.5)}  # issue 17: master zones -> over geopandas, over DuckDB


def read_geoms(path: Path, columns: list[str]) -> tuple[np.ndarray, dict]:
    """The layer's geometries and the asked columns, the cheapest way pyogrio offers."""
    meta, table = pyogrio.read_arrow(path, columns=columns)
    geoms = shapely.from_wkb(table.column(meta["geometry_name"] or "wkb_geometry").to_numpy(zero_copy_only=False))
    return geoms, {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def straddling(left: np.ndarray, right: np.ndarray, keep=None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose boxes meet, that `keep(li, ri)` allows, that intersect, and where neither
    side covers the other: the pairs only an intersection can answer."""
    li, ri = shapely.STRtree(right).query(left)
    if keep is not None:
        ok = keep(li, ri)
        li, ri = li[ok], ri[ok]
    a, b = left[li], right[ri]
    real = shapely.intersects(a, b) & ~shapely.covered_by(a, b) & ~shapely.covered_by(b, a)
    return li[real], ri[real]


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def measure_floor(data: Path, meta: dict, rules_path: Path, conflicts_gpkg: Path) -> dict:
    fields = meta["fields"]
    f = meta["files"]
    imports = rb.run_measured([sys.executable, "-c", READER_IMPORTS], BENCH / "results" / "runs" / "floor_imports.log")

    t0 = time.perf_counter()
    master, mcols = read_geoms(data / f["master"], [fields["master"]["code"]])
    plan, pcols = read_geoms(data / f["plan"], [fields["plan"]["code"]])
    communes, _ = read_geoms(data / f["communes"], [])
    read_s = time.perf_counter() - t0

    profile = load_profile()
    taxonomy = profile.load_taxonomy()
    rules = load_rules(rules_path, taxonomy)

    def code_index(values: np.ndarray) -> np.ndarray:
        distinct, inverse = np.unique(values.astype(str), return_inverse=True)
        canonical, _ = taxonomy.map_values(list(distinct))
        return rules.code_indices(np.array(canonical, dtype=object))[inverse]

    m_code = code_index(mcols[fields["master"]["code"]])
    p_code = code_index(pcols[fields["plan"]["code"]])
    # Pairs a rule reports (conflict, conditional); unreviewed pairs need no intersection (issue 17).
    reporting = rules.reporting_mask() & (rules.matrix >= 0)
    mi_pairs = straddling(plan, master, lambda li, ri: reporting[p_code[li], m_code[ri]])
    ai_pairs = straddling(plan, communes)
    _, master_s = timed(shapely.intersection, plan[mi_pairs[0]], master[mi_pairs[1]])
    _, admin_s = timed(shapely.intersection, plan[ai_pairs[0]], communes[ai_pairs[1]])

    gmeta, table = pyogrio.read_arrow(conflicts_gpkg)
    geom_name = gmeta["geometry_name"] or "wkb_geometry"
    pieces = shapely.from_wkb(table.column(geom_name).to_numpy(zero_copy_only=False))
    _, wkb_s = timed(shapely.to_wkb, pieces)
    table = table.rename_columns(["geometry" if c == geom_name else c for c in table.column_names])
    target = BENCH / "results" / "floor_write.gpkg"
    target.unlink(missing_ok=True)
    _, gdal_s = timed(
        lambda: pyogrio.write_arrow(
            table,
            target,
            layer="conflicts",
            driver="GPKG",
            geometry_name="geometry",
            geometry_type=gmeta.get("geometry_type") or "Unknown",
            crs=gmeta["crs"],
        )
    )
    target.unlink(missing_ok=True)

    cores = os.cpu_count() or 1
    inter_s = master_s + admin_s
    serial = imports["seconds"] + read_s + wkb_s + gdal_s
    return {
        "imports_s": imports["seconds"],
        "read_s": read_s,
        "pairs_master": len(mi_pairs[0]),
        "pairs_admin": len(ai_pairs[0]),
        "intersections_cpu_s": inter_s,
        "us_per_intersection": 1e6 * inter_s / max(1, len(mi_pairs[0]) + len(ai_pairs[0])),
        "rows_written": int(table.num_rows),
        "write_s": wkb_s + gdal_s,
        "cores": cores,
        "cpu_floor_s": (serial + inter_s) / cores,
        "serial_floor_s": serial + inter_s / cores,
    }


def render(rows: list[dict]) -> str:
    out = [
        (
            "| size | geopandas s | DuckDB s | kgspatial s | imports s | read s | straddling pairs (master + communes) |"
            " intersections CPU s (µs each) | rows written | write s | CPU floor s | serial floor s |"
            " over geopandas: kgspatial / at CPU floor / at serial floor |"
            " over DuckDB: kgspatial / at CPU floor / at serial floor | target (geopandas, DuckDB) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fl, base, kg, duck = r["floor"], r["baseline_s"], r["kgspatial_s"], r.get("duckdb_s")
        over_duck = (
            f" {duck / kg:.2f}x / {duck / fl['cpu_floor_s']:.2f}x / {duck / fl['serial_floor_s']:.2f}x |"
            if duck
            else " - |"
        )
        target = r["target"]
        out.append(
            f"| {rb.size_label(r['size'])} | {base:.1f} | {f'{duck:.1f}' if duck else '-'} | {kg:.1f} |"
            f" {fl['imports_s']:.2f} | {fl['read_s']:.2f} |"
            f" {fl['pairs_master']:,} + {fl['pairs_admin']:,} | {fl['intersections_cpu_s']:.1f} ({fl['us_per_intersection']:.0f}) |"
            f" {fl['rows_written']:,} | {fl['write_s']:.2f} | {fl['cpu_floor_s']:.1f} | {fl['serial_floor_s']:.1f} |"
            f" {base / kg:.1f}x / {base / fl['cpu_floor_s']:.1f}x / {base / fl['serial_floor_s']:.1f}x |{over_duck}"
            f" {f'{target[0]:g}x, {target[1]:g}x' if target else '-'} |"
        )
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000x10000", help="comma-separated MASTERxPLAN[xCOMMUNES]")
    ap.add_argument("--communes", type=int, default=144)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--follow", type=float, default=0.7)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--rules",
        default=str(rb.DEFAULT_RULES),
        help="rules CSV, or 'conflicts-only' (run_bench.py's: the default table's conflict rows)",
    )
    ap.add_argument("--duckdb", action="store_true", help="also run DuckDB spatial (bench/duckdb_spatial.py)")
    ap.add_argument("--taxonomy", type=Path, default=rb.DEFAULT_TAXONOMY)
    ap.add_argument("--kgspatial-args", default="")
    a = ap.parse_args(argv)
    if a.rules == "conflicts-only":
        a.rules = rb.conflicts_only_rules(rb.DEFAULT_RULES, BENCH / "data" / "rules_conflicts_only.csv")
    a.rules = Path(a.rules)
    runs = BENCH / "results" / "runs"
    rows = []
    for text in a.sizes.split(","):
        size = rb.parse_size(text, a.communes)
        data, meta, _ = rb.ensure_data(size, a.seed, "gpkg", a.follow, BENCH / "data")
        tag = f"floor_m{size[0]}_p{size[1]}_c{size[2]}"
        print(f"[{tag}] baseline ...", file=sys.stderr, flush=True)
        base, _ = rb.run_baseline(
            data, meta, a.rules, a.taxonomy, runs / tag / "baseline.json", runs / tag / "baseline.log"
        )
        print(f"[{tag}] kgspatial ...", file=sys.stderr, flush=True)
        out = runs / tag / "kgspatial"
        kg, _ = rb.run_kgspatial(
            rb.kgspatial_cmd(None),
            data,
            meta,
            a.rules,
            a.jobs,
            out,
            runs / tag / "kgspatial.log",
            shlex.split(a.kgspatial_args),
        )
        duck = None
        if a.duckdb:
            print(f"[{tag}] duckdb ...", file=sys.stderr, flush=True)
            duck, _ = rb.run_duckdb(
                data, meta, a.rules, a.taxonomy, runs / tag / "duckdb.json", runs / tag / "duckdb.log"
            )
        if not (base["exit"] == 0 and kg["ok"] and (duck is None or duck["ok"])):
            print(f"[{tag}] a tool failed: see the logs under {runs / tag}", file=sys.stderr)
            return 1
        print(f"[{tag}] floor ...", file=sys.stderr, flush=True)
        rows.append(
            {
                "size": list(size),
                "baseline_s": base["seconds"],
                "kgspatial_s": kg["seconds"],
                "duckdb_s": duck["seconds"] if duck else None,
                "target": TARGETS.get(size[0]),
                "floor": measure_floor(data, meta, a.rules, out / "conflicts.gpkg"),
            }
        )
    table = render(rows)
    print(table)
    results = BENCH / "results"
    (results / "floor.md").write_text(
        f"# kgspatial benchmark: the floor\n\nRun {time.strftime('%Y-%m-%dT%H:%M:%S%z')} with"
        f" `python bench/floor.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" on {rb.machine().get('cpu', 'this machine')}.\n\n{table}",
        encoding="utf-8",
    )
    (results / "floor.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {results / 'floor.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
