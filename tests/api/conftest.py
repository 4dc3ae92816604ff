"""Fixtures of the API tests: one app per test on the embedded store and on PostGIS, keys for
every role, and the hand-computed scene of tests/geoms.py uploaded through the API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import Settings, create_app
from tests import geoms
from tests.api import pg
from tests.conftest import require_system

STORES = ["embedded", "postgis"]


@pytest.fixture(scope="session")
def pg_cluster():
    if not pg.available():
        require_system("PostGIS", pg.INSTALL_HINT)
    cluster = pg.Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest.fixture()
def make_settings(store_kind, tmp_path, request):
    """Settings for this test's store; a fresh PostGIS database per call on the postgis variant."""

    def make(**overrides) -> Settings:
        values = {"data_dir": tmp_path / "data", "job_poll_seconds": 0.05, "job_lease_seconds": 5}
        if store_kind == "postgis":
            values["database_url"] = request.getfixturevalue("pg_cluster").new_database()
        values.update(overrides)
        return Settings(**values)

    return make


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None

    def h(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, url, who="admin", **kw):
        return self.client.get(url, headers=self.h(who), **kw)

    def post(self, url, who="admin", **kw):
        return self.client.post(url, headers=self.h(who), **kw)

    def delete(self, url, who="admin", **kw):
        return self.client.delete(url, headers=self.h(who), **kw)

    def upload(self, route: str, path: Path, who="admin", filename: str | None = None, **fields):
        with open(path, "rb") as f:
            return self.post(f"/api/v1/{route}", who, files={"file": (filename or path.name, f)}, data=fields)

    def wait(self, check_id: str, who="admin", timeout: float = 60) -> dict:
        end = time.monotonic() + timeout
        while True:
            body = self.get(f"/api/v1/checks/{check_id}", who).json()
            if body["status"] in ("successful", "failed", "dismissed") or time.monotonic() > end:
                return body
            time.sleep(0.05)


@pytest.fixture()
def api(make_settings):
    settings = make_settings()
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        keys = {
            who: store.create_key(who, role)[1]
            for who, role in (("admin", "admin"), ("planner", "planner"), ("planner2", "planner"), ("viewer", "viewer"))
        }
        yield Api(client, keys, settings)


@pytest.fixture(scope="session")
def scene_files(tmp_path_factory) -> Path:
    """The catalogue scene of tests/geoms.py written once as files to upload."""
    root = tmp_path_factory.mktemp("scene")
    geoms.master_frame().to_file(root / "master.gpkg")
    geoms.plan_frame().to_file(root / "plan.gpkg")
    geoms.units_frame().to_file(root / "xa.gpkg")
    (root / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return root


@pytest.fixture()
def scene(api, scene_files):
    """Master plan, units and rules uploaded by the admin; the plan by `planner`."""
    ids = {}
    r = api.upload("masters", scene_files / "master.gpkg", name="Quy hoạch tỉnh Kiên Giang")
    assert r.status_code == 201, r.text
    ids["master"] = r.json()["id"]
    r = api.upload("rules", scene_files / "rules.csv", name="Bảng quy tắc thử")
    assert r.status_code == 201, r.text
    ids["rules"] = r.json()["id"]
    r = api.upload(
        "plans",
        scene_files / "plan.gpkg",
        "planner",
        name="QHC Rạch Giá",
        plan_type="urban_general",
        id_field="so_hieu",
    )
    assert r.status_code == 201, r.text
    ids["plan"] = r.json()["id"]
    return ids
