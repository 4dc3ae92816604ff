"""Benchmark of hazard screening (CONTRACT §8, issue 14): kgspatial against the plain way.

    .venv/bin/python bench/hazards_bench.py --cells 20000 --polygons 100000
    .venv/bin/python bench/hazards_bench.py --cells 20000 --polygons 2000,10000 --methods kgspatial,mask,rasterstats

A seeded depth raster of CELLS x CELLS 10 m cells (EPSG:9207, tiled, deflate; 20,000 cells a side is
a province-wide 10 m DEM, 200 x 200 km, 1.6 GB as float32) and POLYGONS random rectangles of 20-80 m
(edges anywhere inside cells).  Each method runs in its own process (peak memory = that process's
max RSS) and screens the same polygons into the same four depth bands (above 0, 0.5, 1.0, 1.5 m):

- kgspatial: `run_hazards` end to end (reads the GeoPackage, exactextract coverage, cuts by cells);
- mask: `rasterio.mask.mask(crop=True)` per feature, cells counted by centre (the plain way);
- rasterstats: `zonal_stats(categorical=True)` per feature over the classified values, by centre;
- duckdb: DuckDB spatial is asked whether it can read a raster at all (it has no raster type).

The band areas of the centre-counting methods are compared with kgspatial's exact ones.
Data go to bench/data/hazards/ (git-ignored), results to bench/results/hazards-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
X0, Y0, CELL = 400_000.0, 1_200_000.0, 10.0
LEVELS = [0.0, 0.5, 1.0, 1.5]
RULES = "rule_id,plan_code,hazard_id,min_depth,verdict,severity\n" + "".join(
    f"B{i},*,flood,{lv},{'conflict' if lv >= 1 else 'conditional'},medium\n" for i, lv in enumerate(LEVELS)
)


def depth_field(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Smooth depth 0.0-2.0 m, band edges winding through the raster every few km."""
    y, x = rows[:, None] * CELL, cols[None, :] * CELL
    d = 1.0 + 0.6 * np.sin(x / 3100.0) * np.cos(y / 2700.0) + 0.4 * np.sin((x + y) / 9000.0)
    return np.round(d, 2).astype("float32")


def make_raster(path: Path, n: int) -> None:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    if path.exists():
        return
    tmp = path.with_suffix(".part.tif")
    block = 2048
    with rasterio.open(
        tmp,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs="EPSG:9207",
        transform=from_origin(X0, Y0, CELL, CELL),
        nodata=-9999.0,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=3,
        BIGTIFF="YES",
    ) as ds:
        for r in range(0, n, block):
            for c in range(0, n, block):
                h, w = min(block, n - r), min(block, n - c)
                ds.write(depth_field(np.arange(r, r + h), np.arange(c, c + w)), 1, window=Window(c, r, w, h))
    os.replace(tmp, path)


def make_polygons(path: Path, n: int, cells: int, seed: int = 14) -> None:
    import geopandas as gpd
    import shapely

    if path.exists():
        return
    rng = np.random.default_rng(seed)
    span = cells * CELL
    x = X0 + rng.uniform(100, span - 200, n)
    y = Y0 - rng.uniform(100, span - 200, n)
    w, h = rng.uniform(20, 80, n), rng.uniform(20, 80, n)
    geoms = shapely.box(x, y - h, x + w, y)
    gpd.GeoDataFrame({"code": np.full(n, "ODT")}, geometry=geoms, crs=9207).to_file(path, engine="pyogrio")


def run_kgspatial(raster: Path, plan: Path, folder: Path) -> dict:
    from kgspatial.check import PlanInput
    from kgspatial.hazards import HazardOptions, run_hazards

    (folder / "hazard_rules.csv").write_text(RULES, encoding="utf-8")
    (folder / "HAZARDS.yaml").write_text(
        f"layers:\n  - id: flood\n    path: {raster.name}\nrules: hazard_rules.csv\n", encoding="utf-8"
    )
    start = time.perf_counter()
    run = run_hazards(
        HazardOptions(plans=[PlanInput(str(plan), code_field="code")], hazards=str(folder / "HAZARDS.yaml"), jobs=1)
    )
    elapsed = time.perf_counter() - start
    rows = run.result.findings
    by_band = rows.groupby("min_depth")["area_m2"].sum()
    per = rows.assign(f=rows["plan_feature"].astype(int)).groupby(["f", "min_depth"])["area_m2"].sum()
    return {
        "seconds": elapsed,
        "bands_m2": {f"{k:g}": float(v) for k, v in by_band.items()},
        "per_feature": {f"{f}:{b:g}": float(v) for (f, b), v in per.items()},
    }


def _band(values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(LEVELS), values, side="left") - 1


def run_mask(raster: Path, plan: Path) -> dict:
    import pyogrio
    import rasterio
    import rasterio.mask

    start = time.perf_counter()
    frame = pyogrio.read_dataframe(plan)
    totals = np.zeros(len(LEVELS))
    per = {}
    with rasterio.open(raster) as ds:
        for i, geom in enumerate(frame.geometry.values):
            data, _ = rasterio.mask.mask(ds, [geom], crop=True, filled=False)
            values = data[0].compressed()
            bands = _band(values)
            for b in np.unique(bands[bands >= 0]):
                area = float((bands == b).sum()) * CELL * CELL
                totals[b] += area
                per[f"{i}:{LEVELS[b]:g}"] = area
    return {
        "seconds": time.perf_counter() - start,
        "bands_m2": {f"{lv:g}": float(t) for lv, t in zip(LEVELS, totals)},
        "per_feature": per,
    }


def run_rasterstats(raster: Path, plan: Path) -> dict:
    import pyogrio
    from rasterstats import zonal_stats

    start = time.perf_counter()
    frame = pyogrio.read_dataframe(plan)
    totals = np.zeros(len(LEVELS))
    per = {}
    stats = zonal_stats(
        frame.geometry.values, str(raster), categorical=True, nodata=-9999.0, zone_func=None, add_stats=None, band=1
    )
    # categorical counts each distinct value; classify the values into bands
    for i, counts in enumerate(stats):
        for value, n in counts.items():
            b = int(_band(np.array([value]))[0])
            if b >= 0:
                totals[b] += n * CELL * CELL
                key = f"{i}:{LEVELS[b]:g}"
                per[key] = per.get(key, 0.0) + n * CELL * CELL
    return {
        "seconds": time.perf_counter() - start,
        "bands_m2": {f"{lv:g}": float(t) for lv, t in zip(LEVELS, totals)},
        "per_feature": per,
    }


def run_duckdb(raster: Path) -> dict:
    start = time.perf_counter()
    try:
        import duckdb
    except ImportError:
        return {"seconds": 0.0, "supported": False, "why": "duckdb is not installed (pip install duckdb==1.5.5)"}
    con = duckdb.connect()
    try:
        con.execute("LOAD spatial")
    except duckdb.Error:
        try:
            con.execute("INSTALL spatial; LOAD spatial")
        except duckdb.Error as exc:
            return {"seconds": 0.0, "supported": False, "why": f"spatial extension unavailable: {exc}"}
    import re

    names = sorted(
        {
            r[0]
            for r in con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
            if re.search(r"raster|^rt_", r[0], re.IGNORECASE)
        }
    )
    try:
        con.execute(f"SELECT * FROM ST_Read('{raster}') LIMIT 1").fetchall()
        st_read = "ST_Read opened it"
    except duckdb.Error as exc:
        st_read = f"ST_Read refuses it: {' '.join(str(exc).split())[:200]}"
    return {
        "seconds": time.perf_counter() - start,
        "supported": bool(names),
        "raster_functions": names,
        "st_read": st_read,
        "version": duckdb.__version__,
    }


def child(args) -> None:
    raster, plan = Path(args.raster), Path(args.plan)
    if args.method == "kgspatial":
        out = run_kgspatial(raster, plan, raster.parent)
    elif args.method == "mask":
        out = run_mask(raster, plan)
    elif args.method == "rasterstats":
        out = run_rasterstats(raster, plan)
    else:
        out = run_duckdb(raster)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def compare(exact: dict, other: dict) -> dict:
    """Per feature and band: relative error of a centre count against the exact area."""
    errors = []
    for key, want in exact["per_feature"].items():
        if want >= 100:  # pieces of at least one cell
            errors.append(abs(other["per_feature"].get(key, 0.0) - want) / want)
    total_exact = sum(exact["bands_m2"].values())
    total_other = sum(other["bands_m2"].values())
    return {
        "feature_band_pieces": len(errors),
        "median_rel_error": float(np.median(errors)) if errors else 0.0,
        "p90_rel_error": float(np.quantile(errors, 0.9)) if errors else 0.0,
        "total_rel_error": abs(total_other - total_exact) / total_exact if total_exact else 0.0,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=20_000, help="raster cells a side (10 m cells)")
    p.add_argument("--polygons", default="100000", help="comma-separated polygon counts")
    p.add_argument("--methods", default="kgspatial,mask,rasterstats,duckdb")
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--raster", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.method:
        child(args)
        return 0
    data = HERE / "data" / "hazards"
    data.mkdir(parents=True, exist_ok=True)
    raster = data / f"depth_{args.cells}.tif"
    t = time.perf_counter()
    make_raster(raster, args.cells)
    print(
        f"raster {raster.name}: {raster.stat().st_size / 1e6:,.0f} MB on disk ({time.perf_counter() - t:.0f} s)",
        flush=True,
    )
    results = {"cells": args.cells, "raster_mb": raster.stat().st_size / 1e6, "runs": []}
    for n in [int(v) for v in args.polygons.split(",")]:
        plan = data / f"plan_{args.cells}_{n}.gpkg"
        make_polygons(plan, n, args.cells)
        got = {}
        for method in args.methods.split(","):
            proc = subprocess.run(
                [sys.executable, __file__, "--method", method, "--raster", str(raster), "--plan", str(plan)],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(f"{method} failed: {proc.stderr[-2000:]}", flush=True)
                continue
            got[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            line = f"{n:>7,} polygons  {method:<11} {got[method]['seconds']:8.1f} s  peak {got[method]['peak_rss_mb']:7.0f} MB"
            if method == "duckdb":
                line += f"  raster support: {got[method].get('supported')} ({got[method].get('st_read', got[method].get('why'))})"
            print(line, flush=True)
        run = {"polygons": n, **{m: {k: v for k, v in r.items() if k != "per_feature"} for m, r in got.items()}}
        if "kgspatial" in got:
            for other in ("mask", "rasterstats"):
                if other in got:
                    run[f"{other}_vs_exact"] = compare(got["kgspatial"], got[other])
                    print(f"          {other} vs exact: {run[f'{other}_vs_exact']}", flush=True)
        results["runs"].append(run)
    out = HERE / "results" / f"hazards-{args.cells}-{args.polygons.replace(',', '_')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
