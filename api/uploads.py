"""Receiving files: streamed to disk under a size limit, zips checked before anything reads them.

A rejected upload leaves nothing behind: the scratch folder is removed whatever happens, and the
store only sees a layer once it has been read and checked in full. A killed server cannot remove
its folders: they are named after their process (api.owner) and swept when a server starts.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from kgspatial.errors import say
from kgspatial.numfmt import en, vn

from . import owner
from .settings import Settings

LAYER_SUFFIXES = {".zip", ".gpkg", ".geojson", ".json", ".parquet", ".geoparquet", ".fgb"}
CHUNK = 1024 * 1024


class TooLarge(HTTPException):
    def __init__(self, detail: str):
        super().__init__(413, detail)


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the received file, under a scratch folder
    filename: str | None = None


def shown_filename(name: str | None, default: str = "upload") -> str:
    """The client's file name as messages and records show it: its last component, NFC, without
    control characters (the user's spelling kept: "Kế hoạch.gpkg", not "Kế_hoạch.gpkg")."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f\x7f]+", "", unicodedata.normalize("NFC", base)).strip()
    return base[-120:] or default


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The client's file name reduced to one harmless path component (the suffix matters to GDAL)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = unicodedata.normalize("NFC", base)
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._") or default
    return base[-120:]


@contextlib.asynccontextmanager
async def received(request: Request, settings: Settings, scratch_root: Path) -> AsyncIterator[Upload]:
    """Parse a multipart form, the file streamed into a scratch folder removed on exit."""
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(_too_large(settings))
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise HTTPException(
            400, "gửi biểu mẫu multipart/form-data có trường 'file' / send multipart/form-data with a 'file' field"
        )

    async def counted() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise TooLarge(_too_large(settings))
            yield chunk

    scratch = owner.scratch_folder(scratch_root, "upload")
    form = None
    try:
        parser = MultiPartParser(request.headers, counted(), max_files=1, max_fields=32, max_part_size=64 * 1024)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(400, f"biểu mẫu không hợp lệ / malformed form: {exc.message}") from None
        upload = Upload()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "file":
                    raise HTTPException(
                        400,
                        say(
                            f"trường tệp {key!r} không được nhận: hãy gửi tệp trong trường 'file'",
                            f"unexpected file field {key!r}: send the file as 'file'",
                        ),
                    )
                upload.filename = shown_filename(value.filename)
                upload.path = scratch / safe_filename(value.filename)
                with upload.path.open("wb") as out:
                    while chunk := await value.read(CHUNK):
                        out.write(chunk)
            else:
                upload.fields[key] = unicodedata.normalize("NFC", value).strip()
        yield upload
    finally:
        if form is not None:
            await form.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _too_large(settings: Settings) -> str:
    return say(
        f"tệp quá lớn: chỉ được gửi tối đa {vn(settings.max_upload_mb, _decimals(settings.max_upload_mb))} MB"
        " (thiết lập KGSPATIAL_MAX_UPLOAD_MB)",
        f"upload too large: at most {settings.max_upload_mb:g} MB may be sent (setting KGSPATIAL_MAX_UPLOAD_MB)",
    )


def _decimals(value: float) -> int:
    """Decimals a limit such as 0.5 MB needs (none for a whole number)."""
    return 0 if float(value).is_integer() else len(f"{value:g}".split(".")[-1])


def _unsafe(name: str) -> bool:
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "\x00" in text:
        return True
    return any(part == ".." for part in text.split("/"))


def check_zip(path: Path, settings: Settings, name: str | None = None) -> None:
    """Refuse unsafe members (400) and bombs (413) before GDAL opens the zip.

    Sizes are measured by decompressing (and discarding) each member, not taken from the
    central directory, which a hostile zip can fill with any numbers it likes.
    """
    shown = name or path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise HTTPException(400, say(f"{shown}: không phải tệp zip đọc được", "not a readable zip file")) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > settings.max_members:
            raise TooLarge(
                say(
                    f"{shown}: tệp zip có {vn(len(infos))} tệp; chỉ nhận tối đa {vn(settings.max_members)}",
                    f"{en(len(infos))} zip members; at most {en(settings.max_members)} are accepted",
                )
            )
        for info in infos:
            if _unsafe(info.filename):
                raise HTTPException(
                    400,
                    say(
                        f"{shown}: đường dẫn trong tệp zip không an toàn {info.filename!r} (tuyệt đối hoặc có '..')",
                        f"unsafe member path {info.filename!r} (absolute or with '..')",
                    ),
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise HTTPException(
                    400,
                    say(
                        f"{shown}: {info.filename!r} trong tệp zip là liên kết tượng trưng",
                        f"member {info.filename!r} is a symbolic link",
                    ),
                )
        if sum(i.file_size for i in infos) > settings.max_unpacked_bytes:
            raise TooLarge(_unpacked(path, settings))
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            try:
                with zf.open(info) as member:
                    while chunk := member.read(CHUNK):
                        total += len(chunk)
                        # The only limit on expansion: real .dbf files with empty text columns
                        # compress 200-1000 times, as bombs do, so a ratio cannot tell them apart.
                        if total > settings.max_unpacked_bytes:
                            raise TooLarge(_unpacked(path, settings))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise HTTPException(
                    400,
                    say(
                        f"{shown}: không đọc được {info.filename!r} trong tệp zip ({exc})",
                        f"member {info.filename!r} cannot be read ({exc})",
                    ),
                ) from None
            except RuntimeError as exc:  # encrypted members
                raise HTTPException(
                    400,
                    say(
                        f"{shown}: không đọc được {info.filename!r} trong tệp zip ({exc})",
                        f"member {info.filename!r} cannot be read ({exc})",
                    ),
                ) from None


def _unpacked(path: Path, settings: Settings) -> str:
    limit = settings.max_unpacked_mb
    return say(
        f"{path.name}: giải nén ra hơn {vn(limit, _decimals(limit))} MB (thiết lập KGSPATIAL_MAX_UNPACKED_MB)",
        f"more than {limit:g} MB unpacked (setting KGSPATIAL_MAX_UNPACKED_MB)",
    )


def check_layer_size(gdf, filename: str, settings: Settings) -> None:
    """413 for a layer with more features or vertices than the service takes (checked once read,
    before anything is stored or computed: a zip within the byte limits may still hold a layer
    that would not fit in memory through the check and its maps)."""
    import numpy as np
    import shapely

    count = len(gdf)
    if count > settings.max_features:
        raise TooLarge(
            say(
                f"{filename}: lớp có {vn(count)} đối tượng, quá {vn(settings.max_features)} đối tượng cho phép"
                " (thiết lập KGSPATIAL_MAX_FEATURES)",
                f"{en(count)} features, more than the {en(settings.max_features)} a layer may have"
                " (setting KGSPATIAL_MAX_FEATURES)",
            )
        )
    vertices = int(shapely.get_num_coordinates(np.asarray(gdf.geometry.values, dtype=object)).sum())
    if vertices > settings.max_vertices:
        raise TooLarge(
            say(
                f"{filename}: lớp có {vn(vertices)} đỉnh, quá {vn(settings.max_vertices)} đỉnh cho phép"
                " (thiết lập KGSPATIAL_MAX_VERTICES)",
                f"{en(vertices)} vertices, more than the {en(settings.max_vertices)} a layer may"
                " have (setting KGSPATIAL_MAX_VERTICES)",
            )
        )


def require_layer_file(upload: Upload, settings: Settings) -> Path:
    if upload.path is None:
        raise HTTPException(
            400,
            say(
                "thiếu tệp: hãy gửi lớp dữ liệu trong trường 'file' của biểu mẫu",
                "no file: send the layer in the multipart field 'file'",
            ),
        )
    suffix = upload.path.suffix.lower()
    if suffix not in LAYER_SUFFIXES:
        raise HTTPException(
            400,
            say(
                f"{upload.filename}: loại tệp {suffix or '(không có đuôi)'} không được hỗ trợ; hãy gửi shapefile,"
                " bảng MapInfo hoặc File Geodatabase đã nén (.zip), GeoPackage, GeoJSON, GeoParquet hoặc FlatGeobuf",
                f"unsupported file type {suffix or '(none)'}; send a zipped shapefile, MapInfo table or File"
                " Geodatabase (.zip), GeoPackage, GeoJSON, GeoParquet or FlatGeobuf",
            ),
        )
    if suffix == ".zip":
        check_zip(upload.path, settings, upload.filename)
    return upload.path
