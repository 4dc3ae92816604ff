"""Every hostile corpus entry through the upload routes, on the embedded store and on PostGIS.

Refused: a 4xx whose JSON "detail" is one line naming the file and no path of this machine.
Accepted: 201 with the features read, then a check that succeeds with the conflict area the
generator worked out, its conflicts and OGC items readable. Never a 500; the registry answers
after every entry; no line of /etc/passwd in any answer; no request to the HTTP trap. One
service per store for the module (the corpus's master plan and rules uploaded once).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import Settings, create_app
from tests.api.conftest import STORES, Api
from tests.conftest import REPO


@dataclass
class Service:
    api: Api
    store: str
    master: str
    rules: str
    plan: str  # the clean plan, checked with each rules table


@pytest.fixture(scope="module", params=STORES)
def service(request, corpus_dir, tmp_path_factory):
    values = {
        "data_dir": tmp_path_factory.mktemp(f"svc-{request.param}") / "data",
        "job_poll_seconds": 0.05,
        "job_lease_seconds": 5,
    }
    if request.param == "postgis":
        values["database_url"] = request.getfixturevalue("pg_cluster").new_database()
    app = create_app(Settings(**values))
    with TestClient(app, raise_server_exceptions=False) as client:
        store = app.state.store
        keys = {who: store.create_key(who, who)[1] for who in ("admin", "planner")}
        api = Api(client, keys, app.state.settings)
        ids = []
        for route, name, who, extra in (
            ("masters", "master.gpkg", "admin", {}),
            ("rules", "rules_ok.csv", "admin", {}),
            ("plans", "ok.gpkg", "planner", {"plan_type": "urban_general"}),
        ):
            r = api.upload(route, corpus_dir / name, who, name=name, **extra)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        yield Service(api, request.param, *ids)


def server_paths(svc: Service, corpus_dir: Path) -> tuple[str, ...]:
    tmp = tempfile.gettempdir()
    return (
        str(svc.api.settings.data_dir),
        str(corpus_dir),
        str(REPO),
        sys.prefix,
        "site-packages",
        f"{tmp}/pytest",
        f"{tmp}/kgspatial",
        "/vsizip",
        "/vsicurl",
        "/vsimem",
    )


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


ISOLATED = """
import json, sys
from fastapi.testclient import TestClient
from api import Settings, create_app
settings = Settings(**json.loads(sys.argv[1]))
app = create_app(settings)
with TestClient(app, raise_server_exceptions=False) as client:
    key = app.state.store.create_key("planner", "planner")[1]
    with open(sys.argv[2], "rb") as f:
        r = client.post("/api/v1/plans", headers={"Authorization": f"Bearer {key}"},
                        files={"file": (sys.argv[3], f)}, data={"name": "x", "plan_type": "urban_general"})
    print(json.dumps({"status": r.status_code, "text": r.text}))
"""


def upload_isolated(svc: Service, request, path: Path, filename: str, tmp_path: Path) -> tuple[int | None, str]:
    """Upload in a service of its own, in a subprocess killed after 60 s: a hung read cannot be
    abandoned inside this process, and would burn a core until the session ends."""
    values = {"data_dir": str(tmp_path / "data")}
    if svc.store == "postgis":
        values["database_url"] = request.getfixturevalue("pg_cluster").new_database()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", ISOLATED, json.dumps(values), str(path), filename],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limits,
        )
    except subprocess.TimeoutExpired:
        return None, "hung: no answer in 60 s"
    if proc.returncode != 0:
        return None, f"the service process died (exit {proc.returncode}): {proc.stderr[-1500:]}"
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer["status"], answer["text"]


def test_entry_through_the_api(service, entry, corpus_dir, trap_requests, passwd_lines, request, tmp_path):
    api = service.api
    seen: list[str] = []
    before = len(trap_requests)
    path = corpus_dir / entry.name
    filename = entry.upload_name or entry.name
    if entry.isolate:
        status, text = upload_isolated(service, request, path, filename, tmp_path)
        assert status is not None, text
    else:
        if entry.kind == "rules":
            r = api.upload("rules", path, "admin", filename=filename, name=entry.name)
        else:
            fields = {"assume_crs": entry.assume_crs} if entry.assume_crs else {}
            r = api.upload(
                "plans", path, "planner", filename=filename, name=entry.name, plan_type="urban_general", **fields
            )
        status, text = r.status_code, r.text
    seen.append(text)
    try:
        assert status == 201 or 400 <= status < 500, f"status {status}: {text[:1500]}"
        body = json.loads(text)
        if entry.expected("api") == "refused":
            assert 400 <= status < 500, f"expected a refusal, got {status}: {text[:800]}"
            detail = body.get("detail")
            assert isinstance(detail, str) and detail.strip() and "\n" not in detail, f"detail: {detail!r}"
            if entry.upload_name is None:
                assert entry.name in detail, f"does not name {entry.name}: {detail}"
            leaked = [p for p in server_paths(service, corpus_dir) if p in detail]
            assert not leaked, f"server path {leaked} in: {detail}"
        else:
            assert status == 201, f"expected 201, got {status}: {text[:800]}"
            if entry.kind == "rules":
                assert body["rule_count"] == 2
                plan_id, rules_id = service.plan, body["id"]
            else:
                assert body["feature_count"] == entry.features
                plan_id, rules_id = body["id"], service.rules
            r = api.post(
                "/api/v1/checks",
                "planner",
                json={"plan_id": plan_id, "master_id": service.master, "rules_id": rules_id},
            )
            seen.append(r.text)
            assert r.status_code == 202, r.text
            done = api.wait(r.json()["id"], "planner", timeout=60)
            seen.append(json.dumps(done, ensure_ascii=False))
            assert done["status"] == "successful", f"check {done['status']}: {done.get('reason') or done}"
            assert done["summary"]["totals"]["conflict_area_m2"] == pytest.approx(entry.area, rel=1e-6)
            r = api.get(f"/api/v1/checks/{done['id']}/conflicts", "planner")
            seen.append(r.text)
            assert r.status_code == 200, r.text
            labels = {f["properties"]["plan_label"] for f in r.json()["features"]}
            if entry.label and entry.kind == "plan":
                assert labels == {entry.label}
            if entry.kind == "plan":
                r = api.get(f"/ogc/collections/plan-{plan_id}/items", "planner", params={"limit": 100})
                seen.append(r.text)
                assert r.status_code == 200, r.text[:800]
    finally:
        r = api.get("/api/v1/plans", "planner")
        assert r.status_code == 200 and isinstance(r.json().get("items"), list), (
            f"registry: {r.status_code} {r.text[:500]}"
        )
        everything = "\n".join(seen)
        assert not [line for line in passwd_lines if line in everything], "/etc/passwd leaked"
        if entry.trap:
            assert trap_requests[before:] == [], f"GDAL fetched {trap_requests[before:]} from the trap"
