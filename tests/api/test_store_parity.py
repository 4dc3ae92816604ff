"""The PostGIS store answers as the embedded one: 3D/ZM layers, degenerate rings, values that
PostgreSQL refuses (NUL bytes, bigint overflow), and a failed write leaves nothing behind."""

from __future__ import annotations

import json

import shapely

from tests import geoms


def _coords_2d(geometry: dict) -> bool:
    def walk(c):
        return len(c) == 2 if isinstance(c[0], (int, float)) else all(walk(x) for x in c)

    return walk(geometry["coordinates"])


def _zm(geom):
    return shapely.from_wkt(
        shapely.force_3d(geom, 5.0).wkt.replace(" Z ", " ZM ").replace(" 5,", " 5 7,").replace(" 5)", " 5 7)")
    )


def test_3d_and_zm_plans_are_stored_2d(api, scene, tmp_path):
    frame = geoms.plan_frame()
    z = frame.copy()
    z["geometry"] = shapely.force_3d(frame.geometry.values, 5.0)
    z.to_file(tmp_path / "z.gpkg")
    zm = frame.copy()
    zm["geometry"] = [_zm(g) for g in frame.geometry]
    zm.to_parquet(tmp_path / "zm.parquet")
    for path in (tmp_path / "z.gpkg", tmp_path / "zm.parquet"):
        r = api.upload("plans", path, name=path.stem, plan_type="rural")
        assert r.status_code == 201, r.text
        plan = r.json()["id"]
        items = api.get(f"/ogc/collections/plan-{plan}/items?limit=100")
        assert items.status_code == 200, items.text
        assert all(_coords_2d(f["geometry"]) for f in items.json()["features"] if f["geometry"])
        check = api.post("/api/v1/checks", json={"plan_id": plan}).json()
        assert api.wait(check["id"])["status"] == "successful"


def test_ring_of_three_points_is_repaired_on_both_stores(api, scene, tmp_path):
    x0, y0, x1, y1 = geoms.plan_frame().iloc[[0]].total_bounds
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::9207"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"ma": "ODT"},
                "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x0, y0]]]},
            },
            {
                "type": "Feature",
                "properties": {"ma": "ODT"},
                "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y0]]]},
            },
        ],
    }
    (tmp_path / "ring.geojson").write_text(json.dumps(doc))
    r = api.upload("plans", tmp_path / "ring.geojson", name="ring", plan_type="rural")
    assert r.status_code == 201, r.text
    assert any("repaired" in w for w in r.json()["warnings"])
    plan = r.json()["id"]
    features = api.get(f"/ogc/collections/plan-{plan}/items").json()["features"]
    # the ring has no area: not a zone, dropped from the check and served without geometry
    assert [f["geometry"] and f["geometry"]["type"] for f in features] == [None, "Polygon"]
    check = api.post("/api/v1/checks", json={"plan_id": plan}).json()
    assert api.wait(check["id"])["status"] == "successful"


def test_text_with_nul_is_kept_alike(api, scene, tmp_path):
    """GeoParquet may carry NUL in text (GDAL drops it elsewhere); PostgreSQL cannot store it."""
    frame = geoms.plan_frame()
    frame["ten"] = ["Khu\x00 dân cư"] + list(frame["ten"][1:])
    frame.to_parquet(tmp_path / "nul.parquet")
    r = api.upload("plans", tmp_path / "nul.parquet", name="nul", plan_type="rural")
    assert r.status_code == 201, r.text
    item = api.get(f"/ogc/collections/plan-{r.json()['id']}/items/0").json()
    assert item["properties"]["ten"] == "Khu dân cư"


def test_values_postgres_refuses_are_4xx_and_leave_connections_usable(api, scene):
    plan = scene["plan"]
    r = api.get(f"/ogc/collections/plan-{plan}/items?offset={10**20}")
    assert r.status_code == 422 and "offset" in r.text, r.text  # refused before the store
    r = api.get(f"/ogc/collections/plan-{plan}/items?offset={2**31 - 1}")
    assert r.status_code == 200 and r.json()["features"] == [], r.text
    for url in (
        "/api/v1/plans/ab%00cd",
        "/api/v1/checks/x%00y",
        "/ogc/collections/plan-ab%00cd/items",
        "/api/v1/masters/m%00",
    ):
        r = api.get(url)
        assert r.status_code in (400, 404) and "detail" in r.json(), (url, r.text)
    r = api.post("/api/v1/checks", json={"plan_id": "p\x00"})
    assert 400 <= r.status_code < 500 and "detail" in r.json(), r.text
    for _ in range(30):  # more than the pool holds: every connection was rolled back
        assert api.get("/api/v1/plans").status_code == 200
        assert api.get(f"/api/v1/plans/{plan}").status_code == 200


def _leave_orphans(settings, store) -> None:
    """What a server killed mid-upload (or mid-delete) left: feature rows with no record."""
    if not settings.database_url:
        (settings.data_dir / "layers" / "0rphan0000000000").mkdir()
        (settings.data_dir / "layers" / "0rphan0000000000" / "layer.parquet").write_bytes(b"partial")
        (settings.data_dir / "checks" / "g0ne").mkdir()
        return
    import sqlalchemy as sa

    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO layer_features SELECT '0rphan0000000000', n, false, '{}', ST_MakePoint(n, n), NULL"
                " FROM generate_series(0, 19999) n"
            )
        )
        conn.execute(sa.text("INSERT INTO feature_schemas VALUES ('0rphan0000000000', '[]', 'x'), ('g0ne', '[]', 'x')"))
        conn.execute(
            sa.text("INSERT INTO conflict_features (check_id, seq, sensitive, props) VALUES ('g0ne', 0, false, '{}')")
        )


def _orphans(settings, store) -> int:
    if not settings.database_url:
        return sum((settings.data_dir / sub).exists() for sub in ("layers/0rphan0000000000", "checks/g0ne"))
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return sum(
            conn.execute(sa.text(sql)).scalar_one()
            for sql in (
                "SELECT count(*) FROM layer_features WHERE layer_id = '0rphan0000000000'",
                "SELECT count(*) FROM feature_schemas WHERE owner_id IN ('0rphan0000000000', 'g0ne')",
                "SELECT count(*) FROM conflict_features WHERE check_id = 'g0ne'",
            )
        )


def test_rows_without_a_record_are_swept_at_restart(api, scene):
    from fastapi.testclient import TestClient

    from api import create_app

    store = api.client.app.state.store
    _leave_orphans(api.settings, store)
    assert _orphans(api.settings, store) > 0
    with TestClient(create_app(api.settings)):  # a restart: a new app on the same store
        pass
    assert _orphans(api.settings, store) == 0
    plan = scene["plan"]  # what records own is kept
    assert len(api.get(f"/ogc/collections/plan-{plan}/items").json()["features"]) == 6


def _result_left(settings, store, check_id: str) -> int:
    if not settings.database_url:
        return int((settings.data_dir / "checks" / check_id).exists())
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM conflict_features WHERE check_id = :c)"
                " + (SELECT count(*) FROM layer_features WHERE layer_id = :c)"
                " + (SELECT count(*) FROM feature_schemas WHERE owner_id = :c)"
            ),
            {"c": check_id},
        ).scalar_one()


def test_a_job_dying_while_saving_its_result_leaves_none(api, scene, monkeypatch):
    """Result rows and `successful` are one transaction: a failure between them keeps neither."""
    store = api.client.app.state.store
    save = store._result_save

    def dies_after_writing(*args):
        save(*args)
        raise RuntimeError("killed while saving")

    monkeypatch.setattr(store, "_result_save", dies_after_writing)
    check = api.post("/api/v1/checks", json={"plan_id": scene["plan"]}).json()
    body = api.wait(check["id"])
    assert body["status"] == "failed" and "killed while saving" in body["reason"], body
    assert _result_left(api.settings, store, check["id"]) == 0


def test_a_plan_deleted_by_a_dying_server_leaves_no_rows(api, scene, monkeypatch):
    """The plan's records and its rows go in one transaction; files (embedded) go at the next start."""
    import pytest
    from fastapi.testclient import TestClient

    from api import create_app

    store = api.client.app.state.store
    plan = scene["plan"]
    check = api.post("/api/v1/checks", json={"plan_id": plan}).json()
    assert api.wait(check["id"])["status"] == "successful"

    def dies(*_):
        raise RuntimeError("killed while deleting")

    monkeypatch.setattr(store, "_layer_delete", dies)
    monkeypatch.setattr(store, "_result_delete", dies)
    with pytest.raises(RuntimeError):
        store.delete_plan(plan)
    if api.settings.database_url:
        assert _result_left(api.settings, store, check["id"]) == 0
        assert _result_left(api.settings, store, plan) == 0
    with TestClient(create_app(api.settings)):
        pass
    assert not (api.settings.data_dir / "layers" / plan).exists()
    assert not (api.settings.data_dir / "checks" / check["id"]).exists()
