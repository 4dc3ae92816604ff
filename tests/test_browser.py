"""map.html in headless Chromium with the network refused: what a GIS officer on an intranet sees.

Debian's chromium is driven by Playwright (executable_path, no downloaded browser).  Every request
that is not file:/data:/about: is aborted and recorded; the test fails if any was attempted.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from kgspatial import crs as crs_mod
from kgspatial import maps
from tests import geoms
from tests.conftest import require_system
from tests.test_maps import build_scene

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.needs_system


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        require_system("Chromium", "apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return build_scene(tmp_path_factory.mktemp("browser"))


class Session:
    """One page with the network cut off, console errors and external requests recorded."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1200, "height": 800})
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri())
        self.page.wait_for_function("window.kgspatial !== undefined && window.L !== undefined")
        self.page.wait_for_timeout(300)  # let Leaflet finish its first paint

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def click_at(self, x: float, y: float) -> str:
        """Click the map at analysis-CRS coordinates (EPSG:9207) and return the popup's text."""
        self.page.evaluate("kgspatial.map.closePopup()")
        # Leaflet fades a closed popup out for 200 ms before removing it, and an opened popup may
        # pan the map: wait for both, or the old popup's text and stale pixels would be read.
        self.page.wait_for_function(
            "!document.querySelector('.leaflet-popup') && kgspatial.map._loaded && !kgspatial.map._animatingZoom"
            " && !(kgspatial.map._panAnim && kgspatial.map._panAnim._inProgress)"
        )
        lon, lat = crs_mod.transformer(geoms.CRS, "EPSG:4326").transform(x, y)
        px = self.page.evaluate(
            """([lat, lon]) => { const m = kgspatial.map, p = m.latLngToContainerPoint([lat, lon]),
                                  r = m.getContainer().getBoundingClientRect();
                                  return [p.x + r.left, p.y + r.top]; }""",
            [lat, lon],
        )
        self.page.mouse.click(*px)
        self.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        return self.page.inner_text(".leaflet-popup-content")


def _drawn_conflicts(page) -> dict:
    """Count conflict pieces through Leaflet's own registry: on the map, with a rendered shape."""
    return page.evaluate("""() => {
        const out = {layers: 0, onMap: 0, rendered: 0, svgPaths: document.querySelectorAll('path.kg-conflict').length,
                     canvas: document.querySelectorAll('canvas.leaflet-zoom-animated').length};
        for (const role of ['conflicts', 'conditional']) {
            const group = kgspatial.layers[role];
            if (!group) continue;
            group.eachLayer(l => {
                out.layers += 1;
                if (l._map === kgspatial.map) out.onMap += 1;
                // SVG: a connected <path> with a non-empty outline; canvas: projected rings/points.
                if ((l._path && l._path.isConnected && l._path.getAttribute('d') && l._path.getAttribute('d') !== 'M0 0')
                    || (l._renderer instanceof L.Canvas && (l._parts ? l._parts.length > 0 : !!l._point))) out.rendered += 1;
            });
        }
        return out;
    }""")


def _not_blank(png: bytes) -> float:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    return float(pixels.std())


def test_map_in_chromium_offline(browser, scene, tmp_path):
    result, admin = scene
    path = maps.write_map(result, tmp_path / "map.html", admin=admin)
    s = Session(browser, path)
    assert s.page.evaluate("typeof L.map") == "function"
    assert s.page.evaluate("L.version") == "1.9.4"
    # Every plugin control is on the page.
    for selector in (
        ".leaflet-control-layers",
        ".leaflet-control-zoom-fullscreen",
        ".leaflet-control-measure",
        ".leaflet-control-search",
        ".leaflet-control-minimap",
        ".kg-legend",
    ):
        assert s.page.query_selector(selector) is not None, selector
    drawn = _drawn_conflicts(s.page)
    n = len(result.conflicts)
    assert n == 9
    assert drawn["layers"] == drawn["onMap"] == drawn["rendered"] == drawn["svgPaths"] == n
    # A click inside KDC-01's piece on LUC in commune A ([50,80]×[25,75], away from the road at
    # y=50) opens its popup, with the master plan's TCVN3 name decoded.
    text = s.click_at(geoms.X0 + 65, geoms.Y0 + 35)
    for expected in (
        "Lúa chuyên canh",
        "LUC – Đất chuyên trồng lúa",
        "ODT – Đất ở tại đô thị",
        "R01 — Luật Đất đai 2024",
        "Xung đột (conflict)",
        "0,1500 ha (1.500 m²)",
        "Phường Vĩnh Thanh (A)",
    ):
        assert expected in text, (expected, text)
    # The transformer station (a point) in the protection forest.
    text = s.click_at(geoms.X0 + 150, geoms.Y0 + 50)
    assert "Trạm biến áp" in text and "Đất rừng phòng hộ" in text and "điểm / point" in text
    png = s.page.screenshot()
    assert _not_blank(png) > 20, "screenshot is (nearly) one colour"
    assert s.errors == []
    assert s.external == []
    s.page.close()


def test_search_ignores_tone_marks(browser, scene, tmp_path):
    result, admin = scene
    s = Session(browser, maps.write_map(result, tmp_path / "search.html", admin=admin))
    s.page.click(".leaflet-control-search .search-button")
    s.page.type(".leaflet-control-search input", "phi thong", delay=30)  # leaflet-search listens to keyup
    s.page.wait_for_selector(".search-tip", timeout=5000)
    tips = s.page.inner_text(".search-tooltip")
    assert "Xã Phi Thông" in tips
    assert s.errors == [] and s.external == []
    s.page.close()


def test_canvas_renderer_draws_every_piece(browser, scene, tmp_path, monkeypatch):
    result, admin = scene
    monkeypatch.setattr(maps, "CANVAS_THRESHOLD", 0)
    s = Session(browser, maps.write_map(result, tmp_path / "canvas.html", admin=admin))
    assert s.page.evaluate("kgspatial.map.options.preferCanvas") is True
    drawn = _drawn_conflicts(s.page)
    assert drawn["svgPaths"] == 0 and drawn["canvas"] >= 1
    assert drawn["layers"] == drawn["onMap"] == drawn["rendered"] == len(result.conflicts)
    text = s.click_at(geoms.X0 + 170, geoms.Y0 + 90)  # SKK on RPH: [150,190]×[80,100], 800 m²
    assert "Cụm công nghiệp" in text and "0,0800 ha (800 m²)" in text and "Luật Lâm nghiệp 2017" in text
    assert _not_blank(s.page.screenshot()) > 20
    assert s.errors == [] and s.external == []
    s.page.close()


def test_tiles_refused_offline_map_still_usable(browser, scene, tmp_path):
    """An office tile server that cannot be reached: tiles fail, the map still works."""
    result, admin = scene
    path = maps.write_map(
        result,
        tmp_path / "tiles.html",
        tiles="http://tiles.intranet.invalid/{z}/{x}/{y}.png",
        attribution="Sở Nông nghiệp và Môi trường",
    )
    s = Session(browser, path)
    assert s.external and all(u.startswith("http://tiles.intranet.invalid/") for u in s.external)
    drawn = _drawn_conflicts(s.page)
    assert drawn["rendered"] == len(result.conflicts)
    assert "Sở Nông nghiệp và Môi trường" in s.page.inner_text(".leaflet-control-attribution")
    # Failed tile loads are network errors, not script errors.
    assert not [e for e in s.errors if e.startswith("pageerror")]
    s.page.close()


if os.environ.get("KGSPATIAL_KEEP_SCREENSHOT"):  # for a human look: KGSPATIAL_KEEP_SCREENSHOT=/tmp/map.png

    def test_keep_screenshot(browser, scene, tmp_path):
        result, admin = scene
        s = Session(browser, maps.write_map(result, tmp_path / "shot.html", admin=admin))
        s.page.screenshot(path=os.environ["KGSPATIAL_KEEP_SCREENSHOT"])
        s.page.close()


def test_uploaded_text_never_runs_as_script(browser, scene, tmp_path):
    """A plan's title, labels and codes come from uploaded files: a planner must not be able to run
    script in a viewer's browser through the map's <title>, tooltips or search list."""
    import dataclasses

    result, admin = scene
    payload = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
    conflicts = result.conflicts.copy()
    conflicts["rule_id"] = conflicts["rule_id"].astype(object)
    conflicts.loc[conflicts.index[0], "rule_id"] = payload
    hostile = dataclasses.replace(result, conflicts=conflicts)
    names = admin.names.copy()
    names[:] = [payload + str(n) for n in names]
    path = maps.write_map(
        hostile,
        tmp_path / "xss.html",
        admin=dataclasses.replace(admin, names=names),
        title="QH </title><script>window.__xss=100</script>",
    )
    s = Session(browser, path)
    assert "QH </title>" in s.page.title()
    shown = s.page.evaluate("""() => { const out = [];
        for (const group of Object.values(kgspatial.layers)) {
            if (!group || !group.eachLayer) continue;
            group.eachLayer(l => { if (l.getTooltip && l.getTooltip()) { l.openTooltip(l.getBounds ? l.getBounds().getCenter() : l.getLatLng());
                                                                       out.push(l.getTooltip().getElement().textContent); l.closeTooltip(); } });
        }
        return out; }""")
    assert any(payload in text for text in shown), shown[:5]
    s.page.click(".leaflet-control-search .search-button")
    s.page.type(".leaflet-control-search input", "phi thong", delay=30)
    s.page.wait_for_selector(".search-tip", timeout=5000)
    assert payload in s.page.inner_text(".search-tooltip")
    s.page.wait_for_timeout(200)
    assert s.page.evaluate("window.__xss") is None
    assert s.page.query_selector(".leaflet-tooltip img, .search-tooltip img") is None
    s.page.close()
