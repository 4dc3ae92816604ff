"""The hostile corpus (issue 12): broken or malicious inputs of every upload type, made by code.

`build(root, port)` writes every entry into `root` and returns them, each with its expected
outcome: "refused" (exit 2 / a 4xx with a one-line reason) or "accepted" (exit 0/1, or 201 and a
check that runs), and for accepted ones the figures worked out here with shapely from the
generator's own geometry (features read, conflict area), never from kgspatial.

The scene: a master plan of two 2 km squares in EPSG:9207 (west LUC, east RPH); plans are ODT
(urban housing), a conflict on both (rules R101 PNN/LUA and R202 */RPH), so the conflict area of
an accepted plan is the area of its polygons inside the master plan. `port` is where the test's
HTTP trap listens: entries that could make GDAL fetch a URL point there.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon, box

CRS = "EPSG:9207"
X0, Y0 = 560000.0, 1100000.0
MASTER_ZONES = [
    (box(X0, Y0, X0 + 2000, Y0 + 2000), "LUC", "Đất chuyên trồng lúa"),
    (box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000), "RPH", "Rừng phòng hộ ven biển"),
]
MASTER_UNION = shapely.union_all([g for g, _, _ in MASTER_ZONES])
# Three ODT zones: 500 x 400 m in LUC, 500 x 200 m across the LUC/RPH border, a right triangle
# of legs 600 m in RPH: 200,000 + 100,000 + 180,000 = 480,000 m² of conflict.
PLAN = [
    box(X0 + 200, Y0 + 200, X0 + 700, Y0 + 600),
    box(X0 + 1800, Y0 + 1000, X0 + 2300, Y0 + 1200),
    Polygon([(X0 + 3000, Y0 + 300), (X0 + 3600, Y0 + 300), (X0 + 3000, Y0 + 900)]),
]
PLAN_AREA = 480_000.0
LABEL = "Khu dân cư đô thị"
PASSWD_PROBES = ("root:x:0:0", "/bin/bash", "/usr/sbin/nologin", "daemon:")
RULES_OK = (
    "rule_id,plan_code,master_code,verdict,severity,reference,note\n"
    "R1,PNN,LUA,conflict,high,Luật Đất đai 2024,Phi nông nghiệp trên đất lúa\n"
    "R2,*,RPH,conflict,high,Luật Lâm nghiệp 2017,Mọi công trình trong rừng phòng hộ\n"
)


@dataclass
class Entry:
    name: str  # the file, as given to the CLI and sent to the API
    expect: str  # "refused" or "accepted"
    why: str
    kind: str = "plan"  # "plan" (a layer) or "rules" (a rules table)
    features: int | None = None  # accepted: features read
    area: float | None = None  # accepted: conflict area, m²
    assume_crs: str | None = None  # given as --assume-crs / the assume_crs form field
    api_expect: str | None = None  # when the service's contract says otherwise (upload limits)
    upload_name: str | None = None  # the file name the API client sends, when not `name`
    label: str | None = None  # accepted: a plan_label the conflicts must carry
    trap: bool = False  # a URL in it points at the HTTP trap
    passwd: bool = False  # it tries to read /etc/passwd
    isolate: bool = False  # may hang: the API test sends it to a service in a subprocess it can kill

    def expected(self, channel: str) -> str:
        return self.api_expect if channel == "api" and self.api_expect else self.expect


def conflict_area(geoms) -> float:
    """The conflict area of ODT polygons: their (valid) union inside the master plan."""
    polys = [shapely.make_valid(g) for g in geoms if g is not None and not g.is_empty]
    return float(shapely.intersection(shapely.union_all(polys), MASTER_UNION).area) if polys else 0.0


def frame(geoms, codes=None, labels=None, **columns) -> gpd.GeoDataFrame:
    n = len(geoms)
    data = {"MA_QH": codes or ["ODT"] * n, "TEN": labels or [LABEL] * n, **columns}
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=CRS)


def write_master(path: Path) -> None:
    gpd.GeoDataFrame(
        {"MA_QH": [c for _, c, _ in MASTER_ZONES], "TEN": [t for _, _, t in MASTER_ZONES]},
        geometry=[g for g, _, _ in MASTER_ZONES],
        crs=CRS,
    ).to_file(path, layer="quy_hoach_tinh")


def shapefile_parts(gdf: gpd.GeoDataFrame, tmp: Path, stem: str = "plan", **kw) -> dict[str, bytes]:
    """A shapefile's parts (suffix -> bytes), written by GDAL."""
    folder = tmp / f"shp-{stem}-{len(list(tmp.glob('shp-*')))}"
    folder.mkdir(parents=True)
    gdf.to_file(folder / f"{stem}.shp", driver="ESRI Shapefile", **kw)
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def write_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)


def zeros_bomb(path: Path, member: str, mib: int, beside: dict[str, bytes]) -> None:
    """A zip whose `member` inflates to `mib` MiB of zeros from about mib KiB: one deflated MiB,
    fully flushed (so it depends on nothing before it), repeated; zipfile cannot be handed
    deflated bytes, so the member is written by hand after the others."""
    chunk = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    data = block * mib + comp.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    write_zip(path, beside)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        fp = zf.fp
        fp.seek(zf.start_dir)
        info.header_offset = fp.tell()
        info.CRC, info.compress_size, info.file_size = crc, len(data), mib << 20
        fp.write(info.FileHeader(zip64=False))
        fp.write(data)
        zf.start_dir = fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf._didModify = True


def geojson_text(features: list[tuple[str, dict]], crs: dict | None = None) -> str:
    """A FeatureCollection from raw geometry JSON texts (so NaN and short rings can be written)."""
    crs = crs if crs is not None else {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::9207"}}
    feats = ",".join(
        '{"type":"Feature","properties":%s,"geometry":%s}' % (json.dumps(props, ensure_ascii=False), g)
        for g, props in features
    )
    head = f'"crs":{json.dumps(crs)},' if crs else ""
    return '{"type":"FeatureCollection",%s"features":[%s]}' % (head, feats)


def poly_json(poly: Polygon) -> str:
    return json.dumps(shapely.geometry.mapping(poly))


PROPS = {"MA_QH": "ODT", "TEN": LABEL}


def vrt_csv(source: str) -> str:
    """OGR VRT XML: a layer read from `source` as CSV, each line a point."""
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="plan"><SrcDataSource>{source}</SrcDataSource>'
        "<GeometryType>wkbPoint</GeometryType><LayerSRS>EPSG:9207</LayerSRS>"
        f'<GeometryField encoding="PointFromColumns" x="field_1" y="field_1"/></OGRVRTLayer></OGRVRTDataSource>'
    )


def build(root: Path, port: int) -> list[Entry]:
    """Write the corpus into `root` (master.gpkg, rules_ok.csv and every entry); return the entries."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / ".work"
    tmp.mkdir(exist_ok=True)
    write_master(root / "master.gpkg")
    (root / "rules_ok.csv").write_text(RULES_OK, encoding="utf-8")
    entries: list[Entry] = []

    def add(entry: Entry, data: bytes | str | None = None) -> None:
        if data is not None:
            (root / entry.name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        assert (root / entry.name).exists(), entry.name
        entries.append(entry)

    ok = frame(PLAN)
    good = dict(expect="accepted", features=3, area=PLAN_AREA, label=LABEL)
    # -- controls: every accepted type, clean (the harness must accept them) ----------------------
    ok.to_file(root / "ok.gpkg", layer="plan")
    add(Entry("ok.gpkg", why="control: a clean GeoPackage", **good))
    ok.to_file(root / "ok.geojson", driver="GeoJSON")
    add(Entry("ok.geojson", why="control: GeoJSON with a named EPSG:9207 crs", **good))
    ok.to_file(root / "ok.fgb", driver="FlatGeobuf")
    add(Entry("ok.fgb", why="control: FlatGeobuf", **good))
    ok.to_parquet(root / "ok.parquet")
    add(Entry("ok.parquet", why="control: GeoParquet", **good))
    shp = shapefile_parts(ok, tmp)
    write_zip(root / "ok_shp.zip", {f"plan{k}": v for k, v in shp.items()})
    add(Entry("ok_shp.zip", why="control: zipped shapefile with .prj and .cpg", **good))
    tab = tmp / "tab"
    tab.mkdir()
    ok.to_file(
        tab / "plan.tab",
        driver="MapInfo File",
        layer_options={"BOUNDS": f"{X0 - 1000},{Y0 - 1000},{X0 + 5000},{Y0 + 3000}"},
    )
    write_zip(root / "ok_mapinfo.zip", {p.name: p.read_bytes() for p in tab.iterdir()})
    add(Entry("ok_mapinfo.zip", why="control: zipped MapInfo .tab (VN-2000 grid labelled WGS 84)", **good))

    # -- broken files ----------------------------------------------------------------------------
    for name in ("ok.gpkg", "ok.fgb", "ok.parquet", "ok.geojson"):
        data = (root / name).read_bytes()
        cut = f"truncated{Path(name).suffix}"
        add(Entry(cut, "refused", f"{name} cut at 60 %"), data[: len(data) * 6 // 10])
    add(Entry("zero_bytes.geojson", "refused", "an empty file"), b"")
    add(Entry("random.gpkg", "refused", "random bytes named .gpkg"), np.random.default_rng(12).bytes(65536))
    add(Entry("png_magic.fgb", "refused", "a PNG header named .fgb"), b"\x89PNG\r\n\x1a\n" + bytes(4096))
    add(Entry("not_a_zip.zip", "refused", "text named .zip"), "MA_QH,TEN\nODT,x\n")
    fgb = (root / "ok.fgb").read_bytes()
    add(
        Entry("fgb_huge_header.fgb", "refused", "FlatGeobuf declaring a 4 GB header"),
        fgb[:8] + struct.pack("<I", 0xFFFFFFF0) + fgb[12:],
    )
    add(
        Entry("geojson_deep.geojson", "refused", "GeoJSON nested 100,000 arrays deep"),
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":'
        '{"type":"Polygon","coordinates":' + "[" * 100_000 + "]" * 100_000 + "}}]}",
    )
    pq_plain = tmp / "plain.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"MA_QH": ["ODT"] * 3, "geometry": shapely.to_wkb(PLAN)}), pq_plain)
    add(
        Entry("parquet_no_geo.parquet", "refused", "Parquet with a WKB column but no 'geo' metadata"),
        pq_plain.read_bytes(),
    )
    table = pq.read_table(root / "ok.parquet")
    meta = dict(table.schema.metadata)
    meta[b"geo"] = (
        b'{"version":"1.0.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","crs":"\\u0000"'
    )
    pq.write_table(table.replace_schema_metadata(meta), tmp / "badgeo.parquet")
    add(
        Entry("parquet_bad_geo.parquet", "refused", "GeoParquet whose 'geo' metadata is cut short"),
        (tmp / "badgeo.parquet").read_bytes(),
    )

    # -- GDAL doing what it should not: reading server files, fetching URLs ----------------------
    add(
        Entry("vrt_passwd.geojson", "refused", "OGR VRT XML reading /etc/passwd as CSV", passwd=True),
        vrt_csv("CSV:/etc/passwd"),
    )
    write_zip(root / "vrt_in_zip.zip", {"plan.json": vrt_csv("/etc/passwd").encode()})
    add(Entry("vrt_in_zip.zip", "refused", "a zip holding OGR VRT XML (named .json) over /etc/passwd", passwd=True))
    add(
        Entry("vrt_vsicurl.geojson", "refused", "OGR VRT XML whose source is /vsicurl/ on the trap", trap=True),
        vrt_csv(f"/vsicurl/http://127.0.0.1:{port}/vrt.csv"),
    )
    add(
        Entry("vrt_in.fgb", "refused", "OGR VRT XML named .fgb reading /etc/passwd", passwd=True),
        vrt_csv("CSV:/etc/passwd"),
    )
    link = {"type": "link", "properties": {"href": f"http://127.0.0.1:{port}/crs.wkt", "type": "ogcwkt"}}
    add(
        Entry("crs_link.geojson", "refused", "GeoJSON whose crs is a link to the trap (no usable CRS)", trap=True),
        geojson_text([(poly_json(g), PROPS) for g in PLAN], crs=link),
    )
    add(
        Entry("crs_link_assumed.geojson", why="the same with assume_crs EPSG:9207", trap=True, assume_crs=CRS, **good),
        geojson_text([(poly_json(g), PROPS) for g in PLAN], crs=link),
    )
    gpkg_ref = tmp / "ref.gpkg"
    ok.to_file(gpkg_ref, layer="plan")
    import sqlite3

    with sqlite3.connect(gpkg_ref) as db:  # a CRS definition that is a URL
        db.execute(
            "UPDATE gpkg_spatial_ref_sys SET definition=? WHERE srs_id=9207", (f"http://127.0.0.1:{port}/srs.wkt",)
        )
    add(
        Entry(
            "gpkg_srs_url.gpkg",
            why="GeoPackage whose CRS definition is a URL to the trap (its code EPSG 9207 stays)",
            trap=True,
            **good,
        ),
        gpkg_ref.read_bytes(),
    )

    # -- zips: bombs, traversal, links, nesting --------------------------------------------------
    plan_members = {f"plan{k}": v for k, v in shp.items()}
    zeros_bomb(root / "bomb.zip", "padding.bin", 1100, plan_members)
    add(
        Entry(
            "bomb.zip",
            why="a valid shapefile beside 1100 MiB of zeros in 1.1 MB (ratio 1000)",
            api_expect="refused",
            **good,
        )
    )
    zeros_bomb(root / "bomb_shp.zip", "plan.shp", 1100, {k: v for k, v in plan_members.items() if k != "plan.shp"})
    add(Entry("bomb_shp.zip", "refused", "a shapefile whose .shp is 1100 MiB of zeros (ratio 1000)"))
    write_zip(root / "zip_slip.zip", {f"../../{k}": v for k, v in plan_members.items()})
    add(Entry("zip_slip.zip", "refused", "members named ../../plan.*"))
    write_zip(root / "zip_slip_inner.zip", {**plan_members, "x/../../../tmp/evil.txt": b"evil"})
    add(Entry("zip_slip_inner.zip", "refused", "a valid shapefile and a member x/../../../tmp/evil.txt"))
    write_zip(root / "zip_absolute.zip", {f"/tmp/{k}": v for k, v in plan_members.items()})
    add(Entry("zip_absolute.zip", "refused", "members with absolute paths /tmp/plan.*"))
    write_zip(
        root / "zip_symlink_shp.zip",
        {k: v for k, v in plan_members.items() if k != "plan.shp"},
        symlinks={"plan.shp": "/etc/passwd"},
    )
    add(Entry("zip_symlink_shp.zip", "refused", "plan.shp is a symlink to /etc/passwd", passwd=True))
    write_zip(
        root / "zip_symlink_prj.zip",
        {k: v for k, v in plan_members.items() if k != "plan.prj"},
        symlinks={"plan.prj": "/etc/passwd"},
    )
    add(Entry("zip_symlink_prj.zip", "refused", "plan.prj is a symlink to /etc/passwd", passwd=True))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for k, v in plan_members.items():
            zf.writestr(k, v)
    write_zip(root / "zip_nested.zip", {"inner.zip": inner.getvalue()})
    add(Entry("zip_nested.zip", "refused", "a zip holding only a zip"))
    write_zip(
        root / "zip_dup_stem.zip",
        {**{f"a/{k}": v for k, v in plan_members.items()}, **{f"b/{k}": v for k, v in plan_members.items()}},
    )
    add(Entry("zip_dup_stem.zip", "refused", "two shapefiles a/plan.shp and b/plan.shp, no layer chosen"))
    with zipfile.ZipFile(root / "zip_dup_member.zip", "w") as zf:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zf.writestr("plan.shp", np.random.default_rng(3).bytes(len(shp[".shp"])))
            for k, v in plan_members.items():
                zf.writestr(k, v)
    add(Entry("zip_dup_member.zip", "refused", "plan.shp twice (garbage, then valid): which one is checked?"))
    declared = root / "zip_declared_huge.zip"
    write_zip(declared, plan_members)
    blob = bytearray(declared.read_bytes())
    pos = blob.find(b"PK\x01\x02")  # the first central directory record
    blob[pos + 24 : pos + 28] = struct.pack("<I", 0xFFFFFFF0)  # its uncompressed size
    declared.write_bytes(bytes(blob))
    add(Entry("zip_declared_huge.zip", "refused", "a member whose central directory claims 4 GB"))
    many = dict(plan_members)
    many.update({f"pad/{i:05d}.txt": b"" for i in range(10_001)})
    write_zip(root / "zip_many_members.zip", many)
    add(Entry("zip_many_members.zip", why="a valid shapefile among 10,005 members", api_expect="refused", **good))

    # -- shapefile sidecars and text -------------------------------------------------------------
    write_zip(root / "shp_no_prj.zip", {k: v for k, v in plan_members.items() if k != "plan.prj"})
    add(Entry("shp_no_prj.zip", "refused", "no .prj, no assume_crs"))
    (root / "shp_no_prj_assumed.zip").write_bytes((root / "shp_no_prj.zip").read_bytes())
    add(Entry("shp_no_prj_assumed.zip", why="no .prj, assume_crs EPSG:9207", assume_crs=CRS, **good))
    write_zip(root / "shp_garbage_prj.zip", {**plan_members, "plan.prj": np.random.default_rng(5).bytes(300)})
    add(Entry("shp_garbage_prj.zip", "refused", "a .prj of random bytes"))
    write_zip(root / "shp_binary_cpg.zip", {**plan_members, "plan.cpg": b"\x00\xff\nUTF-8\r\n\x1b[31m\xfe"})
    add(Entry("shp_binary_cpg.zip", "refused", "a .cpg of binary bytes with line breaks"))
    tcvn = "§Êt ë t¹i ®« thÞ".encode("latin-1")  # TCVN3 (ABC) bytes of 'Đất ở tại đô thị'
    tcvn_shp = shapefile_parts(frame(PLAN, labels=["x" * 16] * 3), tmp)
    dbf = tcvn_shp[".dbf"].replace(b"x" * 16, tcvn.ljust(16))
    write_zip(
        root / "shp_tcvn3_no_cpg.zip",
        {"plan.shp": tcvn_shp[".shp"], "plan.shx": tcvn_shp[".shx"], "plan.dbf": dbf, "plan.prj": tcvn_shp[".prj"]},
    )
    add(Entry("shp_tcvn3_no_cpg.zip", why="TCVN3 labels, no .cpg", **{**good, "label": "Đất ở tại đô thị"}))
    shp_cut = dict(plan_members)
    shp_cut["plan.shp"] = shp[".shp"][: len(shp[".shp"]) - 40]
    write_zip(root / "shp_truncated.zip", shp_cut)
    add(Entry("shp_truncated.zip", "refused", "the .shp cut short by 40 bytes"))
    write_zip(root / "shp_missing_dbf.zip", {k: v for k, v in plan_members.items() if k != "plan.dbf"})
    add(Entry("shp_missing_dbf.zip", "refused", "no .dbf"))
    write_zip(root / "mapinfo_no_map.zip", {p.name: p.read_bytes() for p in tab.iterdir() if p.suffix != ".map"})
    add(Entry("mapinfo_no_map.zip", "refused", "a MapInfo .tab without its .map"))

    # -- geometry --------------------------------------------------------------------------------
    x, y = X0 + 500, Y0 + 500
    nan_ring = f"[[{x},{y}],[NaN,{y}],[{x + 100},{y + 100}],[{x},{y}]]"
    feats = [(poly_json(g), PROPS) for g in PLAN]
    add(
        Entry("nan_coords.geojson", "refused", "a polygon with a NaN coordinate among valid ones"),
        geojson_text(feats + [('{"type":"Polygon","coordinates":[%s]}' % nan_ring, PROPS)]),
    )
    nan_poly = shapely.polygons([[x, y], [np.nan, y], [x + 100, y + 100], [x, y]])
    inf_poly = shapely.polygons([[x, y], [np.inf, y], [x + 100, y + 100], [x, y]])
    frame([*PLAN, nan_poly, inf_poly]).to_file(root / "nan_inf.gpkg", layer="plan")
    add(Entry("nan_inf.gpkg", "refused", "GeoPackage polygons with NaN and inf coordinates"))
    frame([*PLAN, box(1e300, 1e300, 2e300, 2e300)]).to_file(root / "huge_coords.fgb", driver="FlatGeobuf")
    # The service serves every layer in WGS 84: a point PROJ cannot take there is refused, naming the file.
    add(
        Entry(
            "huge_coords.fgb",
            why="a polygon at 1e300 m, far outside the master plan (not checked: a warning)",
            api_expect="refused",
            **{**good, "features": 4},
        )
    )
    z = [shapely.force_3d(g, 7.5) for g in PLAN]
    frame(z).to_file(root / "z.gpkg", layer="plan")
    add(Entry("z.gpkg", why="3D polygons: areas are 2D", **good))
    zm = tmp / "zm.gpkg"
    wkb = []
    for g in PLAN:
        ring = list(g.exterior.coords)
        body = b"".join(struct.pack("<dddd", cx, cy, 3.0, 9.0) for cx, cy in ring)
        wkb.append(struct.pack("<BIII", 1, 3003, 1, len(ring)) + body)  # ISO PolygonZM
    from pyogrio.raw import write as raw_write

    raw_write(
        zm,
        np.array(wkb, dtype=object),
        field_data=[np.array(["ODT"] * 3, dtype=object), np.array([LABEL] * 3, dtype=object)],
        fields=["MA_QH", "TEN"],
        crs=CRS,
        geometry_type="Unknown",
        driver="GPKG",
        layer="plan",
    )
    add(Entry("zm.gpkg", why="PolygonZM", **good), zm.read_bytes())
    short = f'{{"type":"Polygon","coordinates":[[[{x},{y}],[{x + 10},{y}],[{x},{y}]]]}}'
    add(
        Entry(
            "short_ring.geojson",
            why="a ring of 3 points beside 3 valid polygons (dropped or refused: never 500)",
            expect="accepted",
            features=4,
            area=PLAN_AREA,
            label=LABEL,
        ),
        geojson_text(feats + [(short, PROPS)]),
    )
    bow = Polygon([(X0 + 100, Y0 + 1400), (X0 + 700, Y0 + 1800), (X0 + 700, Y0 + 1400), (X0 + 100, Y0 + 1800)])
    # make_valid: two triangles of base 400 m and height 300 m, 60,000 m² each
    add(
        Entry(
            "bowtie.geojson",
            why="a self-intersecting bow-tie, repaired",
            expect="accepted",
            features=4,
            area=PLAN_AREA + 120_000,
            label=LABEL,
        ),
        geojson_text(feats + [(poly_json(bow), PROPS)]),
    )
    assert abs(conflict_area([*PLAN, bow]) - (PLAN_AREA + 120_000)) < 1e-6
    add(
        Entry(
            "empty_some.geojson",
            why="3 valid polygons and 2 empty geometries",
            expect="accepted",
            features=5,
            area=PLAN_AREA,
            label=LABEL,
        ),
        geojson_text(feats + [('{"type":"Polygon","coordinates":[]}', PROPS), ("null", PROPS)]),
    )
    add(
        Entry("empty_all.geojson", "refused", "features whose geometries are all empty or null"),
        geojson_text([('{"type":"Polygon","coordinates":[]}', PROPS), ("null", PROPS)]),
    )
    t = np.linspace(0, 2 * np.pi, 100_000, endpoint=False)
    circle = Polygon(np.c_[X0 + 1000 + 600 * np.cos(t), Y0 + 1000 + 600 * np.sin(t)])
    frame([circle]).to_file(root / "vertices_100k.gpkg", layer="plan")
    add(
        Entry(
            "vertices_100k.gpkg",
            why="one polygon of 100,000 vertices",
            expect="accepted",
            features=1,
            area=float(circle.area),
            label=LABEL,
        )
    )

    # -- attributes ------------------------------------------------------------------------------
    huge = frame(PLAN, labels=[LABEL] * 3, GHI_CHU=["Đ" * 2_000_000] * 3)
    huge.to_file(root / "huge_attr.gpkg", layer="plan")
    add(Entry("huge_attr.gpkg", why="a 2-million-character attribute on every feature", **good))
    nul = [(poly_json(g), {"MA_QH": "ODT", "TEN": "Khu\u0000dân cư", "ghi\u0000chu": "a\u0000b"}) for g in PLAN]
    add(
        Entry(
            "nul_fields.geojson", why="NUL in a field name and in values", expect="accepted", features=3, area=PLAN_AREA
        ),
        geojson_text(nul),
    )
    add(
        Entry(
            "nul_filename.geojson",
            why="the file name sent with a NUL and a path: plan\\0/../x.geojson",
            upload_name="../../etc/pla\u0000n.geojson",
            **good,
        ),
        (root / "ok.geojson").read_bytes(),
    )
    add(
        Entry(
            "xss_label.geojson",
            why="a label that is HTML script",
            expect="accepted",
            features=3,
            area=PLAN_AREA,
            label="<script>alert(1)</script>",
        ),
        geojson_text([(poly_json(g), {"MA_QH": "ODT", "TEN": "<script>alert(1)</script>"}) for g in PLAN]),
    )
    view = tmp / "view.gpkg"
    ok.to_file(view, layer="plan")
    with sqlite3.connect(view) as db:
        db.execute("CREATE VIEW plan_view AS SELECT fid AS fid, geom, MA_QH, TEN FROM plan")
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES"
            " ('plan_view', 'features', 'plan_view', 9207)"
        )
        db.execute("INSERT INTO gpkg_geometry_columns VALUES ('plan_view', 'geom', 'POLYGON', 9207, 0, 0)")
    add(Entry("gpkg_view.gpkg", "refused", "a table and a view of it: two layers, none chosen"), view.read_bytes())
    loop = tmp / "loop.gpkg"
    ok.to_file(loop, layer="plan")
    with sqlite3.connect(loop) as db:  # the only feature layer is a view that never ends
        db.execute(
            "CREATE VIEW plan_loop AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)"
            " SELECT c.i AS fid, p.geom AS geom, p.MA_QH AS MA_QH FROM c, plan p"
        )
        db.execute("DELETE FROM gpkg_contents WHERE table_name='plan'")
        db.execute("DELETE FROM gpkg_geometry_columns WHERE table_name='plan'")
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES"
            " ('plan_loop', 'features', 'plan_loop', 9207)"
        )
        db.execute("INSERT INTO gpkg_geometry_columns VALUES ('plan_loop', 'geom', 'POLYGON', 9207, 0, 0)")
    add(
        Entry(
            "gpkg_view_endless.gpkg",
            "refused",
            "the only layer is a view of endless rows (recursive CTE)",
            isolate=True,
        ),
        loop.read_bytes(),
    )

    # -- rules tables ----------------------------------------------------------------------------
    rules = dict(kind="rules")
    head = "rule_id,plan_code,master_code,verdict,severity,reference,note\n"
    add(
        Entry("rules_missing_cols.csv", "refused", "no severity column", **rules),
        "rule_id,plan_code,master_code,verdict\nR1,PNN,LUA,conflict\n",
    )
    add(
        Entry("rules_bom.csv", "accepted", "UTF-8 with a BOM (Excel)", area=PLAN_AREA, features=3, **rules),
        b"\xef\xbb\xbf" + RULES_OK.encode(),
    )
    add(
        Entry("rules_big_cell.csv", "accepted", "a 200 KiB note", area=PLAN_AREA, features=3, **rules),
        RULES_OK.rstrip("\n") + "x" * (200 * 1024) + "\n",
    )
    add(
        Entry(
            "rules_semicolon.csv",
            "accepted",
            "';' as delimiter (Excel, Vietnamese locale: README says it is read)",
            area=PLAN_AREA,
            features=3,
            **rules,
        ),
        RULES_OK.replace(",", ";"),
    )
    add(
        Entry("rules_cp1258.csv", "refused", "Windows-1258 text, not UTF-8", **rules),
        RULES_OK.encode("cp1258", errors="replace"),
    )
    add(Entry("rules_binary.csv", "refused", "random bytes", **rules), np.random.default_rng(8).bytes(4096))
    add(Entry("rules_empty.csv", "refused", "an empty file", **rules), b"")
    add(
        Entry("rules_nul.csv", "refused", "a NUL byte in the verdict", **rules),
        head + "R1,PNN,LUA,con\x00flict,high,,\n",
    )
    add(
        Entry("rules_unclosed_quote.csv", "refused", "a quote never closed", **rules),
        head + 'R1,PNN,LUA,conflict,high,"Luật Đất đai,\nR2,*,RPH,conflict,high,,\n',
    )
    return entries
