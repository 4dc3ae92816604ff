"""The planner's and the viewer's journeys through the web pages in Chromium at 1366 × 768, against
a live server on localhost with every other origin refused (an intranet with no internet).

Debian's chromium driven by Playwright, as tests/test_browser.py does. Hand-worked figures as in
tests/api/test_pages.py: 4 conflict pieces 0,5800 ha and 2 conditional 0,3600 ha; 4 of the 6
pieces are of high severity; the GeoPackage holds 9400 m² of pieces.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pyogrio
import pytest

from tests.test_browser import ARGS, CHROMIUM

uvicorn = pytest.importorskip("uvicorn")
pytestmark = [pytest.mark.needs_system, pytest.mark.parametrize("store_kind", ["embedded"])]
VIEWPORT = {"width": 1366, "height": 768}
SHOTS = os.environ.get("KGSPATIAL_KEEP_SCREENSHOT_DIR")  # for a human look at the pages


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        from tests.conftest import require_system

        require_system("Chromium", "apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def live(api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(api.client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Visit:
    """A browser context (its own cookies) with other origins refused and errors recorded."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.urls: list[str] = []
        self.context.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        self.urls.append(url)
        if url.startswith((self.base, "data:", "about:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)

    def signin(self, key: str) -> None:
        self.page.goto(self.base + "/")
        self.page.fill("input[name=key]", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()


def test_planner_journey_in_chromium(browser, live, api, scene, scene_files, tmp_path):
    v = Visit(browser, live)
    v.signin(api.keys["planner"])
    assert v.page.url == live + "/plans"
    assert v.page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the key
    assert v.page.evaluate("localStorage.length + sessionStorage.length") == 0
    v.page.click("text=Tải lên quy hoạch")
    v.page.set_input_files("input[name=file]", str(scene_files / "plan.gpkg"))
    v.page.fill("input[name=name]", "Quy hoạch chung Rạch Giá")
    v.page.select_option("select[name=plan_type]", label="Quy hoạch chung đô thị")
    v.page.fill("input[name=decision]", "1234/QĐ-UBND")
    v.page.fill("input[name=approved]", "2019-05-10")
    v.page.fill("input[name=authority]", "UBND tỉnh Kiên Giang")
    v.page.fill("input[name=assume_crs]", "EPSG:9208")  # the file declares EPSG:9207: a warning to read
    v.shot("1-upload")
    v.page.click("form.card button[type=submit]")
    v.page.wait_for_selector("#warnings")
    assert "Đã tải lên." in v.page.inner_text("main")
    assert "assume_crs EPSG:9208 ignored" in v.page.inner_text("#warnings")
    v.shot("2-plan")
    v.page.click("text=Bắt đầu kiểm tra >> xpath=ancestor-or-self::button")
    v.page.wait_for_selector("#status")
    assert "/checks/" in v.page.url
    v.page.wait_for_selector('#status[data-status="successful"]', timeout=90_000)  # the page refreshes itself
    totals = v.page.inner_text("#totals")
    assert "0,5800 ha" in totals and "0,3600 ha" in totals
    assert v.page.locator("#conflicts tbody tr").count() == 6
    # the map in its frame: every piece drawn, the legend folded at this size, a metric scale only
    frame = v.page.frame_locator("iframe.map")
    v.page.locator("iframe.map").scroll_into_view_if_needed()
    handle = v.page.wait_for_selector("iframe.map").content_frame()
    handle.wait_for_function("window.kgspatial !== undefined && window.L !== undefined", timeout=30_000)
    drawn = handle.evaluate("document.querySelectorAll('path.kg-conflict').length")
    assert drawn == 6
    assert handle.evaluate("document.querySelector('.kg-legend details').open") is False
    assert frame.locator(".leaflet-control-scale-line").count() == 1
    v.shot("3-check")
    # filter to high severity: the 4 pieces of R01/R02
    v.page.select_option("select[name=severity]", label="Cao")
    v.page.click("form.filters button[type=submit]")
    v.page.wait_for_load_state()
    assert v.page.locator("#conflicts tbody tr").count() == 4
    assert "Đang hiện 1–4 trên 4 mảnh" in v.page.inner_text("#shown")
    # downloads open without the planner handling the key
    with v.page.expect_download() as info:
        v.page.click("text=GeoPackage")
    path = tmp_path / "conflicts.gpkg"
    info.value.save_as(path)
    frame_gpkg = pyogrio.read_dataframe(path)
    assert len(frame_gpkg) == 6 and frame_gpkg.geometry.area.sum() == pytest.approx(9400, abs=1e-6)
    with v.page.expect_download() as info:
        v.page.click("text=Báo cáo XLSX")
    assert info.value.suggested_filename.endswith(".xlsx")
    assert not [u for u in v.urls if api.keys["planner"] in u]
    assert v.external == []
    assert v.errors == []  # no script error, no Content-Security-Policy violation
    v.context.close()


def test_viewer_reads_everything_and_changes_nothing(browser, live, api, scene):
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    v = Visit(browser, live)
    v.signin(api.keys["viewer"])
    assert v.page.url == live + "/plans"
    assert "QHC Rạch Giá" in v.page.inner_text("#plans")
    assert v.page.locator("text=Tải lên quy hoạch").count() == 0
    v.page.click("text=QHC Rạch Giá")
    assert v.page.locator("text=Bắt đầu kiểm tra").count() == 0
    v.page.click(f"a[href='/checks/{check['id']}']")
    v.page.wait_for_selector('#status[data-status="successful"]')
    assert v.page.locator("#conflicts tbody tr").count() == 6
    v.page.click("text=English")
    assert "Conflict pieces" in v.page.inner_text("main") and "0.5800 ha" in v.page.inner_text("#totals")
    v.shot("4-viewer-en")
    response = v.page.goto(live + "/admin")
    assert response.status == 403 and "Không thực hiện được" in v.page.inner_text("h1")
    assert v.external == []
    assert [e for e in v.errors if "status of 403" not in e] == []  # the refused page itself is logged
    v.context.close()
