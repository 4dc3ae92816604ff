"""Uploads that try to make GDAL read the server's files or reach the network (issue 12, part 1).

Each attack is refused (400 naming the format the file's name claims) or read as the plain data
it is; none makes the server hand out a file or send a request.
"""

from __future__ import annotations

import http.server
import io
import sqlite3
import threading
import zipfile
from pathlib import Path

import pyogrio
import pytest

from kgspatial.untrusted import KEPT_DRIVERS
from tests import geoms

PASSWD_LINE = Path("/etc/passwd").read_text().splitlines()[0]  # "root:x:0:0:..."

VRT = """<OGRVRTDataSource>
  <OGRVRTLayer name="x">
    <SrcDataSource>CSV:{source}</SrcDataSource>
    <OpenOptions><OOI key="HEADERS">NO</OOI></OpenOptions>
    <SrcSQL>SELECT field_1, 560100 + 0 AS x, 1100100 + 0 AS y FROM "{layer}"</SrcSQL>
    <GeometryType>wkbPoint</GeometryType>
    <LayerSRS>EPSG:9207</LayerSRS>
    <GeometryField encoding="PointFromColumns" x="x" y="y"/>
  </OGRVRTLayer>
</OGRVRTDataSource>
"""


def _vrt(source: str) -> str:
    return VRT.format(source=source, layer=Path(source).stem)


# The service's own database, its key table included.
VRT_SQLITE = """<OGRVRTDataSource>
  <OGRVRTLayer name="x">
    <SrcDataSource>{source}</SrcDataSource>
    <SrcSQL>SELECT name, sql, 560100 AS x, 1100100 AS y FROM sqlite_master</SrcSQL>
    <GeometryType>wkbPoint</GeometryType>
    <LayerSRS>EPSG:9207</LayerSRS>
    <GeometryField encoding="PointFromColumns" x="x" y="y"/>
  </OGRVRTLayer>
</OGRVRTDataSource>
"""


def _post(api, name: str, payload: bytes, **fields):
    return api.post(
        "/api/v1/plans",
        "planner",
        files={"file": (name, payload)},
        data={"name": "thử", "plan_type": "rural", "assume_crs": "EPSG:9207", **fields},
    )


def _plans_before_after(api, response, before: int) -> None:
    """Refused with a one-line reason, and nothing registered (nor served)."""
    if response.status_code == 201:  # today's leak, shown in the failure
        items = api.get(f"/ogc/collections/plan-{response.json()['id']}/items").text
        assert PASSWD_LINE not in items and "CREATE TABLE" not in items
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "\n" not in detail and PASSWD_LINE not in detail
    assert api.get("/api/v1/plans").json()["total"] == before


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802  (http.server's name)
        type(self).hits.append(self.path)
        body = b'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture()
def listener():
    """A local HTTP server that records every request: the address an upload would make GDAL fetch."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("source", ["/etc/passwd", "SERVICE_DB"])
def test_vrt_in_a_geojson_reads_no_server_file(api, source):
    if source == "SERVICE_DB":
        if api.settings.database_url:
            pytest.skip("the PostGIS store keeps no database file beside the service")
        vrt = VRT_SQLITE.format(source=api.settings.data_dir / "kgspatial.sqlite")
    else:
        vrt = _vrt(source)
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "quy_hoach.geojson", vrt.encode(), code_field="name" if source == "SERVICE_DB" else "field_1")
    _plans_before_after(api, r, before)
    assert "quy_hoach.geojson" in r.json()["detail"] and "GeoJSON" in r.json()["detail"]


@pytest.mark.parametrize("member", ["qh.shp", "qh.geojson", "qh.gpkg", "qh.fgb", "qh.tab"])
def test_vrt_as_a_zip_member_is_refused(api, member):
    before = api.get("/api/v1/plans").json()["total"]
    vrt = _vrt("/etc/passwd").encode()
    members = {member: vrt}
    if member.endswith(".shp"):
        members |= {"qh.shx": vrt, "qh.dbf": vrt}
    if member.endswith(".tab"):
        members |= {"qh.dat": vrt, "qh.map": vrt, "qh.id": vrt}
    r = _post(api, "ho_so.zip", _zip(members), code_field="field_1")
    _plans_before_after(api, r, before)
    assert "ho_so.zip" in r.json()["detail"]


def test_a_vsicurl_source_sends_no_request(api, listener):
    url, hits = listener
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "quy_hoach.geojson", _vrt(f"/vsicurl/{url}/passwd.csv").encode())
    _plans_before_after(api, r, before)
    # and GDAL itself, in this locked-down process, reaches nothing even when asked directly
    with pytest.raises(Exception):
        pyogrio.read_info(f"/vsicurl/{url}/x.geojson")
    assert hits == []


@pytest.mark.parametrize("kind", ["link", "name"])
def test_a_geojson_crs_address_is_not_fetched(api, listener, kind):
    url, hits = listener
    crs = (
        {"type": "link", "properties": {"href": f"{url}/crs.wkt", "type": "ogcwkt"}}
        if kind == "link"
        else {"type": "name", "properties": {"name": f"{url}/crs.wkt"}}
    )
    import json

    doc = {
        "type": "FeatureCollection",
        "crs": crs,
        "features": [
            {"type": "Feature", "properties": {"a": 1}, "geometry": {"type": "Point", "coordinates": [560000, 1100000]}}
        ],
    }
    r = _post(api, "diem.geojson", json.dumps(doc).encode())
    assert r.status_code in (201, 400), r.text
    assert hits == []


def test_only_the_accepted_formats_drivers_are_left(api):
    assert set(pyogrio.list_drivers()) <= KEPT_DRIVERS
    assert {"VRT", "OGR_VRT", "CSV", "SQLite", "OGR_PDS"}.isdisjoint(pyogrio.list_drivers())


def _geopackage(tmp_path: Path, extra_sql: str) -> bytes:
    path = tmp_path / "qh.gpkg"
    geoms.plan_frame().iloc[[0]].to_file(path, layer="quy_hoach", driver="GPKG")
    conn = sqlite3.connect(path)
    conn.executescript(extra_sql)
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE VIEW leak AS SELECT * FROM quy_hoach;",
        "CREATE VIRTUAL TABLE leak USING fts4(content);",
    ],
)
def test_geopackage_views_and_virtual_tables_are_refused(api, tmp_path, sql):
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "qh.gpkg", _geopackage(tmp_path, sql))
    _plans_before_after(api, r, before)
    assert "qh.gpkg" in r.json()["detail"]


def _planted_schema(path: Path, table: str, sql: str) -> bytes:
    """A sqlite_master row written directly (as `PRAGMA writable_schema` lets anyone do), and the
    GeoPackage's contents pointed at it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("INSERT INTO sqlite_master VALUES ('table', ?, ?, 0, ?)", (table, table, sql))
    conn.execute("UPDATE gpkg_contents SET table_name = ?, identifier = ?", (table, table))
    conn.execute("UPDATE gpkg_geometry_columns SET table_name = ?, column_name = 'ROWNO'", (table,))
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE VIRTUAL TABLE pw USING VirtualText('/etc/passwd','UTF-8',1,POINT,NONE,'|') -- using rtree",
        "CREATE VIRTUAL TABLE pw USING VirtualText('/etc/passwd','UTF-8',1,POINT,NONE,' using rtree')",
        "CREATE VIRTUAL TABLE pw USING rtree(id, minx, maxx, miny, maxy) -- looks like an index",
    ],
)
def test_a_planted_virtual_table_reads_no_server_file(api, tmp_path, sql):
    path = tmp_path / "qh.gpkg"
    _geopackage(tmp_path, "SELECT 1;")
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "qh.gpkg", _planted_schema(path, "pw", sql), code_field="ROWNO")
    _plans_before_after(api, r, before)
    assert "root:" not in r.text and "virtual table" in r.json()["detail"]


def test_a_generated_column_is_refused(api, tmp_path):
    payload = _geopackage(
        tmp_path, "ALTER TABLE quy_hoach ADD COLUMN leak TEXT GENERATED ALWAYS AS (upper(ma)) VIRTUAL;"
    )
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "qh.gpkg", payload)
    _plans_before_after(api, r, before)
    assert "generated" in r.json()["detail"]


def test_a_plain_geopackage_is_still_read(api, tmp_path):
    r = _post(api, "qh.gpkg", _geopackage(tmp_path, "SELECT 1;"))
    assert r.status_code == 201, r.text
    assert r.json()["feature_count"] == 1


def test_a_seamless_mapinfo_table_is_refused(api):
    tab = (
        b'!table\n!version 300\n!charset WindowsLatin1\n\nDefinition Table\n  Type NATIVE Charset "WindowsLatin1"\n'
        b'  Fields 2\n    Table char (100) ;\n    Description char (25) ;\nbegin_metadata\n"\\IsSeamless" = "TRUE"\nend_metadata\n'
    )
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "ban_do.zip", _zip({"ban_do.tab": tab, "ban_do.dat": b"\x03", "ban_do.map": b"x", "ban_do.id": b""}))
    _plans_before_after(api, r, before)
    assert "MapInfo" in r.json()["detail"]


def test_a_csv_named_json_is_refused(api):
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "diem.json", b'WKT,name\n"POINT (560000 1100000)",a\n')
    _plans_before_after(api, r, before)
    assert "GeoJSON" in r.json()["detail"]


def test_a_prj_that_is_not_wkt_is_refused(api, tmp_path):
    frame = geoms.plan_frame().iloc[[0]]
    out = tmp_path / "shp"
    out.mkdir()
    frame.to_file(out / "qh.shp")
    members = {p.name: p.read_bytes() for p in out.iterdir()}
    members["qh.prj"] = _vrt("/etc/passwd").encode()
    before = api.get("/api/v1/plans").json()["total"]
    r = _post(api, "qh.zip", _zip(members))
    _plans_before_after(api, r, before)
