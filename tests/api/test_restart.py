"""A job accepted is never lost: `kgspatial serve` killed (SIGKILL) mid-job and started again
finishes the job, or marks it failed with the reason; never leaves it `running`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest

from tests import geoms

KGSPATIAL = [sys.executable, "-m", "kgspatial"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, settings, workers: int, log: Path, lease: float = 2):
        self.port = _port()
        env = {**os.environ, "KGSPATIAL_JOB_LEASE_SECONDS": str(lease), "KGSPATIAL_JOB_POLL_SECONDS": "0.2"}
        if settings.database_url:
            env["KGSPATIAL_DATABASE_URL"] = settings.database_url
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                *KGSPATIAL,
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(settings.data_dir),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)
        raise AssertionError("server did not start: " + log.read_text(errors="replace"))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _key(settings, role: str) -> str:
    env = dict(os.environ)
    if settings.database_url:
        env["KGSPATIAL_DATABASE_URL"] = settings.database_url
    out = subprocess.run(
        [*KGSPATIAL, "keys", "create", "--role", role, "--name", f"thử {role}", "--data-dir", str(settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip()
    assert key.startswith("kgs_") and "\n" not in key
    return key


def _big_plan(path: Path) -> None:
    """22 500 small squares over the scene: a check of a few seconds, long enough to be killed in."""
    xs = np.linspace(0, 199, 151)[:-1]
    boxes = [geoms.box(x, y, x + 1.2, y + 1.2) for x in xs for y in xs]
    codes = np.where(np.arange(len(boxes)) % 2 == 0, "ODT", "SKK")
    gpd.GeoDataFrame({"ma": codes}, geometry=boxes, crs=geoms.CRS).to_file(path)


def _status(client: httpx.Client, check_id: str) -> dict:
    return client.get(f"/api/v1/checks/{check_id}").json()


def _wait(client, check_id, statuses, timeout=120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = _status(client, check_id)
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"check {check_id} still {body['status']} after {timeout} s")


def _upload(client, route, path, **fields):
    with open(path, "rb") as f:
        r = client.post(f"/api/v1/{route}", files={"file": (path.name, f)}, data=fields)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.slow
def test_server_killed_mid_job_finishes_it_after_restart(make_settings, tmp_path, scene_files):
    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    admin = _key(settings, "admin")
    _big_plan(tmp_path / "big.gpkg")
    log = tmp_path / "server.log"

    # 1. Killed while the job is running.
    server = Server(settings, workers=1, log=log)
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
        _upload(client, "masters", scene_files / "master.gpkg", name="QH tỉnh")
        plan = _upload(client, "plans", tmp_path / "big.gpkg", name="Lưới ô", plan_type="rural")
        check = client.post("/api/v1/checks", json={"plan_id": plan}).json()["id"]
        running = _wait(client, check, ("running", "successful", "failed"))
        server.kill()
    finally:
        server.stop()
    assert running["status"] == "running", running  # killed mid-job, not after it

    # 2. Killed with a second job still queued (a server that runs no jobs accepted it).
    server = Server(settings, workers=0, log=log)
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
        small = _upload(client, "plans", scene_files / "plan.gpkg", name="QHC", plan_type="urban_general")
        queued = client.post("/api/v1/checks", json={"plan_id": small}).json()["id"]
        orphan = _status(client, check)
        # still `running` until its 2 s lease runs out, then requeued by this server (which runs nothing)
        assert orphan["status"] in ("running", "accepted"), orphan
        if orphan["status"] == "accepted":
            assert "restarted" in orphan["reason"]
        server.kill()
    finally:
        server.stop()

    # 3. A new server finishes both.
    server = Server(settings, workers=1, log=log)
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
        first = _wait(client, check, ("successful", "failed"))
        second = _wait(client, queued, ("successful", "failed"))
    finally:
        server.stop()
    assert first["status"] == "successful", first
    assert first["attempts"] == 2  # run again from the start
    # every ODT square on LUC is a conflict (R01 of the profile's rules does not apply: default rules)
    assert first["summary"]["by_plan"][0]["plan_id"] == plan
    assert second["status"] == "successful", second
    assert second["attempts"] == 1


def test_job_that_keeps_dying_is_failed_with_a_reason(make_settings):
    """After job_max_attempts runs the job is failed with the reason, not requeued for ever."""
    from api.store import open_store

    settings = make_settings()
    store = open_store(settings, ())
    try:
        from api.store.sql import checks, layers, now_iso

        with store.engine.begin() as conn:
            conn.execute(layers.insert().values(id="p1", kind="plan", name="p", created_at=now_iso()))
        job = store.create_check({"plan_id": "p1", "master_id": "m1", "min_area": 1.0})
        for attempt in (1, 2):
            assert store.claim_next("w")["attempts"] == attempt
            with store.engine.begin() as conn:  # the worker died: its heartbeat stops
                conn.execute(checks.update().values(heartbeat=time.time() - 100))
            changed = store.recover_stale(lease_seconds=10, max_attempts=2)
            assert [c["id"] for c in changed] == [job["id"]]
        final = store.get_check(job["id"])
        assert final["status"] == "failed"
        assert "server restarted during the job" in final["reason"]
        assert store.claim_next("w") is None
    finally:
        store.close()
