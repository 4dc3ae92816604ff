"""Bounded rendering: time and peak memory of `kgspatial check --map` and of GET /checks/{id}/map
on a plan of one MultiPolygon with N parts (issue 12: 100 000 parts ran over 300 s and 18.7 GB).

The scene is tests/test_render_budget.py's (30 m squares at a 100 m pitch over a two-zone master
plan).  Each measurement runs in its own process, capped at --cap-gb of address space and
--timeout seconds, so a runaway is reported rather than swapping the machine; peak RSS is the
process's own (getrusage).  With --paint the map is opened in headless Chromium as in
bench/map_limits.py.

    PYTHONPATH=. .venv/bin/python bench/render_budget.py --parts 100000 --paint
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def scene(folder: Path, parts: int) -> dict:
    from tests import geoms
    from tests.test_render_budget import many_parts_plan, split_master

    cols = 250
    (folder / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return {
        "plan": many_parts_plan(folder / "phan_tan.gpkg", cols, -(-parts // cols)),
        "master": split_master(folder / "master.gpkg"),
        "rules": folder / "rules.csv",
    }


def one_cli(folder: Path, files: dict) -> dict:
    from kgspatial.cli import main

    t = time.perf_counter()
    rc = main(
        [
            "check",
            "--master",
            str(files["master"]),
            "--plan",
            str(files["plan"]),
            "--rules",
            str(files["rules"]),
            "--map",
            "--out",
            str(folder / "out"),
            "-q",
        ]
    )
    return {"rc": rc, "seconds": round(time.perf_counter() - t, 1), "map": str(folder / "out" / "map.html")}


def one_api(folder: Path, files: dict) -> dict:
    from fastapi.testclient import TestClient

    from api import Settings, create_app

    app = create_app(Settings(data_dir=folder / "data", job_poll_seconds=0.05))
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {app.state.store.create_key('a', 'admin')[1]}"}

        def upload(route, path, **data):
            with open(path, "rb") as f:
                return client.post(f"/api/v1/{route}", headers=h, files={"file": (path.name, f)}, data=data).json()[
                    "id"
                ]

        upload("masters", files["master"], name="m")
        rules = upload("rules", files["rules"], name="r")
        plan = upload("plans", files["plan"], name="p", plan_type="rural")
        check = client.post("/api/v1/checks", headers=h, json={"plan_id": plan, "rules_id": rules}).json()["id"]
        while client.get(f"/api/v1/checks/{check}", headers=h).json()["status"] in ("accepted", "running"):
            time.sleep(0.1)
        t = time.perf_counter()
        r = client.get(f"/api/v1/checks/{check}/map", headers=h)
        seconds = time.perf_counter() - t
        (folder / "api-map.html").write_text(r.text, encoding="utf-8")
    return {"status": r.status_code, "seconds": round(seconds, 1), "map": str(folder / "api-map.html")}


def child(what: str, folder: Path, parts: int) -> None:
    files = scene(folder, parts)
    out = (one_cli if what == "cli" else one_api)(folder, files)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print("RESULT " + json.dumps(out), flush=True)


def measure(what: str, folder: Path, parts: int, cap_gb: float, timeout: float) -> dict:
    cap = int(cap_gb * 2**30)
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", what, "--folder", str(folder), "--parts", str(parts)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
        )
    except subprocess.TimeoutExpired:
        return {"what": what, "outcome": f"killed after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"what": what, "outcome": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    result = {"what": what, **json.loads(lines[-1][7:])}
    from tests.test_render_budget import drawn

    page = Path(result.pop("map")).read_text(encoding="utf-8")
    result["map_mb"] = round(len(page.encode()) / 1e6, 1)
    result["vertices_drawn"] = drawn(page)[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--cap-gb", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--paint", action="store_true", help="also time the first paint in Chromium")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--child", choices=["cli", "api"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.parts)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for what in ("cli", "api"):
            folder = Path(tmp) / what
            folder.mkdir()
            row = measure(what, folder, args.parts, args.cap_gb, args.timeout)
            if args.paint and "vertices_drawn" in row:
                from map_limits import ARGS, first_paint
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
                    page = folder / ("out/map.html" if what == "cli" else "api-map.html")
                    row.update(first_paint(browser, page))
                    browser.close()
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
