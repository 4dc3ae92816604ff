"""Reading layers: any format users have, with its CRS and its text encoding worked out.

Layer selector syntax (documented in the README): ``PATH::LAYER`` or QGIS-style
``PATH|layername=LAYER``.  For a zip holding several shapefiles, LAYER is the shapefile's
stem (or its path inside the zip).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from . import crs as crs_mod
from . import textcodec
from . import untrusted as untrusted_mod
from .errors import CRSError, EncodingError, InputError, say
from .numfmt import en, vn

SUPPORTED_SUFFIXES = {
    ".shp",
    ".zip",
    ".gpkg",
    ".geojson",
    ".json",
    ".parquet",
    ".geoparquet",
    ".fgb",
    ".gdb",
    ".tab",
    ".mif",
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf")
# Files GDAL needs beside a MapInfo table: without .map it reads the attributes and no geometry.
MAPINFO_PARTS = {".tab": (".dat", ".map", ".id"), ".mif": (".mid",)}
MULTI_LAYER_SUFFIXES = {".gpkg", ".gdb"}  # a layer selector picks one of their layers
FORMATS_TEXT = (
    "a shapefile (.shp or .zip), GeoPackage, File Geodatabase (.gdb), MapInfo (.tab, .mif), GeoJSON,"
    " GeoParquet or FlatGeobuf"
)

# .cpg contents seen in the wild -> Python codec names.
_CPG_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "65001": "utf-8",
    "1252": "cp1252",
    "ansi1252": "cp1252",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "1258": "cp1258",
    "cp1258": "cp1258",
    "windows-1258": "cp1258",
    "88591": "latin-1",
    "iso-8859-1": "latin-1",
    "iso88591": "latin-1",
    "latin1": "latin-1",
    "tcvn3": "tcvn3",
    "abc": "tcvn3",
    "vni": "vni",
}


@dataclass
class Layer:
    """A layer as read: attributes decoded to Unicode, CRS known (EPSG-coded where possible)."""

    gdf: gpd.GeoDataFrame
    path: str
    layer: str | None
    crs: pyproj.CRS
    crs_source: str  # "file", "prj (ESRI, recognised)", "assumed"
    encoding: str
    engine: str
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return file_stem(self.path)


def file_stem(path: str | Path) -> str:
    """The default plan id: the file name without its suffix (NAME of NAME.gdb and NAME.gdb.zip), NFC."""
    stem = Path(path).stem
    stem = stem[:-4] if stem.lower().endswith(".gdb") else stem
    return unicodedata.normalize("NFC", stem)


def split_selector(spec: str) -> tuple[str, str | None]:
    """Split ``PATH::LAYER`` or ``PATH|layername=LAYER`` into path and layer."""
    if "|layername=" in spec:
        path, layer = spec.split("|layername=", 1)
        return path, layer or None
    if "::" in spec:
        path, layer = spec.rsplit("::", 1)
        return path, layer or None
    return spec, None


def _cpg_encoding(text: str) -> str:
    key = text.strip().lower().replace(" ", "").replace("_", "")
    key = key.removeprefix("ansi") if key.startswith("ansi") and key[4:].isdigit() else key
    return _CPG_ALIASES.get(key, text.strip())


@dataclass
class _Located:
    """Where GDAL should read from, and the sidecar texts found beside a shapefile."""

    gdal_path: str
    layer: str | None
    cpg: str | None = None
    prj: str | None = None
    is_shapefile: bool = False
    raw_text: bool = False  # text read as Latin-1 to keep its bytes (shapefiles; MapInfo "Neutral" tables)
    extracted: Path | None = None  # an upload's zip member copied out to be checked, removed after reading
    untrusted: bool = False  # an upload: read only with its format's driver (kgspatial.untrusted)
    member_of: str | None = None  # "ZIP::MEMBER" as the user knows it, when read from a zip

    @property
    def shown(self) -> str:
        """The file as messages name it: never GDAL's /vsizip/ path or a copied-out member."""
        return self.member_of or self.gdal_path


def _locate_in_zip(path: Path, layer: str | None, untrusted: bool = False) -> _Located:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            unsafe = [
                n for n in names if n.startswith(("/", "\\")) or ".." in PurePosixPath(n.replace("\\", "/")).parts
            ]
            if unsafe:  # GDAL would not follow them, but its message would only confuse
                raise InputError.say(
                    f"{path}: đường dẫn trong tệp zip không an toàn {unsafe[0]!r} (tuyệt đối hoặc có '..'): hãy nén"
                    " lại các tệp từ thư mục của chúng",
                    f"unsafe member path {unsafe[0]!r} (absolute or with '..'): zip the files again from their folder",
                )
            bad = zf.testzip()
            if bad is not None:
                raise InputError.say(f"{path}: tệp {bad} trong zip bị hỏng", f"zip member {bad} is corrupt")
            by_lower = {n.lower(): n for n in names}
            shps = [n for n in names if n.lower().endswith(".shp") and not PurePosixPath(n).name.startswith("._")]
            others = [
                n
                for n in names
                if PurePosixPath(n).suffix.lower() in {".gpkg", ".geojson", ".json", ".fgb", ".parquet", ".tab", ".mif"}
            ]
            others += _gdb_folders(names)
            candidates = shps or others
            if not candidates:
                inner = [n for n in names if n.lower().endswith(".zip")]
                if inner:
                    raise InputError.say(
                        f"{path}: tệp zip chứa một tệp zip khác ({inner[0]}): hãy giải nén tệp ngoài và dùng tệp zip"
                        " bên trong",
                        f"the zip holds another zip ({inner[0]}): unzip the outer one and give the inner zip",
                    )
                raise InputError.say(
                    f"{path}: tệp zip không chứa shapefile (.shp) hay tệp dữ liệu vector nào",
                    "the zip holds no shapefile (.shp) or other vector file",
                )
            if layer is not None and len(candidates) > 1:
                chosen = [n for n in candidates if n == layer or PurePosixPath(n).stem == layer]
                if not chosen:
                    raise InputError.say(
                        f"{path}: không có lớp {layer!r} trong tệp zip; tệp có {', '.join(candidates)}",
                        f"no layer {layer!r} in the zip; it holds {', '.join(candidates)}",
                    )
                member = chosen[0]
            elif len(candidates) > 1:
                raise InputError.say(
                    f"{path}: tệp zip có {len(candidates)} lớp ({', '.join(candidates)}); hãy chọn một lớp bằng"
                    f" {path}::TÊN",
                    f"the zip holds {len(candidates)} layers ({', '.join(candidates)}); choose one with {path}::NAME",
                )
            else:
                member = candidates[0]
            loc = _Located(gdal_path=f"/vsizip/{path.resolve()}/{member}", layer=None, member_of=f"{path}::{member}")
            if untrusted:
                _check_zip_member(zf, path, member, by_lower, loc)
            if loc.extracted is not None:
                loc.layer = layer if len(candidates) == 1 else None
            elif member.lower().endswith(".shp"):
                loc.is_shapefile = True
                base = member[:-4]
                missing = [ext for ext in SHAPEFILE_PARTS[1:] if (base + ext).lower() not in by_lower]
                if missing:
                    raise InputError.say(
                        f"{path}: shapefile {member} thiếu tệp {', '.join(missing)}",
                        f"shapefile {member} lacks its {', '.join(missing)} part(s)",
                    )
                for ext in (".cpg", ".prj"):
                    if (base + ext).lower() in by_lower:
                        text = zf.read(by_lower[(base + ext).lower()]).decode("latin-1")
                        setattr(loc, ext[1:], text)
                shx, dbf = by_lower[(base + ".shx").lower()], by_lower[(base + ".dbf").lower()]
                with zf.open(dbf) as head:
                    dbf_head = head.read(32)
                check_shapefile_parts(
                    f"{path}::{member}", zf.getinfo(member).file_size, zf.read(shx), dbf_head, zf.getinfo(dbf).file_size
                )
            else:
                suffix = PurePosixPath(member).suffix
                _require_mapinfo_parts(
                    f"{path}::{member}", suffix, lambda ext: f"{member[: -len(suffix)]}{ext}".lower() in by_lower
                )
                loc.layer = layer if len(candidates) == 1 else None
            return loc
    except zipfile.BadZipFile as exc:
        raise InputError.say(
            f"{path}: tệp zip bị hỏng, không đọc được ({exc})", f"not a readable zip file ({exc})"
        ) from None


def _check_zip_member(zf: zipfile.ZipFile, path: Path, member: str, by_lower: dict[str, str], loc: _Located) -> None:
    """An upload's member checked against the format its name claims (kgspatial.untrusted).

    A single-file format (GeoPackage, GeoJSON...) is copied out beside the zip and read from
    there, so it gets the same checks as one sent unzipped; a shapefile's or MapInfo table's parts
    are checked in the zip, where GDAL reads them."""
    suffix = PurePosixPath(member).suffix.lower()
    where = f"{path}::{member}"
    if suffix in {".shp", ".tab", ".mif"}:
        base = member[: -len(suffix)]
        parts = [".shp", ".shx", ".dbf", ".prj"] if suffix == ".shp" else [suffix]
        for ext in parts:
            real = by_lower.get((base + ext).lower())
            if real is not None:
                with zf.open(real) as fh:
                    head = fh.read(65536 if ext in {".tab", ".prj"} else 4096)
                untrusted_mod.check_bytes(f"{path}::{real}", ext, head, zf.getinfo(real).file_size)
        return
    if suffix in {".gpkg", ".geojson", ".json", ".fgb", ".parquet"}:
        target = Path(tempfile.mkdtemp(prefix=".member-", dir=path.parent)) / f"layer{suffix}"
        with zf.open(member) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
        loc.extracted, loc.gdal_path = target, str(target)
        untrusted_mod.check_file(target, where)


def _require_mapinfo_parts(where: str, suffix: str, present: Callable[[str], bool]) -> None:
    """Refuse a MapInfo table sent without the files GDAL reads beside it."""
    missing = [ext for ext in MAPINFO_PARTS.get(suffix.lower(), ()) if not present(ext)]
    if missing:
        raise InputError.say(
            f"{where}: bảng MapInfo thiếu tệp {', '.join(missing)}",
            f"MapInfo table lacks its {', '.join(missing)} part(s)",
        )


def _gdb_folders(names: list[str]) -> list[str]:
    """The File Geodatabase folders (NAME.gdb) among a zip's member paths."""
    folders = []
    for name in names:
        parts = PurePosixPath(name).parts
        for i, part in enumerate(parts[:-1]):
            if part.lower().endswith(".gdb"):
                folders.append("/".join(parts[: i + 1]))
                break
    return list(dict.fromkeys(folders))


def _locate(path: Path, layer: str | None, untrusted: bool = False) -> _Located:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _locate_in_zip(path, layer, untrusted)
    if untrusted:
        untrusted_mod.check_file(path, str(path))
    elif suffix == ".gpkg":
        untrusted_mod.refuse_recursive_views(path, str(path))
    _require_mapinfo_parts(str(path), suffix, lambda ext: _sidecar(path, ext) is not None)
    if suffix == ".shp":
        missing = [ext for ext in SHAPEFILE_PARTS[1:] if not _sidecar(path, ext)]
        if missing:
            raise InputError.say(
                f"{path}: shapefile thiếu tệp {', '.join(missing)}", f"shapefile lacks its {', '.join(missing)} part(s)"
            )
        loc = _Located(gdal_path=str(path), layer=None, is_shapefile=True)
        for ext in (".cpg", ".prj"):
            side = _sidecar(path, ext)
            if side:
                setattr(loc, ext[1:], side.read_bytes().decode("latin-1"))
        dbf = _sidecar(path, ".dbf")
        with open(dbf, "rb") as head:
            dbf_head = head.read(32)
        check_shapefile_parts(
            str(path), path.stat().st_size, _sidecar(path, ".shx").read_bytes(), dbf_head, dbf.stat().st_size
        )
        return loc
    return _Located(gdal_path=str(path), layer=layer)


def check_shapefile_parts(name: str, shp_size: int, shx: bytes, dbf_head: bytes, dbf_size: int) -> None:
    """Refuse a shapefile whose three parts disagree.

    GDAL reads such files without a word: a .shp cut short by an interrupted copy gives its last
    features as empty geometries, and a .dbf from another export makes it read only as many
    features as the shorter part holds; either way conflicts would go unreported.  Layouts: ESRI
    Shapefile Technical Description (1998), .shx records are big-endian (offset, length) in 16-bit
    words after a 100-byte header; dBASE III header: record count (uint32 LE) at byte 4, header
    and record sizes (uint16 LE) at bytes 8 and 10.
    """
    if len(shx) < 100 or (len(shx) - 100) % 8:
        raise InputError.say(
            f"{name}: tệp chỉ mục .shx bị hỏng ({vn(len(shx))} byte)",
            f"the .shx index is damaged ({en(len(shx))} bytes)",
        )
    records = np.frombuffer(shx, dtype=">u4", offset=100).reshape(-1, 2).astype(np.int64)
    shapes = len(records)
    beyond = int(((records[:, 0] + 4 + records[:, 1]) * 2 > shp_size).sum())
    if beyond:
        raise InputError.say(
            f"{name}: tệp .shp bị cắt cụt ({vn(shp_size)} byte): {vn(beyond)} trong {vn(shapes)} hình nằm quá cuối"
            " tệp; hãy sao chép hoặc xuất lại",
            f"the .shp is cut short ({en(shp_size)} bytes): {en(beyond)} of its {en(shapes)} shapes lie beyond its"
            " end; copy or export it again",
        )
    if len(dbf_head) < 12:
        raise InputError.say(f"{name}: tệp .dbf bị hỏng (không có phần đầu)", "the .dbf is damaged (no header)")
    rows = int.from_bytes(dbf_head[4:8], "little")
    header_size, row_size = int.from_bytes(dbf_head[8:10], "little"), int.from_bytes(dbf_head[10:12], "little")
    if rows != shapes:
        raise InputError.say(
            f"{name}: các tệp .shp và .dbf không khớp nhau: {vn(shapes)} hình trong .shp/.shx nhưng {vn(rows)} bản"
            " ghi trong .dbf (sao chép từ các lần xuất khác nhau?)",
            f"its parts disagree: {en(shapes)} shapes in the .shp/.shx but {en(rows)} records in the .dbf"
            " (copied from different exports?)",
        )
    if dbf_size < header_size + rows * row_size:
        raise InputError.say(
            f"{name}: tệp .dbf bị cắt cụt ({vn(dbf_size)} trong {vn(header_size + rows * row_size)} byte)",
            f"the .dbf is cut short ({en(dbf_size)} of {en(header_size + rows * row_size)} bytes)",
        )


def _existing_form(path: Path) -> Path:
    """The path as typed, else its NFC or NFD form that exists: macOS and some zip tools store
    Vietnamese names decomposed, while a keyboard types them composed."""
    if path.exists():
        return path
    for form in ("NFC", "NFD"):
        other = Path(unicodedata.normalize(form, str(path)))
        if other.exists():
            return other
    return path


def _sidecar(path: Path, ext: str) -> Path | None:
    for candidate in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if candidate.exists():
            return candidate
    return None


def _field_names(loc: _Located) -> list[str] | None:
    """The layer's attribute names, read from its header only (None when it cannot be told)."""
    suffix = PurePosixPath(loc.gdal_path).suffix.lower()
    try:
        if suffix in {".parquet", ".geoparquet"} and not loc.gdal_path.startswith("/vsi"):
            import pyarrow.parquet as pq

            return [n for n in pq.read_schema(loc.gdal_path).names if n != "geometry"]
        import pyogrio

        # Same encoding as the read itself, so the names match those read_file returns.
        encoding = "ISO-8859-1" if loc.is_shapefile else None
        return [str(f) for f in pyogrio.read_info(loc.gdal_path, layer=loc.layer, encoding=encoding)["fields"]]
    except Exception:  # noqa: BLE001  (the full read will report the real problem)
        return None


def _read_frame(
    loc: _Located,
    engine: str,
    raw_encoding: str | None,
    columns: list[str] | None = None,
    notes: list[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read with pyogrio (or fiona); shapefile text comes back as Latin-1 so its bytes survive.
    Geometries mended on the way (a ring left open) are counted in `notes`, for the summary."""
    suffix = PurePosixPath(loc.gdal_path).suffix.lower()
    try:
        if suffix in {".parquet", ".geoparquet"} and not loc.gdal_path.startswith("/vsi"):
            frame = gpd.read_parquet(loc.gdal_path, columns=None if columns is None else [*columns, "geometry"])
            return frame
        kwargs: dict = {}
        if loc.layer is not None:
            kwargs["layer"] = loc.layer
        if raw_encoding is not None:
            kwargs["encoding"] = raw_encoding
        if engine == "pyogrio":
            try:
                return _read_arrow_frame(
                    loc.gdal_path, {**kwargs, "columns": columns} if columns is not None else kwargs, notes
                )
            except _NotUtf8:  # text in no declared encoding (a MapInfo "Neutral" table): keep its bytes
                loc.raw_text = True
                return gpd.read_file(
                    loc.gdal_path, engine="pyogrio", use_arrow=False, columns=columns, encoding="ISO-8859-1", **kwargs
                )
            except _Curved:
                return _read_linearised(loc.gdal_path, kwargs, columns, notes, loc.untrusted)
        # fiona's GeoJSON driver cannot skip fields: read them all, keep the asked ones
        frame = gpd.read_file(loc.gdal_path, engine=engine, **kwargs)
        return frame[[*columns, frame.geometry.name]] if columns is not None else frame
    except ImportError as exc:
        raise InputError.say(
            f"chưa cài bộ đọc {engine!r} ({exc})", f"engine {engine!r} is not installed ({exc})"
        ) from None
    except Exception as exc:  # GDAL/pyogrio/fiona raise many types; the user needs one line
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = text.replace(f"'{loc.gdal_path}'", "it").replace(loc.gdal_path, loc.shown)
        raise InputError.say(f"{loc.shown}: không đọc được tệp ({text})", f"cannot read ({text})") from None


# GDAL's own note on an open ring would reach the user's terminal; the read counts and closes them.
warnings.filterwarnings("ignore", message="Non closed ring detected", category=RuntimeWarning)
# NaN coordinates make shapely warn while building geometries; prepare refuses them in one line.
warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning, module=r"shapely\.")


class _NotUtf8(Exception):
    """Text that is not UTF-8 where the format promised it."""


class _Curved(Exception):
    """True curves (arcs of ArcGIS or CAD data), which shapely cannot hold."""


def _read_linearised(
    gdal_path: str, kwargs: dict, columns: list[str] | None, notes: list[str] | None, untrusted: bool = False
):
    """A layer with true curves, read through fiona, whose GDAL binding turns arcs into straight
    segments (GDAL's default 4° step: a circle's area comes out about 0.1 % short)."""
    try:
        import fiona  # noqa: F401
    except ImportError:
        raise InputError.say(
            f"{gdal_path}: lớp có đường cong (cung tròn), không đo được như vậy: hãy cài fiona (pip install"
            " 'kgspatial[fiona]') để chuyển chúng thành đoạn thẳng, hoặc chuyển tệp bằng ogr2ogr -nlt CONVERT_TO_LINEAR",
            "holds curved geometries (arcs), which cannot be measured as they are: install"
            " fiona (pip install 'kgspatial[fiona]') to have them turned into straight segments, or convert the"
            " file with ogr2ogr -nlt CONVERT_TO_LINEAR",
        ) from None
    if untrusted:  # fiona brings its own GDAL, which lock_down_gdal did not touch
        import fiona

        suffix = PurePosixPath(gdal_path).suffix.lower()
        with fiona.Env(**untrusted_mod.GDAL_CONFIG):
            frame = gpd.read_file(
                gdal_path, engine="fiona", enabled_drivers=sorted(untrusted_mod.DRIVERS[suffix]), **kwargs
            )
    else:
        frame = gpd.read_file(gdal_path, engine="fiona", **kwargs)
    if notes is not None:
        notes.append(
            say(
                "đường cong (cung tròn) đã được chuyển thành đoạn thẳng (sai khác khoảng 0,1 % diện tích"
                " một hình tròn)",
                "curved geometries (arcs) turned into straight segments (about 0.1 % of a circle's area)",
            )
        )
    return frame[[*columns, frame.geometry.name]] if columns is not None else frame


def _read_arrow_frame(gdal_path: str, kwargs: dict, notes: list[str] | None = None) -> gpd.GeoDataFrame:
    """pyogrio's Arrow read, with the geometry built straight from the WKB column.

    `geopandas.read_file(use_arrow=True)` first turns the WKB column into pandas as well: measured
    on 100,000 zones that costs 108 MB and 0.34 s, against 78 MB and 0.18 s this way.
    """
    import pyogrio

    meta, table = pyogrio.read_arrow(gdal_path, **kwargs)
    name = meta["geometry_name"] or "wkb_geometry"
    geoms = None
    if name in table.column_names:
        wkb = table.column(name).to_numpy(zero_copy_only=False)
        try:
            geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        except NotImplementedError:  # "Nonlinear geometry types are not currently supported"
            raise _Curved(gdal_path) from None
        broken = np.nonzero(shapely.is_missing(geoms) & np.not_equal(wkb, None))[0]
        if len(broken):  # a ring GDAL left open (GeoJSON writers do): closed, not the file refused
            geoms[broken] = shapely.from_wkb(wkb[broken], on_invalid="fix")
            if notes is not None:
                notes.append(
                    say(
                        f"{vn(len(broken))} đối tượng có vòng không khép kín: đã khép lại",
                        f"{en(len(broken))} feature(s) with a ring left open: closed",
                    )
                )
        table = table.drop_columns([name])
    if "encoding" not in kwargs:  # GDAL passes on bytes it could not tell the encoding of
        import pyarrow as pa

        try:
            table.validate(full=True)  # 0.07 s for 1M rows of two text columns
        except pa.ArrowInvalid:
            raise _NotUtf8(gdal_path) from None
    attrs = table.to_pandas(self_destruct=True)
    del table
    if geoms is None:
        return gpd.GeoDataFrame(attrs)
    return gpd.GeoDataFrame(attrs, geometry=geoms, crs=meta["crs"])


def _decode_text(
    gdf, declared: str | None, given: bool, option: str | None, path: str, warnings: list[str], names: bool = False
):
    """Decode the layer's text; a declared encoding the text plainly contradicts is named, with
    the one the detector finds.

    ArcGIS writes the Windows code page into the .cpg (1252 on many office PCs) while the text was
    typed in a TCVN3 or VNI font: read as cp1252 that gives mojibake, so the detector's
    Vietnamese reading wins, with a warning.  A declared encoding that cannot decode the text at
    all is refused with the detector's suggestion; one that decodes it, but not as the detector
    would, is kept when the user gave it, with a warning.  With `names`, a shapefile's field names
    are decoded alike (textcodec.decode_columns).
    """

    def decode(declared=None):
        return textcodec.decode_columns(gdf, declared=declared, names=names)

    if declared is None:
        return decode()
    source = f"{option or 'the encoding given'} {declared}" if given else f"its .cpg ({declared})"
    source_vi = (
        (f"tùy chọn {option} {declared}" if option else f"bảng mã đã cho {declared}")
        if given
        else f"tệp .cpg ({declared})"
    )
    try:
        fixed, used = decode(declared)
    except (UnicodeError, InputError) as exc:
        detected = decode()[1]
        fix = f"give {option} {detected}" if option else "fix or remove its .cpg"
        fix_vi = f"hãy dùng tùy chọn {option} {detected}" if option else "hãy sửa hoặc bỏ tệp .cpg"
        named = detected not in {"ascii", "latin-1"}
        hint = f"; the text looks like {detected}: {fix}" if named else ""
        hint_vi = f"; văn bản có vẻ là {detected}: {fix_vi}" if named else ""
        reason = getattr(exc, "reason", None) or str(exc)
        raise InputError.say(
            f"{path}: văn bản không đọc được theo bảng mã {declared}, theo {source_vi}"
            f" ({getattr(exc, 'vi', None) or reason}){hint_vi}",
            f"text cannot be decoded as {declared}, from {source} ({getattr(exc, 'en', None) or reason}){hint}",
        ) from None
    if used in {"cp1252", "latin-1"} and not given:
        vietnamese, detected = decode()
        if detected in {"tcvn3", "vni"}:
            warnings.append(
                say(
                    f"{path}: tệp .cpg ghi {declared} nhưng văn bản là {detected}: đã đọc theo {detected}",
                    f"the .cpg says {declared} but the text is {detected}: read as {detected}",
                )
            )
            return vietnamese, detected
    elif given:  # the user's choice stands, but a slip is said
        detected = decode()[1]
        if detected not in {"ascii", "latin-1", used}:
            warnings.append(
                say(
                    f"{path}: văn bản có vẻ là {detected}, không phải {used} như {source_vi}: hãy kiểm tra",
                    f"the text looks like {detected}, not {used} as given by {source}: check it",
                )
            )
    return fixed, used


def list_layers(path: str) -> list[tuple[str, bool]]:
    """Layer names of a multi-layer file (GeoPackage, File Geodatabase) and whether each has
    geometry, for error messages and selectors."""
    import pyogrio

    try:
        return [(str(row[0]), row[1] is not None) for row in pyogrio.list_layers(path)]
    except Exception:
        return []


def _chosen_layer(path: Path, gdal_path: str, layer: str | None) -> str | None:
    """The selected layer, checked; without a selector the one layer with geometry (reading "the
    first" of several could check the boundary layer instead of the zoning)."""
    listed = list_layers(gdal_path)
    if layer is not None:
        names = [name for name, _ in listed]
        if names and layer not in names:
            raise InputError.say(
                f"{path}: không có lớp {layer!r}; các lớp: {', '.join(names)}",
                f"no layer {layer!r}; layers: {', '.join(names)}",
            )
        return layer
    names = [name for name, spatial in listed if spatial]
    if len(names) > 1:
        raise InputError.say(
            f"{path}: tệp có {len(names)} lớp ({', '.join(names)}); hãy chọn một lớp, ví dụ {path}::{names[0]}",
            f"holds {len(names)} layers ({', '.join(names)}); choose one as {path}::{names[0]}",
        )
    if names and len(listed) > 1:
        return names[0]  # the one layer with geometry beside attribute tables: named, so GDAL does not warn
    return None


def read_layer(
    spec: str | Path,
    *,
    engine: str = "pyogrio",
    encoding: str | None = None,
    assume_crs: str | None = None,
    select: Callable[[list[str]], list[str]] | None = None,
    encoding_option: str | None = "--encoding",
    untrusted: bool = False,
) -> Layer:
    """Read one layer; raise InputError/CRSError with a one-line reason when it cannot be used.

    `encoding_option` is how the user gives this layer's encoding, for messages (None: no way
    but its .cpg).

    `select`, given the layer's field names, returns the ones to read: real land-use layers carry
    dozens of attribute columns that the check never uses, and reading them costs time and memory.

    `untrusted` (the service's uploads): the file is opened only as the format its name claims,
    with GDAL's other drivers and network gone (kgspatial.untrusted).
    """
    if untrusted:
        untrusted_mod.lock_down_gdal()
    if engine not in {"pyogrio", "fiona"}:
        raise InputError.say(
            f"không có bộ đọc {engine!r}: dùng pyogrio hoặc fiona", f"unknown engine {engine!r}: use pyogrio or fiona"
        )
    path_text, layer = split_selector(str(spec))
    path = _existing_form(Path(path_text))
    if not path.exists():
        raise InputError.say(f"{path}: không có tệp này", "no such file")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputError.say(
            f"{path}: đây là thư mục; hãy cho tệp .shp, .zip, .gpkg, .gdb hoặc tệp dữ liệu khác",
            "is a folder; give the .shp, .zip, .gpkg, .gdb or other file",
        )
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError.say(
            f"{path}: loại tệp {path.suffix or '(không có đuôi)'} không được hỗ trợ; dùng {FORMATS_TEXT}",
            f"unsupported file type {path.suffix or '(none)'}; use {FORMATS_TEXT}",
        )
    loc = _locate(path, layer, untrusted)
    try:
        if untrusted:
            loc.untrusted = True
            _check_opened_driver(loc, path)
        return _read_located(path, layer, loc, engine, encoding, assume_crs, select, encoding_option)
    finally:
        if loc.extracted is not None:
            shutil.rmtree(loc.extracted.parent, ignore_errors=True)


_CRS_LINK = re.compile(rb'"crs"\s*:\s*\{\s*"type"\s*:\s*"link"')


def _unfollowed_crs_link(loc: _Located) -> bool:
    """Whether a GeoJSON file declares its CRS by a link (GeoJSON 2008 `"crs": {"type": "link"}`)."""
    if PurePosixPath(loc.gdal_path).suffix.lower() not in {".geojson", ".json"} or loc.gdal_path.startswith("/vsi"):
        return False
    try:
        with open(loc.gdal_path, "rb") as fh:
            return bool(_CRS_LINK.search(fh.read(1 << 20)))
    except OSError:
        return False


def _check_opened_driver(loc: _Located, path: Path) -> None:
    """The driver GDAL picks for an upload, checked against its suffix before anything is read."""
    if PurePosixPath(loc.gdal_path).suffix.lower() in {".parquet", ".geoparquet"} and not loc.gdal_path.startswith(
        "/vsi"
    ):
        return  # read by pyarrow, not GDAL
    import pyogrio

    try:
        driver = pyogrio.read_info(loc.gdal_path, layer=loc.layer)["driver"]
    except Exception as exc:  # noqa: BLE001  (not a file any kept driver reads)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise untrusted_mod.refusal(str(path), PurePosixPath(loc.gdal_path).suffix, first) from None
    untrusted_mod.check_driver(driver, loc.gdal_path, str(path))


def _read_located(
    path: Path,
    layer: str | None,
    loc: _Located,
    engine: str,
    encoding: str | None,
    assume_crs: str | None,
    select: Callable[[list[str]], list[str]] | None,
    encoding_option: str | None,
) -> Layer:
    if PurePosixPath(loc.gdal_path).suffix.lower() in MULTI_LAYER_SUFFIXES:
        loc.layer = _chosen_layer(path, loc.gdal_path, loc.layer)
    declared = encoding or (_cpg_encoding(loc.cpg) if loc.cpg else None)
    if not loc.is_shapefile and declared and declared.replace("-", "").lower() in {"utf8", "ascii"}:
        declared = None  # GeoPackage, GeoJSON... are UTF-8 by definition
    if declared is not None:
        try:
            textcodec.canonical_encoding(declared)
        except EncodingError as exc:
            if encoding:
                raise InputError(f"{path}: {encoding_option or 'encoding'}: {exc}") from None
            hint = f"; give the encoding with {encoding_option}" if encoding_option else ""
            hint_vi = f"; hãy cho bảng mã bằng tùy chọn {encoding_option}" if encoding_option else ""
            raise InputError.say(
                f"{path}: tệp .cpg không hợp lệ: {exc.vi or exc}{hint_vi}", f"its .cpg file: {exc.en or exc}{hint}"
            ) from None
    columns = None
    fields = _field_names(loc) if select is not None else None
    # A DBF's field names are decoded with its values (the user names them as their GIS shows
    # them): such a layer is read whole and its fields picked once decoded.
    pick_after = fields is not None and loc.is_shapefile and not all(n.isascii() for n in fields)
    if fields is not None and not pick_after:
        columns = list(dict.fromkeys(select(fields)))
    notes: list[str] = []
    loc.raw_text = loc.is_shapefile
    gdf = _read_frame(loc, engine, "ISO-8859-1" if loc.is_shapefile else None, columns, notes)
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError.say(f"{path}: lớp không có cột hình học", "the layer has no geometry column")
    warnings: list[str] = [f"{path}: {note}" for note in notes]

    crs_source = "file"
    found_crs = gdf.crs
    if found_crs is not None and found_crs.to_epsg() == 4326 and _unfollowed_crs_link(loc):
        # GDAL reads a GeoJSON whose "crs" is a link it cannot (must not) fetch as WGS 84: the
        # file's CRS is unknown, not WGS 84, so --assume-crs applies.
        found_crs = None
        warnings.append(
            say(f'{path}: "crs" của tệp là một liên kết, không được dùng', 'its "crs" is a link, not followed')
        )
    local = found_crs is not None and not (found_crs.is_geographic or found_crs.is_projected)
    if local:  # MapInfo "NonEarth", CAD units: metres with no place on Earth
        found_crs = None
    if found_crs is None and loc.prj:
        try:
            crs_value = crs_mod.recognise(loc.prj)
        except CRSError as exc:
            raise CRSError.say(
                f"{path}: tệp .prj không hợp lệ: {exc.vi or exc}; hãy khai báo bằng tùy chọn"
                " --assume-crs, ví dụ --assume-crs EPSG:9207",
                f"its .prj: {exc.en or exc}; give the CRS with --assume-crs, e.g. --assume-crs EPSG:9207",
            ) from None
        crs_source = "prj (ESRI, recognised)"
    elif found_crs is not None:
        crs_value = crs_mod.recognise(found_crs)
        if crs_value.to_epsg() is not None and found_crs.to_epsg() is None:
            crs_source = "prj (ESRI, recognised)" if loc.is_shapefile else "file (recognised)"
    else:
        crs_value = None
    if crs_value is None:
        if assume_crs is None:
            what = (
                f"a local coordinate system ({gdf.crs.name}) with no place on Earth"
                if local
                else "no coordinate reference system" + (" (no .prj)" if loc.is_shapefile else "")
            )
            what_vi = (
                f"hệ tọa độ cục bộ ({gdf.crs.name}), không gắn với vị trí nào trên Trái Đất"
                if local
                else "không có hệ tọa độ" + (" (thiếu tệp .prj)" if loc.is_shapefile else "")
            )
            raise CRSError.say(
                f"{path}: lớp {what_vi}; hãy khai báo bằng tùy chọn --assume-crs, ví dụ --assume-crs EPSG:9207"
                " (VN-2000 / TM-3 104-30, Kiên Giang)",
                f"the layer has {what}; give one with --assume-crs, e.g. --assume-crs EPSG:9207",
            )
        crs_value = crs_mod.recognise(assume_crs)
        crs_source = "assumed"
    if crs_source != "assumed":
        note = crs_mod.datum_warning(found_crs if found_crs is not None else loc.prj)
        if note:
            warnings.append(f"{path}: {note}")
    gdf = gdf.set_crs(crs_value, allow_override=True)

    gdf, used = _decode_text(
        gdf, declared, encoding is not None, encoding_option, str(path), warnings, names=loc.raw_text
    )
    if pick_after:
        gdf = gdf[[*dict.fromkeys(select([c for c in gdf.columns if c != "geometry"])), "geometry"]]
    if not loc.raw_text and used in {"ascii", "latin-1"}:
        used = "utf-8"  # GeoPackage, GeoJSON, FlatGeobuf, GeoParquet store UTF-8; nothing was re-decoded
    return Layer(
        gdf=gdf,
        path=str(path),
        layer=layer,
        crs=crs_value,
        crs_source=crs_source,
        encoding=used,
        engine=engine,
        warnings=warnings,
    )
