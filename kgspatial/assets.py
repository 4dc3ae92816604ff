"""Leaflet and its plugins, read from node_modules so map.html works with no internet.

Government intranets cannot reach a CDN, so every script and stylesheet the map needs is inlined
into the file.  The sources come from npm packages pinned in the repository's package.json and
installed by `npm ci` (never committed); images a stylesheet refers to become data: URIs.
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
    """node_modules holding the map's packages: $KGSPATIAL_ASSETS_DIR, else the repository's."""
    configured = os.environ.get("KGSPATIAL_ASSETS_DIR")
    return Path(configured) if configured else REPO_ROOT / "node_modules"


def check_assets(base: Path | None = None) -> Path:
    """Fail with the command that fixes it when any asset is missing."""
    base = base or assets_dir()
    missing = [rel for _, rel in MAP_ASSETS if not (base / rel).is_file()]
    if missing:
        raise AssetsMissing(
            f"map assets missing under {base} ({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): "
            f"run `npm ci` in {REPO_ROOT} (or set KGSPATIAL_ASSETS_DIR to a node_modules folder) / "
            "thiếu thư viện bản đồ: chạy `npm ci`"
        )
    return base


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css_urls(css: str, folder: Path) -> str:
    """url(images/x.png) -> url(data:...) so the stylesheet needs no file beside it."""

    def repl(match: re.Match) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:", "//")):
            return match.group(0)
        target = (folder / ref.split("?")[0].split("#")[0]).resolve()
        if not target.is_file():
            return match.group(0)  # e.g. an IE-only behaviour url; harmless offline
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(repl, css)


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
        raise KgSpatialError(f"map would load a remote asset ({match.group(0)[:80]}...): refusing to write it")
