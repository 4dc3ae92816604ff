"""Leaflet and its plugins, read from node_modules so map.html works with no internet.

Government intranets cannot reach a CDN, so every script and stylesheet the map needs is inlined
into the file.  The sources come from npm packages pinned in the repository's package.json and
installed by `npm ci` (never committed); images a stylesheet refers to become data: URIs.  A built
wheel carries the files it needs (`bundle_files`, copied by setup.py) so no install needs npm.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
from functools import lru_cache
from pathlib import Path

from .errors import KgSpatialError

REPO_ROOT = Path(__file__).resolve().parents[1]
# Filled only inside a built wheel (setup.py): the layers/ data and the map's node_modules files.
BUNDLED = Path(__file__).resolve().parent / "_bundled"

# What the map uses, in load order: (kind, path under node_modules).  Versions are pinned in
# package.json; they are the ones folium 0.20's plugin templates are written for.
MAP_ASSETS: tuple[tuple[str, str], ...] = (
    ("css", "leaflet/dist/leaflet.css"),
    ("css", "leaflet.fullscreen/Control.FullScreen.css"),
    ("css", "leaflet-measure/dist/leaflet-measure.css"),
    ("css", "leaflet-search/dist/leaflet-search.min.css"),
    ("css", "leaflet-minimap/dist/Control.MiniMap.min.css"),
    ("js", "leaflet/dist/leaflet.js"),
    ("js", "leaflet.fullscreen/Control.FullScreen.js"),
    ("js", "leaflet-measure/dist/leaflet-measure.js"),
    ("js", "leaflet-search/dist/leaflet-search.min.js"),
    ("js", "leaflet-minimap/dist/Control.MiniMap.min.js"),
)

_CSS_URL = re.compile(r"url\(\s*(['\"]?)([^)'\"]+)\1\s*\)")
# A script or stylesheet still pointing at the network after inlining: must never happen.
_REMOTE_REF = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*['\"]?(?:https?:)?//", re.I)


class AssetsMissing(KgSpatialError):
    """The npm packages the offline map inlines are not installed."""


def assets_dir() -> Path:
    """node_modules holding the map's packages: $KGSPATIAL_ASSETS_DIR, else the copy a wheel
    carries, else the source tree's (`npm ci`)."""
    configured = os.environ.get("KGSPATIAL_ASSETS_DIR")
    if configured:
        return Path(configured)
    bundled = BUNDLED / "node_modules"
    return bundled if bundled.is_dir() else REPO_ROOT / "node_modules"


def check_assets(base: Path | None = None) -> Path:
    """Fail with the command that fixes it when any asset is missing."""
    base = base or assets_dir()
    missing = [rel for _, rel in MAP_ASSETS if not (base / rel).is_file()]
    if missing:
        shown = f"{', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}"
        raise AssetsMissing(
            f"thiếu thư viện bản đồ trong {base} ({shown}): chạy `npm ci` trong {REPO_ROOT} (hoặc đặt"
            f" KGSPATIAL_ASSETS_DIR là một thư mục node_modules) / map assets missing under {base}: run"
            f" `npm ci` in {REPO_ROOT} (or set KGSPATIAL_ASSETS_DIR to a node_modules folder)"
        )
    return base


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _css_target(ref: str, folder: Path) -> Path | None:
    """The local file a stylesheet's url() names, None for data:, remote or absent ones."""
    ref = ref.strip()
    if ref.startswith(("data:", "#", "http:", "https:", "//")):
        return None
    target = (folder / ref.split("?")[0].split("#")[0]).resolve()
    return target if target.is_file() else None  # absent: e.g. an IE-only behaviour url, harmless


def _inline_css_urls(css: str, folder: Path) -> str:
    """url(images/x.png) -> url(data:...) so the stylesheet needs no file beside it."""

    def repl(match: re.Match) -> str:
        target = _css_target(match.group(2), folder)
        return match.group(0) if target is None else f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(repl, css)


_LICENCE = re.compile(r"^(licen[cs]e|copying)(\.\w+)?$|^package\.json$", re.I)


def bundle_files(base: Path) -> list[str]:
    """Paths under `base` (node_modules) a wheel must carry: every asset, the images its
    stylesheets name, and each package's licence and package.json (Leaflet's BSD licence asks
    that copies keep its notice).  Stdlib only: setup.py imports it at build time."""
    root = check_assets(base).resolve()
    files: set[str] = set()
    for kind, rel in MAP_ASSETS:
        files.add(rel)
        package = root / rel.split("/")[0]
        files.update(f"{package.name}/{p.name}" for p in package.iterdir() if p.is_file() and _LICENCE.match(p.name))
        if kind == "css":
            path = root / rel
            for match in _CSS_URL.finditer(path.read_text(encoding="utf-8")):
                target = _css_target(match.group(2), path.parent)
                if target is not None and target.is_relative_to(root):
                    files.add(target.relative_to(root).as_posix())
    return sorted(files)


@lru_cache(maxsize=4)
def _bundle(base: str) -> tuple[str, str]:
    root = check_assets(Path(base))
    css_parts, js_parts = [], []
    for kind, rel in MAP_ASSETS:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        if kind == "css":
            css_parts.append(f"/* {rel} */\n" + _inline_css_urls(text, path.parent))
        else:
            # '</script' inside a script would end the element early.
            js_parts.append(f"/* {rel} */\n" + text.replace("</script", "<\\/script"))
    return "\n".join(css_parts), "\n;\n".join(js_parts)


def inline_head() -> str:
    """The <style> and <script> elements to put in the map's <head>."""
    css, js = _bundle(str(assets_dir()))
    return f"<style>\n{css}\n</style>\n<script>\n{js}\n</script>"


def assert_offline(html: str) -> None:
    """Refuse to write a map that would fetch a script or stylesheet from the network."""
    match = _REMOTE_REF.search(html)
    if match:
        raise KgSpatialError.say(
            f"bản đồ sẽ tải tài nguyên từ mạng ({match.group(0)[:80]}...): không ghi tệp",
            f"map would load a remote asset ({match.group(0)[:80]}...): refusing to write it",
        )
