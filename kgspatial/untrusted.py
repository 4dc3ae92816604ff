"""Opening a file a stranger sent: only as the format its name claims, with nothing else reachable.

GDAL picks the driver from a file's content, not its name: a ``.geojson`` holding OGR VRT XML
is opened as a VRT, whose source may be any file of the server (``/etc/passwd``, the service's
own database) or a URL (``/vsicurl/http://...``); a GeoJSON ``"crs"`` of type ``link`` makes GDAL
fetch its address.  The service therefore (1) keeps, process-wide, only the drivers of the
formats it accepts (`lock_down_gdal`), with every HTTP request of GDAL failing before it leaves
the process, and (2) checks each uploaded file's content against the format its name claims
before GDAL opens it, and the driver GDAL picks (`check_file`, `check_driver`).
A local user's CLI and registry inputs are not restricted: this module is used by the service.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sqlite3
import threading
from pathlib import Path, PurePosixPath

from .errors import InputError

# The formats an upload may be, by file suffix (README "What the service accepts").
DRIVERS: dict[str, frozenset[str]] = {
    ".gpkg": frozenset({"GPKG"}),
    ".geojson": frozenset({"GeoJSON"}),
    ".json": frozenset({"GeoJSON", "ESRIJSON", "TopoJSON"}),
    ".fgb": frozenset({"FlatGeobuf"}),
    ".shp": frozenset({"ESRI Shapefile"}),
    ".tab": frozenset({"MapInfo File"}),
    ".mif": frozenset({"MapInfo File"}),
    ".gdb": frozenset({"OpenFileGDB"}),
}
KEPT_DRIVERS = frozenset().union(*DRIVERS.values())
FORMAT_NAMES = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".shp": "shapefile",
    ".tab": "MapInfo TAB",
    ".mif": "MapInfo MIF",
    ".gdb": "File Geodatabase",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".shx": "shapefile index",
    ".dbf": "dBASE table",
}
# A proxy address curl refuses before connecting anywhere: GDAL has no switch for "no network".
_NO_PROXY_URL = "kgspatial-no-network://0"
GDAL_CONFIG = {
    "GDAL_HTTP_PROXY": _NO_PROXY_URL,
    "GDAL_HTTPS_PROXY": _NO_PROXY_URL,
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/kgspatial-no-network",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no listing of the folder around an upload
    "ALLOW_OGR_SQL_FUNCTIONS_FROM_TRIGGER_AND_VIEW": "NO",
    "ALLOW_VIRTUAL_OGR_FROM_TRIGGER_AND_VIEW": "NO",
}
_locked = False
_lock = threading.Lock()


def _libgdal() -> ctypes.CDLL:
    """The GDAL library pyogrio loaded (its wheel bundles one): the same copy, not another."""
    import pyogrio  # noqa: F401  (loads it)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libgdal" in line and "/" in line}
    except OSError:
        paths = set()
    # pyogrio's wheel keeps its copy in site-packages/pyogrio.libs; rasterio and fiona bring their own
    # copies beside it, so the folder, not site-packages, tells them apart.
    package = Path(pyogrio.__file__).resolve().parent
    own = (str(package.parent / "pyogrio.libs") + "/", str(package) + "/")
    ordered = sorted(paths, key=lambda p: not p.startswith(own))
    name = ordered[0] if ordered else ctypes.util.find_library("gdal")
    if not name:
        raise RuntimeError("cannot find the GDAL library pyogrio uses, so uploads cannot be restricted")
    lib = ctypes.CDLL(name)
    lib.GDALGetDriverByName.restype = ctypes.c_void_p
    lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    lib.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
    return lib


def cut_network() -> None:
    """GDAL's HTTP requests fail before leaving the process, PROJ downloads nothing: a check needs
    no network (intranets have none), and a file must not make this machine call anywhere."""
    import pyogrio
    import pyproj

    for var in ("no_proxy", "NO_PROXY"):  # curl would let such hosts bypass the dead proxy
        os.environ.pop(var, None)
    pyproj.network.set_network_enabled(False)
    pyogrio.set_gdal_config_options(
        {k: GDAL_CONFIG[k] for k in ("GDAL_HTTP_PROXY", "GDAL_HTTPS_PROXY", "CPL_VSIL_CURL_ALLOWED_FILENAME")}
    )


def lock_down_gdal() -> None:
    """Keep only the drivers of accepted formats and cut GDAL off the network, for this process.

    Checked afterwards: a service whose GDAL still has other drivers refuses to start.  fiona
    (curved geometries) has its own GDAL; its reads of uploads pass the allowed drivers instead.
    """
    global _locked
    with _lock:
        if _locked:
            return
        import pyogrio

        cut_network()
        others = sorted(set(pyogrio.list_drivers()) - KEPT_DRIVERS)
        # GDAL_SKIP keeps them out should anything call GDALAllRegister again.
        pyogrio.set_gdal_config_options({**GDAL_CONFIG, "GDAL_SKIP": ",".join(others)})
        lib = _libgdal()
        for name in others:
            handle = lib.GDALGetDriverByName(name.encode())
            if handle:
                lib.GDALDeregisterDriver(handle)
        left = set(pyogrio.list_drivers()) - KEPT_DRIVERS
        if left:
            raise RuntimeError(f"GDAL drivers still registered after the lock-down: {sorted(left)}")
        _locked = True


def _head(data: bytes) -> bytes:
    return data.removeprefix(b"\xef\xbb\xbf").lstrip()


def refusal(name: str, suffix: str, why: str) -> InputError:
    what = FORMAT_NAMES.get(suffix, suffix)
    return InputError.say(
        f"{name}: nội dung tệp không đúng định dạng {what} ({why}): chỉ đọc đúng định dạng mà tên tệp cho biết",
        f"not a {what} file ({why}): only the format its name says is read",
    )


def check_bytes(name: str, suffix: str, head: bytes, size: int, tail: bytes = b"") -> None:
    """Refuse content that is not the format its suffix claims, from its first bytes (and, for
    Parquet, its last).  `name` is the file as the user named it, for the message."""
    suffix = suffix.lower()
    text = _head(head)
    if suffix in {".geojson", ".json"}:
        if not text.startswith(b"{"):
            raise refusal(name, suffix, "it does not begin with a JSON object")
    elif suffix == ".gpkg":
        if not head.startswith(b"SQLite format 3\x00"):
            raise refusal(name, suffix, "no SQLite header")
    elif suffix == ".fgb":
        if not (head[:3] == b"fgb" and head[4:7] == b"fgb"):
            raise refusal(name, suffix, "no FlatGeobuf signature")
    elif suffix in {".parquet", ".geoparquet"}:
        if not (head.startswith(b"PAR1") and tail.endswith(b"PAR1")):
            raise refusal(name, suffix, "no Parquet signature")
    elif suffix in {".shp", ".shx"}:
        if len(head) < 100 or head[:4] != b"\x00\x00\x27\x0a":
            raise refusal(name, suffix, "no shapefile header")
    elif suffix == ".dbf":
        # dBASE versions GDAL reads: III, FoxPro, Visual FoxPro, with memo
        if not head or head[0] not in {0x02, 0x03, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0xCB, 0xF5, 0xFB}:
            raise refusal(name, suffix, "no dBASE header")
    elif suffix == ".tab":
        lower = text.lower()
        if not lower.startswith(b"!table"):
            raise refusal(name, suffix, "no '!table' header")
        # Seamless tables, views and linked (DBMS) tables name other tables, files or servers.
        if b"type native" not in lower or any(
            w in lower for w in (b"isseamless", b"create view", b"open table", b"type linked")
        ):
            raise refusal(name, suffix, "only native MapInfo tables are read, not seamless, view or linked tables")
    elif suffix == ".mif":
        if not text.lower().startswith(b"version"):
            raise refusal(name, suffix, "no 'Version' header")
    elif suffix == ".prj":
        upper = text[:16].upper()
        if not upper.startswith(
            (
                b"PROJCS",
                b"GEOGCS",
                b"GEOCCS",
                b"COMPD_CS",
                b"PROJCRS",
                b"GEOGCRS",
                b"GEODCRS",
                b"COMPOUNDCRS",
                b"LOCAL_CS",
                b"BOUNDCRS",
            )
        ):
            raise InputError.say(
                f"{name}: tệp .prj không phải là hệ tọa độ dạng WKT", "the .prj is not a WKT coordinate system"
            )


def check_file(path: Path, name: str) -> None:
    """`check_bytes` on a file on disk, plus a GeoPackage's own tables: a GeoPackage is an
    SQLite database, whose views and virtual tables can make GDAL run SQL of the sender's."""
    suffix = path.suffix.lower()
    if suffix == ".gdb":
        return  # a folder: OpenFileGDB reads its own tables only (driver checked after opening)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4096)
        tail = b""
        if suffix in {".parquet", ".geoparquet"} and size >= 8:
            fh.seek(size - 4)
            tail = fh.read(4)
    check_bytes(name, suffix, head, size, tail)
    if suffix == ".gpkg":
        _check_geopackage(path, name)


# GeoPackage 1.3 §F.3: CREATE VIRTUAL TABLE rtree_<t>_<c> USING rtree(id, minx, maxx, miny, maxy)
_VIRTUAL = re.compile(r"\s*create\s+virtual\s+table\b")
_RTREE_SQL = re.compile(
    r'create virtual table\s+(?:"rtree_[^"]+"|rtree_\w+)\s+using\s+rtree\s*'
    r"\(\s*id\s*,\s*minx\s*,\s*maxx\s*,\s*miny\s*,\s*maxy\s*\)\s*;?\s*\Z"
)
_GENERATED = re.compile(r"\bgenerated\b|\bas\s*\(")


def _check_geopackage(path: Path, name: str) -> None:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise refusal(name, ".gpkg", f"unreadable database: {exc}") from None
    try:
        conn.execute("PRAGMA trusted_schema=OFF")
        rows = conn.execute("SELECT type, name, lower(coalesce(sql, '')) FROM sqlite_master").fetchall()
    except sqlite3.Error as exc:
        raise refusal(name, ".gpkg", f"unreadable database: {exc}") from None
    finally:
        conn.close()
    for kind, table, sql in rows:
        if kind == "view":
            raise InputError.say(
                f"{name}: GeoPackage có view ({table}); view không được đọc từ tệp tải lên: hãy xuất lớp thành bảng",
                f"holds a view ({table}); views are not read from uploads: export the layer as a table",
            )
        # A virtual table runs a module of GDAL's SQLite (SpatiaLite's VirtualText reads any file):
        # only the GeoPackage spatial index, written exactly as the standard writes it, is read.
        if _VIRTUAL.match(sql) and not _RTREE_SQL.match(sql):
            raise InputError.say(
                f"{name}: GeoPackage có bảng ảo ({table}) không phải là chỉ mục không gian",
                f"holds a virtual table ({table}) that is not a spatial index",
            )
        # A generated column is computed on every read, by any SQL function the file names.
        if kind == "table" and _GENERATED.search(sql):
            raise InputError.say(
                f"{name}: bảng {table} có cột tính toán (generated); hãy xuất lớp với các cột thường",
                f"table {table} has a computed (generated) column; export the layer as plain columns",
            )


def refuse_recursive_views(path: Path, name: str) -> None:
    """A local file too: a GeoPackage view built on a recursive query can yield rows forever."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'view' AND lower(sql) LIKE '%recursive%'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return  # not a database: GDAL's read says so
    if rows:
        raise InputError.say(
            f"{name}: view {rows[0][0]} là truy vấn đệ quy, có thể chạy mãi không dừng: hãy xuất lớp thành bảng",
            f"view {rows[0][0]} is a recursive query, which may never end: export the layer as a table",
        )


def check_driver(driver: str | None, gdal_path: str, name: str) -> None:
    """Refuse a file GDAL opened with a driver other than its suffix's (e.g. a '.json' that is CSV)."""
    suffix = PurePosixPath(gdal_path).suffix.lower()
    allowed = DRIVERS.get(suffix)
    if allowed is not None and driver not in allowed:
        raise refusal(name, suffix, f"read as {driver or 'unknown format'}")
