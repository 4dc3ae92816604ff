"""GDAL's OAPIF driver (what QGIS uses) against a live server on localhost, with the key as the
password of HTTP Basic: it connects, pages with the advertised limit, and each conflict
collection holds one geometry type.

The client runs in a subprocess: the service process has cut its own GDAL off the network
(kgspatial.untrusted.lock_down_gdal), as it should.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

uvicorn = pytest.importorskip("uvicorn")

CLIENT = textwrap.dedent("""
    import json, sys
    import pyogrio
    url, password = sys.argv[1], sys.argv[2]
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": "qgis:" + password})
    out = {}
    for name, _ in pyogrio.list_layers("OAPIF:" + url):
        frame = pyogrio.read_dataframe("OAPIF:" + url, layer=name)
        info = pyogrio.read_info("OAPIF:" + url, layer=name)
        frame = frame.to_crs("EPSG:9207")
        out[name] = {"n": len(frame), "types": sorted(set(frame.geom_type.dropna())),
                     "declared": info["geometry_type"], "area": float(frame.area.sum()),
                     "length": float(frame.length.sum())}
    print(json.dumps(out))
""")


class Counting:
    """The app, counting the requests to each collection's items."""

    def __init__(self, app):
        self.app, self.items = app, {}

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and path.endswith("/items"):
            cid = path.split("/")[-2]
            self.items.setdefault(cid, []).append(scope.get("query_string", b"").decode())
        await self.app(scope, receive, send)


@pytest.fixture()
def live(api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    counting = Counting(api.client.app)
    server = uvicorn.Server(uvicorn.Config(counting, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}/ogc", counting
    server.should_exit = True
    thread.join(10)


def test_gdal_oapif_reads_with_basic_auth(api, scene, live):
    url, counting = live
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    run = subprocess.run(
        [sys.executable, "-c", CLIENT, url, api.keys["viewer"]], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    cid = check["id"]
    assert set(got) == {
        f"master-{scene['master']}",
        f"plan-{scene['plan']}",
        f"conflicts-{cid}-polygons",
        f"conflicts-{cid}-lines",
    }
    # tests/geoms.py by hand: the master is 3 zones of 10000 + 10000 + 20000 m²; polygon pieces
    # 2500 + 2500 + 800 (conflicts) + 3600 (conditional) m²; line pieces 90 + 90 m. Served in
    # WGS 84 at 1e-7°, read back in VN-2000: within 0.5 m² and 0.01 m.
    master = got[f"master-{scene['master']}"]
    assert master["n"] == 3 and master["area"] == pytest.approx(40_000, abs=0.5)
    polygons, lines = got[f"conflicts-{cid}-polygons"], got[f"conflicts-{cid}-lines"]
    assert polygons["n"] == 4 and polygons["area"] == pytest.approx(9_400, abs=0.5)
    assert polygons["types"] == ["Polygon"] and "Polygon" in polygons["declared"]
    assert lines["n"] == 2 and lines["length"] == pytest.approx(180, abs=0.01)
    assert lines["types"] == ["LineString"] and "LineString" in lines["declared"]
    # GDAL reads each collection in one page of the advertised default limit (1000), not 10 at a
    # time; its other requests (limit=20) only establish the fields.
    for name, queries in counting.items.items():
        assert queries.count("limit=1000") == 1, (name, queries)
        assert all(q in ("limit=20", "limit=1000") for q in queries), (name, queries)
