"""Where do offline maps stop being usable?  File size and time to first paint in headless Chromium.

Synthetic master plans (Voronoi coverages of a 60 km square near Rạch Giá in EPSG:9207, edges
wiggling every 20 m like digitised layers) of N zones with 300 conflict pieces, written by
kgspatial.maps.write_province_map and opened in Debian's chromium with the network refused.
"Ready" is measured from navigation start to two animation frames after the load event, i.e.
when the first frame with every layer drawn has been painted.

    .venv/bin/python bench/map_limits.py --sizes 1000,10000,50000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from kgspatial import maps
from kgspatial.prepare import PreparedLayer
from kgspatial.taxonomy import Taxonomy

X0, Y0, SIDE = 560_000.0, 1_080_000.0, 60_000.0  # EPSG:9207 metres around Rạch Giá
CODES = ["LUC", "LUK", "NTS", "CLN", "HNK", "ONT", "ODT", "RPH", "RSX", "SKK", "DGT", "TMD"]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def synthetic_master(n: int, seed: int = 7) -> PreparedLayer:
    rng = np.random.default_rng(seed)
    square = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    pts = shapely.multipoints(rng.uniform((X0, Y0), (X0 + SIDE, Y0 + SIDE), (n, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=square)), square)
    lines = shapely.segmentize(shapely.union_all(shapely.boundary(cells)), 20.0)

    def wiggle(c):
        inside = (
            (c[:, 0] > X0 + 0.01) & (c[:, 0] < X0 + SIDE - 0.01) & (c[:, 1] > Y0 + 0.01) & (c[:, 1] < Y0 + SIDE - 0.01)
        )
        return np.where(inside[:, None], c + np.sin(c[:, ::-1] * 12.9898) * 3.0, c)

    geoms = np.asarray(shapely.get_parts(shapely.polygonize([shapely.transform(lines, wiggle)])), dtype=object)
    codes = np.asarray(rng.choice(CODES, len(geoms)), dtype=object)
    return PreparedLayer(
        "master",
        geoms,
        codes,
        codes,
        np.full(len(geoms), "", dtype=object),
        np.arange(len(geoms)).astype(str).astype(object),
        np.zeros(len(geoms), dtype=np.int8),
    )


def synthetic_conflicts(master: PreparedLayer, n: int = 300, seed: int = 8) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(master), n, replace=False)
    pieces = shapely.buffer(shapely.centroid(master.geoms[idx]), 150.0, quad_segs=4)
    sev = rng.choice(["high", "medium", "low"], n)
    return gpd.GeoDataFrame(
        {
            "conflict_id": [f"c{i}" for i in range(n)],
            "plan_id": "qh-bench",
            "plan_feature": [str(i) for i in range(n)],
            "master_feature": master.feature_ids[idx],
            "plan_code": "ODT",
            "master_code": master.codes[idx],
            "plan_label": "",
            "master_label": "",
            "rule_id": "R01",
            "verdict": np.where(sev == "low", "conditional", "conflict"),
            "severity": sev,
            "reference": "Luật Đất đai 2024",
            "kind": "polygon",
            "area_m2": shapely.area(pieces),
            "length_m": 0.0,
            "share": 1.0,
        },
        geometry=gpd.GeoSeries(pieces, crs="EPSG:9207"),
    )


def first_paint(browser, path: Path) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    page.goto(path.as_uri(), wait_until="load", timeout=600_000)
    ready = page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
    )
    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
    # A zoom in: every shape is projected and drawn again (SVG and canvas alike).
    zoom = page.evaluate("""() => new Promise(r => { const m = kgspatial.map, t = performance.now();
        m.once('zoomend', () => requestAnimationFrame(() => r(performance.now() - t)));
        m.setZoom(m.getZoom() + 1, {animate: false}); })""")
    page.close()
    return {"ready_ms": round(ready), "zoom_ms": round(zoom), "js_heap_mb": round(heap / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    taxonomy = Taxonomy.load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        for n in [int(s) for s in args.sizes.split(",")]:
            master = synthetic_master(n)
            conflicts = synthetic_conflicts(master)
            variants = [("default", {})]
            if len(master) > 20_000:
                variants.append(("dissolved by code", {"max_features": 20_000}))
            if len(master) + len(conflicts) <= 12_000:
                variants.append(("svg forced", {"svg": True}))
            for name, kw in variants:
                saved = maps.CANVAS_THRESHOLD
                if kw.pop("svg", False):
                    maps.CANVAS_THRESHOLD = 10**9
                try:
                    t = time.perf_counter()
                    path = maps.write_province_map(master, taxonomy, conflicts, Path(tmp) / f"m{n}.html", **kw)
                    write_s = time.perf_counter() - t
                finally:
                    maps.CANVAS_THRESHOLD = saved
                canvas = '"preferCanvas": true' in path.read_text(encoding="utf-8")
                row = {
                    "zones": len(master),
                    "variant": name,
                    "renderer": "canvas" if canvas else "svg",
                    "vertices_in": int(shapely.get_num_coordinates(master.geoms).sum()),
                    "file_mb": round(path.stat().st_size / 1e6, 2),
                    "write_s": round(write_s, 1),
                    **first_paint(browser, path),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        browser.close()
    print("\n| zones | variant | renderer | file | write | ready in Chromium | zoom-in redraw | JS heap |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['zones']:,} | {r['variant']} | {r['renderer']} | {r['file_mb']} MB | {r['write_s']} s "
            f"| {r['ready_ms'] / 1000:.1f} s | {r['zoom_ms']} ms | {r['js_heap_mb']} MB |"
        )


if __name__ == "__main__":
    main()
