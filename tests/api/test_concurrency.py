"""20 uploads and checks from threads at once: no job and no file lost, every result right."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest


def test_twenty_uploads_and_checks_from_threads(api, scene, scene_files):
    payload = (scene_files / "plan.gpkg").read_bytes()

    def one(i: int) -> tuple[str, str]:
        who = "planner" if i % 2 else "planner2"
        r = api.post(
            "/api/v1/plans",
            who,
            files={"file": (f"plan{i}.gpkg", payload)},
            data={"name": f"QH {i}", "plan_type": "urban_zoning", "id_field": "so_hieu"},
        )
        assert r.status_code == 201, r.text
        r = api.post("/api/v1/checks", who, json={"plan_id": r.json()["id"]})
        assert r.status_code == 202, r.text
        return who, r.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = list(pool.map(one, range(20)))
    assert len({c for _, c in jobs}) == 20
    for who, check_id in jobs:
        done = api.wait(check_id, who, timeout=180)
        assert done["status"] == "successful", done
        totals = done["summary"]["totals"]
        assert totals["conflict_area_m2"] == pytest.approx(5800.0)  # 2500 + 2500 + 800 m², by hand
        assert totals["conditional_area_m2"] == pytest.approx(3600.0)
        fc = api.get(f"/api/v1/checks/{check_id}/conflicts", who).json()
        assert fc["numberMatched"] == 6
    assert api.get("/api/v1/plans", "viewer").json()["total"] == 21  # the scene's plan and these 20
    assert api.get("/api/v1/checks", "viewer").json()["total"] == 20
    assert api.get("/api/v1/checks", "planner").json()["total"] == 10
    scratch = api.settings.data_dir / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())  # every upload's scratch folder removed
    if not api.settings.database_url:
        done = sorted(p.parent.name for p in (api.settings.data_dir / "checks").glob("*/conflicts.gpkg"))
        assert done == sorted(c for _, c in jobs)
