"""Bad input answers 4xx with JSON {"detail"} naming the problem, never 500 (issue 12, parts 4, 6-8)."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from tests import geoms


def _check(api, scene) -> str:
    c = api.post("/api/v1/checks", json={"plan_id": scene["plan"]})
    assert c.status_code == 202, c.text
    assert api.wait(c.json()["id"])["status"] == "successful"
    return c.json()["id"]


def _json_4xx(r, status: int | tuple = (400, 404, 422)) -> str:
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert detail
    return detail if isinstance(detail, str) else str(detail)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/plans/%00",
        "/api/v1/checks/%00",
        "/api/v1/checks/ab%00cd/conflicts",
        "/ogc/collections/plan-%00/items",
    ],
)
def test_a_nul_byte_in_an_id_is_a_4xx(api, url):
    _json_4xx(api.get(url))
    assert api.get("/api/v1/plans").status_code == 200  # and the store still answers


@pytest.mark.parametrize(
    "query",
    [
        "rule_id=R305%00",
        "severity=high%00",
        "admin_code=%00",
        "offset=99999999999999999999999",
        "limit=99999999999999999999999",
        "offset=-1",
    ],
)
def test_bad_filters_on_conflicts_are_a_4xx(api, scene, query):
    check = _check(api, scene)
    _json_4xx(api.get(f"/api/v1/checks/{check}/conflicts?{query}"))
    assert api.get(f"/api/v1/checks/{check}/conflicts").status_code == 200


@pytest.mark.parametrize("query", ["offset=99999999999999999999999", "bbox=1,2,3,4%00"])
def test_bad_paging_on_ogc_items_is_a_4xx(api, scene, query):
    _json_4xx(api.get(f"/ogc/collections/plan-{scene['plan']}/items?{query}"))


def test_unknown_query_parameters_are_named(api, scene):
    check = _check(api, scene)
    detail = _json_4xx(api.get(f"/api/v1/checks/{check}/conflicts?sevrity=high"), 422)
    assert "sevrity" in detail
    detail = _json_4xx(api.get(f"/ogc/collections/plan-{scene['plan']}/items?filter=x"), 400)  # as OGC asks
    assert "filter" in detail
    # what the routes do take is still taken
    assert api.get(f"/api/v1/checks/{check}/conflicts?severity=high&limit=5").status_code == 200
    assert api.get(f"/ogc/collections/plan-{scene['plan']}/items?limit=2&offset=1&bbox=100,5,110,15").status_code == 200


def test_unknown_json_fields_are_named(api, scene):
    detail = _json_4xx(api.post("/api/v1/checks", json={"plan_id": scene["plan"], "min_areaa": 5}), 422)
    assert "min_areaa" in detail


def _shapefile_zip(tmp_path, cpg: bytes) -> bytes:
    out = tmp_path / "shp"
    out.mkdir(exist_ok=True)
    geoms.plan_frame().iloc[[0, 3]].to_file(out / "qh.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for part in out.iterdir():
            if part.suffix != ".cpg":
                zf.write(part, part.name)
        zf.writestr("qh.cpg", cpg)
    return buf.getvalue()


def test_a_binary_cpg_is_a_400_naming_it(api, tmp_path):
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("qh.zip", _shapefile_zip(tmp_path, b"\x00\xff\xfe\x00UTF"))},
        data={"name": "x", "plan_type": "rural"},
    )
    detail = _json_4xx(r, 400)
    assert ".cpg" in detail and "/tmp" not in detail


def test_a_nul_in_the_encoding_field_is_a_400(api, tmp_path):
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("qh.zip", _shapefile_zip(tmp_path, b"UTF-8"))},
        data={"name": "x", "plan_type": "rural", "encoding": "utf\x008"},
    )
    detail = _json_4xx(r, (400, 422))
    assert "encoding" in detail


def test_a_rules_cell_over_128_kib_is_read(api):
    """A long note is a valid cell: csv's own 128 KiB limit does not end the upload in a 500."""
    lines = geoms.RULES_CSV.rstrip("\n").split("\n")
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("note")] = "x" * (130 * 1024)
    csv = "\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n"
    r = api.post("/api/v1/rules", files={"file": ("quy_tac.csv", csv.encode())}, data={"name": "q"})
    assert r.status_code == 201, r.text[:300]
    assert r.json()["rule_count"] == len(lines) - 1


def test_an_unclosed_quote_in_rules_is_refused_not_a_lost_rule(api):
    lines = geoms.RULES_CSV.rstrip("\n").split("\n")
    broken = "\n".join([lines[0], lines[1].replace(",", ',"', 1), *lines[2:]]) + "\n"
    r = api.post("/api/v1/rules", files={"file": ("quy_tac.csv", broken.encode())}, data={"name": "q"})
    detail = _json_4xx(r, 422)
    assert "quy_tac.csv" in detail and "quote" in detail


def test_rules_errors_name_the_upload_not_the_scratch_path(api):
    r = api.post(
        "/api/v1/rules", files={"file": ("bang_quy_tac.csv", b"rule_id,plan_code\nR1,ODT\n")}, data={"name": "q"}
    )
    detail = _json_4xx(r, 422)
    assert "bang_quy_tac.csv" in detail and "/tmp" not in detail and "upload-" not in detail
    assert str(api.settings.data_dir) not in r.text


def test_admin_units_show_no_server_path(api, scene_files):
    r = api.upload("admin-units", scene_files / "xa.gpkg", name="Xã")
    assert r.status_code == 201, r.text
    for body in (r.text, api.get("/api/v1/admin-units").text, api.get(f"/api/v1/admin-units/{r.json()['id']}").text):
        assert str(api.settings.data_dir) not in body and "/tmp/" not in body


def test_html_answers_carry_csp_and_nosniff(api, scene):
    check = _check(api, scene)
    for url in ("/docs", f"/api/v1/checks/{check}/map", "/api/v1/plans"):
        r = api.get(url)
        assert r.status_code == 200, url
        assert r.headers["x-content-type-options"] == "nosniff"
        if r.headers["content-type"].startswith("text/html"):
            assert "default-src" in r.headers["content-security-policy"], url


def test_an_unexpected_error_is_json_without_a_traceback(api, monkeypatch):
    store = api.client.app.state.store

    def boom(*args, **kwargs):
        raise RuntimeError(f"secret at {api.settings.data_dir}")

    monkeypatch.setattr(store, "list_layers", boom)
    monkeypatch.setattr(api.client._transport, "raise_server_exceptions", False)
    r = api.get("/api/v1/plans")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error / lỗi máy chủ"}
    assert r.headers["x-content-type-options"] == "nosniff"


def test_health_with_the_store_down_shows_no_host(api, monkeypatch):
    store = api.client.app.state.store

    def down():
        raise ConnectionError('connection to server at "db.internal" (10.0.0.5), port 5432 failed')

    monkeypatch.setattr(store, "ping", down)
    r = api.client.get("/health")
    assert r.status_code == 503
    assert "10.0.0.5" not in r.text and "5432" not in r.text and "db.internal" not in r.text
    assert r.json()["status"] == "error"


def test_the_embedded_store_is_private(api):
    if api.settings.database_url:
        pytest.skip("PostGIS keeps its own files")
    data = api.settings.data_dir
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    db = data / "kgspatial.sqlite"
    assert stat.S_IMODE(os.stat(db).st_mode) & 0o077 == 0


def test_messages_name_the_file_as_the_user_named_it(api):
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("Quy hoạch xã Hòn Đất.geojson", b"not json")},
        data={"name": "x", "plan_type": "rural"},
    )
    detail = _json_4xx(r, 400)
    assert "Quy hoạch xã Hòn Đất.geojson" in detail and "/tmp" not in detail
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("Hồ sơ quy hoạch.zip", b"PK not a zip")},
        data={"name": "x", "plan_type": "rural"},
    )
    assert "Hồ sơ quy hoạch.zip" in _json_4xx(r, 400)


def test_what_ogc_clients_send_on_every_request_is_taken(api, scene):
    """QGIS and OGC test suites send f, datetime (core: items take it) and limit everywhere."""
    base = f"/ogc/collections/plan-{scene['plan']}/items"
    assert api.get(f"{base}?f=json&limit=10&datetime=..").status_code == 200
    for url in ("/ogc?f=json", "/ogc/conformance?f=json", "/ogc/collections?f=html&limit=10"):
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), url


def test_the_maps_policy_allows_the_tile_servers_subdomains():
    from api.app import _origin

    assert _origin("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://*.tile.openstreetmap.org"
    assert _origin("http://tiles.so.gov.vn:8080/{z}/{x}/{y}.png") == "http://tiles.so.gov.vn:8080"
    assert _origin("/tiles/{z}/{x}/{y}.png") == ""
