"""Hostile and broken uploads: each is refused with the right status and leaves nothing behind."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api import create_app
from kgspatial import textcodec  # noqa: F401  (registers the tcvn3 codec)
from tests import geoms


def _counts(api) -> tuple[int, list[str]]:
    """Rows in the registry and files left under the data dir (scratch folders included)."""
    store = api.client.app.state.store
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM layers")).scalar_one()
    data = api.settings.data_dir
    files = sorted(
        str(p.relative_to(data)) for p in data.rglob("*") if p.is_file() and not p.name.startswith("kgspatial.sqlite")
    )
    return rows, files


def _shapefile_zip(
    tmp_path: Path, frame: gpd.GeoDataFrame, folder: str = "", drop=(), encoding=None, cpg: str | None = None
) -> bytes:
    out = tmp_path / "shp"
    out.mkdir(exist_ok=True)
    kwargs = {"encoding": encoding} if encoding else {}
    frame.to_file(out / "qh.shp", **kwargs)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(out.iterdir()):
            if part.suffix.lower() in drop or (cpg is not None and part.suffix.lower() == ".cpg"):
                continue
            zf.write(part, f"{folder}{part.name}")
        if cpg is not None:
            zf.writestr(f"{folder}qh.cpg", cpg)
    return buf.getvalue()


def _polygons() -> gpd.GeoDataFrame:
    """The polygon features of the catalogue plan (a shapefile holds one geometry type)."""
    return geoms.plan_frame().iloc[[0, 3, 4, 5]].reset_index(drop=True)


def _post(api, name: str, payload: bytes, **fields):
    return api.post(
        "/api/v1/plans",
        "planner",
        files={"file": (name, payload)},
        data={"name": "thử", "plan_type": "rural", **fields},
    )


def _refused(api, response, status: int, before) -> None:
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert _counts(api) == before


def test_zip_slip_is_400(api):
    before = _counts(api)
    for evil in ("../../etc/cron.d/x.shp", "/etc/passwd", "a/../../b.shp", "C:/Windows/x.shp", "..\\..\\x.shp"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(evil, b"x")
        r = _post(api, "evil.zip", buf.getvalue())
        _refused(api, r, 400, before)
        assert "unsafe" in r.json()["detail"]


def test_zip_bomb_is_413_and_nothing_kept(make_settings):
    app = create_app(make_settings(max_unpacked_mb=10))
    with TestClient(app) as client:
        key = app.state.store.create_key("p", "planner")[1]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("qh.shp", b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros: ~50 kB compressed
        assert len(buf.getvalue()) < 200_000
        r = client.post(
            "/api/v1/plans",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("bomb.zip", buf.getvalue())},
            data={"name": "x", "plan_type": "rural"},
        )
        assert r.status_code == 413 and "more than 10 MB unpacked" in r.json()["detail"]
        assert client.get("/api/v1/plans", headers={"Authorization": f"Bearer {key}"}).json()["items"] == []


def test_shapefile_with_empty_text_columns_is_no_bomb(api, tmp_path):
    """ArcGIS and MapInfo exports carry wide text columns left empty: their .dbf compresses some
    250 times, as a bomb does, and must still be accepted."""
    n = 1500
    frame = gpd.GeoDataFrame(
        {"KyHieu": ["ODT"] * n, **{f"GHICHU{i}": [" " * 200] * n for i in range(8)}},
        geometry=[shapely.box(560000 + 10 * i, 1100000, 560008 + 10 * i, 1100008) for i in range(n)],
        crs="EPSG:9207",
    )
    folder = tmp_path / "wide"
    folder.mkdir()
    frame.to_file(folder / "wide.shp", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    dbf = (folder / "wide.dbf").stat().st_size
    with zipfile.ZipFile(buf) as zf:
        assert dbf > 1024 * 1024 and dbf / zf.getinfo("wide.dbf").compress_size > 200
    r = _post(api, "wide.zip", buf.getvalue())
    assert r.status_code == 201, r.text
    assert r.json()["feature_count"] == n


def test_zip_with_too_many_members_or_too_large_unpacked_is_413(make_settings):
    app = create_app(make_settings(max_members=5, max_unpacked_mb=1))
    with TestClient(app) as client:
        key = app.state.store.create_key("p", "planner")[1]
        h = {"Authorization": f"Bearer {key}"}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for i in range(6):
                zf.writestr(f"f{i}.txt", b"x")
        r = client.post(
            "/api/v1/plans",
            headers=h,
            files={"file": ("many.zip", buf.getvalue())},
            data={"name": "x", "plan_type": "rural"},
        )
        assert r.status_code == 413 and "6 zip members" in r.json()["detail"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("big.bin", b"\1" * (2 * 1024 * 1024))
        r = client.post(
            "/api/v1/plans",
            headers=h,
            files={"file": ("big.zip", buf.getvalue())},
            data={"name": "x", "plan_type": "rural"},
        )
        assert r.status_code == 413 and "unpacked" in r.json()["detail"]


def test_oversized_upload_is_413(make_settings):
    settings = make_settings(max_upload_mb=0.05)  # 51 200 bytes
    app = create_app(settings)
    with TestClient(app) as client:
        key = app.state.store.create_key("p", "planner")[1]
        r = client.post(
            "/api/v1/plans",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("big.geojson", b" " * 60_000)},
            data={"name": "x", "plan_type": "rural"},
        )
        assert r.status_code == 413 and "0.05 MB" in r.json()["detail"]
        assert not any(p.is_file() for p in (settings.data_dir / "tmp").rglob("*"))
        assert not any(p.is_file() for p in (settings.data_dir / "layers").rglob("*"))
        store = app.state.store
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM layers")).scalar_one() == 0


def test_not_a_zip_and_zip_without_shapefile_are_400(api, tmp_path):
    before = _counts(api)
    _refused(api, _post(api, "plan.zip", b"this is not a zip"), 400, before)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "không có shapefile")
    r = _post(api, "plan.zip", buf.getvalue())
    _refused(api, r, 400, before)
    assert "no shapefile" in r.json()["detail"]
    r = _post(api, "plan.zip", _shapefile_zip(tmp_path, _polygons(), drop=(".dbf",)))
    _refused(api, r, 400, before)
    assert ".dbf" in r.json()["detail"]
    _refused(api, _post(api, "plan.docx", b"PK"), 400, before)
    _refused(api, _post(api, "plan.gpkg", b"SQLite format 3\0garbage"), 400, before)
    r = api.post("/api/v1/plans", "planner", data={"name": "x", "plan_type": "rural"})
    _refused(api, r, 400, before)


def test_no_crs_is_422_naming_it_then_assume_crs_works(api, tmp_path):
    before = _counts(api)
    payload = _shapefile_zip(tmp_path, _polygons(), drop=(".prj",))
    r = _post(api, "plan.zip", payload)
    _refused(api, r, 422, before)
    detail = r.json()["detail"]
    assert "coordinate reference system" in detail and "the form field assume_crs" in detail
    # Said as the user sent it: no command-line option, no path on the server.
    assert "--" not in detail and str(api.settings.data_dir) not in detail and detail.startswith("plan.zip")
    r = _post(api, "plan.zip", payload, assume_crs="EPSG:9207")
    assert r.status_code == 201, r.text
    assert r.json()["crs"].startswith("EPSG:9207") and r.json()["crs_source"] == "assumed"


def test_bad_form_fields(api, scene_files):
    before = _counts(api)
    with open(scene_files / "plan.gpkg", "rb") as f:
        payload = f.read()
    r = api.post(
        "/api/v1/plans", "planner", files={"file": ("p.gpkg", payload)}, data={"name": "x", "plan_type": "castle"}
    )
    _refused(api, r, 422, before)
    r = api.post("/api/v1/plans", "planner", files={"file": ("p.gpkg", payload)}, data={"plan_type": "rural"})
    _refused(api, r, 422, before)
    r = _post(api, "p.gpkg", payload, code_field="khong_co")
    _refused(api, r, 400, before)
    assert "khong_co" in r.json()["detail"]
    r = api.post("/api/v1/rules", "admin", files={"file": ("r.csv", b"rule_id,plan_code\nR1,ODT\n")})
    assert r.status_code == 422 and r.json()["problems"]


def test_shapefile_in_subfolder_with_tcvn3_text(api, tmp_path):
    frame = _polygons()
    legacy = frame.copy()  # the DBF bytes a TCVN3 (ABC) font-era editor writes
    legacy["ten"] = [textcodec.tcvn3_encode(t).decode("latin-1") for t in frame["ten"]]
    r = _post(
        api, "qh.zip", _shapefile_zip(tmp_path, legacy, folder="Ban ve/QH 2030/", encoding="ISO-8859-1", cpg="TCVN3")
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["feature_count"] == 4 and plan["code_field"] == "ma" and plan["encoding"].lower() == "tcvn3"
    items = api.get(f"/ogc/collections/plan-{plan['id']}/items", "planner").json()["features"]
    assert [f["properties"]["ten"] for f in items] == list(frame["ten"])  # "Khu dân cư mới"... decoded, NFC


def test_geojson_and_parquet_uploads(api, tmp_path):
    frame = geoms.plan_frame()
    frame.to_crs("EPSG:4326").to_file(tmp_path / "p.geojson", driver="GeoJSON")
    frame.to_parquet(tmp_path / "p.parquet")
    for name in ("p.geojson", "p.parquet"):
        r = api.upload("plans", tmp_path / name, "planner", name=name, plan_type="rural")
        assert r.status_code == 201, r.text
        assert r.json()["feature_count"] == 6


def test_zipped_mapinfo_table_and_file_geodatabase(api, tmp_path):
    """What land offices keep besides shapefiles, sent zipped: read like any other layer."""
    import pyogrio

    frame = _polygons()
    (tmp_path / "tab").mkdir()
    pyogrio.write_dataframe(
        frame,
        tmp_path / "tab" / "qh.tab",
        driver="MapInfo File",
        layer_options={"BOUNDS": "500000,1000000,700000,1200000"},
    )
    gdb = tmp_path / "QH.gdb"
    pyogrio.write_dataframe(frame, gdb, layer="QH_SDD", driver="OpenFileGDB")
    for name, folder, parts in (
        ("qh_tab.zip", "", (tmp_path / "tab").iterdir()),
        ("QH.gdb.zip", "QH.gdb/", gdb.iterdir()),
    ):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for part in sorted(parts):
                zf.write(part, folder + part.name)
        r = _post(api, name, buf.getvalue())
        assert r.status_code == 201, r.text
        assert r.json()["feature_count"] == 4 and r.json()["crs"].startswith("EPSG:9207")
        items = api.get(f"/ogc/collections/plan-{r.json()['id']}/items", "planner").json()["features"]
        assert sorted(f["properties"]["ten"] for f in items) == sorted(frame["ten"])


def test_library_messages_reworded_for_the_form():
    """What `kgspatial check` says with options and paths, the service says with form fields and
    the file name the user sent."""
    from api.wording import for_api

    scratch = {"/srv/kg/tmp/u1/qh.gpkg": "qh.gpkg", "/srv/kg/tmp/u1/qh.zip": "qh.zip"}
    assert (
        for_api("/srv/kg/tmp/u1/qh.gpkg: holds 2 layers (a, b); choose one as /srv/kg/tmp/u1/qh.gpkg::a", scratch)
        == "qh.gpkg: holds 2 layers (a, b); choose one with the form field layer, e.g. layer=a"
    )
    assert (
        for_api("/vsizip//srv/kg/tmp/u1/qh.zip/x/qh.shp: text cannot be decoded; give --encoding tcvn3", scratch)
        == "qh.zip::x/qh.shp: text cannot be decoded; give the form field encoding tcvn3"
    )


def test_upload_record_says_what_a_planner_must_know(api, scene, tmp_path):
    """Warnings on the record itself: a CRS that puts the plan off the master plan (a UTM .prj on
    TM-3 coordinates lands ~55 km away), an assume_crs that was not used, geometries dropped."""
    frame = _polygons()
    frame.loc[1, "geometry"] = None
    wrong = frame.set_crs("EPSG:32648", allow_override=True)
    r = _post(api, "lech.zip", _shapefile_zip(tmp_path, wrong), assume_crs="EPSG:9207")
    assert r.status_code == 201, r.text
    warnings = " | ".join(r.json()["warnings"])
    assert "lies outside the zones of the master plan Quy hoạch tỉnh Kiên Giang" in warnings
    assert "EPSG:32648" in warnings and "would lie on the master plan if they were in EPSG:9207" in warnings
    assert "assume_crs EPSG:9207 ignored" in warnings
    assert "1 feature(s) without geometry" in warnings
    good = _post(api, "dung.zip", _shapefile_zip(tmp_path, _polygons()))
    assert good.status_code == 201 and good.json()["warnings"] == []


def test_master_without_zones_is_refused_at_upload(api, tmp_path):
    """Points or lines only cannot be a master plan: said at upload, not at every later check."""
    points = gpd.GeoDataFrame(
        {"MA_QH": ["LUC", "RPH"]}, geometry=[geoms.point(10, 10), geoms.point(150, 50)], crs=geoms.CRS
    )
    points.to_file(tmp_path / "diem.gpkg")
    r = api.upload("masters", tmp_path / "diem.gpkg", name="điểm")
    assert r.status_code == 400 and "holds no polygon" in r.json()["detail"], r.text


@pytest.mark.parametrize("route", ["plans", "masters", "admin-units"])
def test_layer_without_any_geometry_is_refused_and_nothing_kept(api, tmp_path, route):
    """A layer whose every geometry is null or empty was stored with a NaN box, answered 500,
    and then broke every listing; it is refused as the CLI refuses it."""
    frame = gpd.GeoDataFrame(
        {"ma": ["ODT", "LUC"], "ma_xa": ["1", "2"], "ten_xa": ["A", "B"]},
        geometry=[None, shapely.Polygon()],
        crs="EPSG:9207",
    )
    path = tmp_path / "nulls.gpkg"
    frame.to_file(path)
    before = _counts(api)
    r = api.upload(route, path, name="x", plan_type="rural", code_field="ma_xa" if route == "admin-units" else "ma")
    _refused(api, r, 400, before)
    assert "has a geometry (2 read)" in r.json()["detail"]
    assert api.get(f"/api/v1/{route}", "admin").status_code == 200


@pytest.mark.parametrize("encoding", ["base64", "rot13", "hex"])
def test_codec_that_is_no_text_encoding_is_refused(api, tmp_path, encoding):
    before = _counts(api)
    r = _post(api, "qh.zip", _shapefile_zip(tmp_path, _polygons()), encoding=encoding)
    _refused(api, r, 400, before)
    assert f"unknown text encoding {encoding!r}" in r.json()["detail"]


def test_wrong_prj_warned_when_the_boxes_overlap(api, tmp_path):
    """Issue 16: a UTM 48N .prj over TM-3 104°30' coordinates, inside the bounding box of a master
    plan that also has a zone 120 km east: the boxes overlap, no zone is under the plan. By hand:
    x = 560 000 is 60 km east of 104°30' in TM-3 and 60 km east of 105° in UTM, so the plan is read
    about 0.5° (55 km) east of where it is, between the master's two groups of zones."""
    master = geoms.master_frame()
    far = gpd.GeoDataFrame(
        {"MA_QH": ["LUC"], "TEN": ["Lúa xa"]}, geometry=[geoms.box(120_000, 0, 120_100, 100)], crs=geoms.CRS
    )
    path = tmp_path / "master_far.gpkg"
    gpd.GeoDataFrame(pd.concat([master, far], ignore_index=True), crs=geoms.CRS).to_file(path)
    r = api.upload("masters", path, name="QH tỉnh rộng")
    assert r.status_code == 201, r.text
    box = r.json()["bbox"]
    wrong = _polygons().set_crs("EPSG:32648", allow_override=True)
    read_as = wrong.to_crs("EPSG:4326").total_bounds
    assert box[0] < read_as[0] and read_as[2] < box[2]  # the boxes overlap: the old check said nothing
    r = _post(api, "utm.zip", _shapefile_zip(tmp_path, wrong))
    assert r.status_code == 201, r.text
    warnings = " | ".join(r.json()["warnings"])
    assert warnings.startswith("quy hoạch nằm ngoài các vùng của quy hoạch tỉnh QH tỉnh rộng")
    assert "if they were in EPSG:9207" in warnings and "fix or remove the .prj" in warnings
    right = _post(api, "tm3.zip", _shapefile_zip(tmp_path, _polygons()))
    assert right.status_code == 201 and right.json()["warnings"] == []
