"""A killed server is recovered from at once, and leaves nothing behind.

Unit tests: a job or an upload folder held by a dead process of this machine is reclaimed when a
server starts, not after the lease; one held by a live process, or by another machine, is not.
The fault test: `kgspatial serve` is SIGKILLed in the middle of uploads (body half sent, file
received, layer half written) and of checks, on both stores; after restarts every accepted job
ends successful or failed with a reason, no feature row, result or scratch folder is orphaned
and the store is intact. The recovery times are printed (pytest -s) for the record.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api import create_app, owner
from api.jobs import JobRunner
from api.store import open_store
from api.store.sql import checks, layers, now_iso
from tests.api.test_restart import Server, _big_plan, _key, _upload, _wait


def _dead_holder() -> str:
    """The owner stamp of a process of this machine that has exited (and been reaped)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api import owner; print(owner.me())"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    holder = proc.communicate(timeout=60)[0].strip()
    assert holder.startswith(owner.machine() + "-"), holder
    return holder


def _running_job(store, worker: str) -> str:
    """A job claimed by `worker` whose heartbeat is fresh (its lease has not run out)."""
    with store.engine.begin() as conn:
        conn.execute(layers.insert().values(id="p1", kind="plan", name="p", created_at=now_iso()))
    job = store.create_check({"plan_id": "p1", "master_id": "m1", "min_area": 1.0})
    assert store.claim_next(worker)["id"] == job["id"]
    return job["id"]


def test_job_of_a_dead_process_is_requeued_when_a_server_starts(make_settings):
    settings = make_settings(job_lease_seconds=60, workers=0)
    store = open_store(settings, ())
    try:
        dead = _running_job(store, f"{_dead_holder()}/host/abc123")
        with store.engine.begin() as conn:  # a second job, of this live process: left alone
            conn.execute(layers.insert().values(id="p2", kind="plan", name="p", created_at=now_iso()))
        alive = store.create_check({"plan_id": "p2", "master_id": "m1", "min_area": 1.0})["id"]
        assert store.claim_next(f"{owner.me()}/host/def456")["id"] == alive
        runner = JobRunner(store, settings)
        runner.start()
        runner.stop()
        requeued = store.get_check(dead)
        assert requeued["status"] == "accepted" and "restarted" in requeued["reason"]
        assert store.get_check(alive)["status"] == "running"
    finally:
        store.close()


def test_job_of_another_machine_waits_for_its_lease(make_settings):
    settings = make_settings(job_lease_seconds=60, workers=0)
    store = open_store(settings, ())
    try:
        job = _running_job(store, "0123456789ab-4242-99/elsewhere/abc123")  # another machine's pid 4242
        JobRunner(store, settings)._recover()
        assert store.get_check(job)["status"] == "running"
        with store.engine.begin() as conn:  # its heartbeat lapses: then it is requeued
            conn.execute(checks.update().values(heartbeat=time.time() - 61))
        JobRunner(store, settings)._recover()
        assert store.get_check(job)["status"] == "accepted"
    finally:
        store.close()


def test_upload_folders_no_live_process_holds_are_swept_at_start(make_settings):
    settings = make_settings()
    tmp = settings.data_dir / "tmp"
    tmp.mkdir(parents=True)
    holder = _dead_holder()
    dead = [tmp / f"{kind}-{holder}-{uuid.uuid4().hex[:8]}" for kind in ("upload", "layer", "rules")]
    live = owner.scratch_folder(tmp, "upload")
    foreign = tmp / f"upload-0123456789ab-4242-99-{uuid.uuid4().hex}"  # another machine: its upload may run
    for folder in (*dead, live, foreign):
        folder.mkdir(exist_ok=True)
        (folder / "plan.zip").write_bytes(b"x" * 1000)
    with TestClient(create_app(settings)):
        assert not any(folder.exists() for folder in dead)
        assert live.exists() and foreign.exists()


# -- the fault test ---------------------------------------------------------------------------


def _multipart(path: Path, fields: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return (
        head + part + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


class Sender(threading.Thread):
    """Posts an upload in the background; with `stall_at`, stops sending after that many bytes."""

    def __init__(self, server: Server, key: str, path: Path, stall_at: int | None = None):
        super().__init__(daemon=True)
        self.body, self.ctype = _multipart(path, {"name": "Bị cắt", "plan_type": "rural"})
        self.url, self.key, self.stall_at = server.url + "/api/v1/plans", key, stall_at
        self.stalled, self.release = threading.Event(), threading.Event()
        self.status = None
        self.error = ""

    def _chunks(self):
        for i in range(0, len(self.body), 65536):
            if self.stall_at is not None and i >= self.stall_at:
                self.stalled.set()
                self.release.wait(120)
                return
            yield self.body[i : i + 65536]

    def run(self) -> None:
        try:
            self.status = httpx.post(
                self.url,
                content=self._chunks(),
                timeout=120,
                headers={
                    "Authorization": f"Bearer {self.key}",
                    "Content-Type": self.ctype,
                    "Content-Length": str(len(self.body)),
                },
            ).status_code
        except Exception as exc:  # noqa: BLE001  (the connection cut by the kill, whichever layer notices)
            self.status = "cut"
            self.error = f"{type(exc).__name__}: {exc}"


def _until(predicate, what: str, timeout: float = 120, every: float = 0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"never reached: {what}")


class Look:
    """What the store holds, read behind the server's back (SQLite file or PostGIS tables)."""

    def __init__(self, settings):
        self.settings = settings
        self.data = settings.data_dir
        if settings.database_url:
            from api.store.postgis import sqlalchemy_url

            self.engine = sa.create_engine(sqlalchemy_url(settings.database_url), poolclass=sa.pool.NullPool)
        else:
            self.engine = sa.create_engine(f"sqlite:///{self.data / 'kgspatial.sqlite'}", poolclass=sa.pool.NullPool)

    def rows(self, sql: str) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()

    def writing_layer(self) -> bool:
        """A layer's features are being written (not yet committed)."""
        if self.settings.database_url:
            return bool(
                self.rows(
                    "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO layer_features%'"
                )
            )
        return any((self.data / "layers").glob("*.part"))

    def received(self, name: str, size: int) -> bool:
        """An upload's file is in full in its scratch folder, not yet being written to the store."""
        return (
            any(f.stat().st_size == size for f in (self.data / "tmp").glob(f"upload-*/{name}"))
            and not self.writing_layer()
        )

    def scratch(self) -> list[str]:
        return sorted(p.name for p in (self.data / "tmp").glob("*"))

    def orphans(self) -> dict:
        """Everything stored that no record owns, and anything half-written."""
        found = {"scratch": self.scratch()}
        if self.settings.database_url:
            found["layer_features"] = self.rows(
                "SELECT DISTINCT layer_id FROM layer_features f WHERE NOT EXISTS "
                "(SELECT 1 FROM layers l WHERE l.id = f.layer_id)"
            )
            found["conflict_features"] = self.rows(
                "SELECT DISTINCT check_id FROM conflict_features f WHERE NOT EXISTS "
                "(SELECT 1 FROM checks c WHERE c.id = f.check_id AND c.status = 'successful')"
            )
            found["feature_schemas"] = self.rows(
                "SELECT owner_id FROM feature_schemas s WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = s.owner_id)"
                " AND NOT EXISTS (SELECT 1 FROM checks c WHERE c.id = s.owner_id AND c.status = 'successful')"
            )
            found["counts"] = self.rows(  # each layer holds exactly the features its record counts
                "SELECT l.id FROM layers l WHERE l.feature_count <> "
                "(SELECT count(*) FROM layer_features f WHERE f.layer_id = l.id)"
            )
        else:
            ids = {r[0] for r in self.rows("SELECT id FROM layers")}
            done = {r[0] for r in self.rows("SELECT id FROM checks WHERE status = 'successful'")}
            found["layer_dirs"] = sorted(p.name for p in (self.data / "layers").iterdir() if p.name not in ids)
            found["check_dirs"] = sorted(p.name for p in (self.data / "checks").iterdir() if p.name not in done)
            found["missing"] = sorted(i for i in ids if not (self.data / "layers" / i / "layer.parquet").exists())
            with sqlite3.connect(self.data / "kgspatial.sqlite") as db:
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                found["integrity"] = integrity
        return {k: v for k, v in found.items() if v}


@pytest.mark.slow
def test_server_killed_mid_upload_and_mid_job_recovers_at_once_and_leaves_nothing(
    make_settings, store_kind, tmp_path, scene_files
):
    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = _key(settings, "admin")
    look = Look(settings)
    _big_plan(tmp_path / "big.gpkg")
    log = tmp_path / "server.log"
    lease = 60  # the default: recovery must not wait for it
    accepted: list[str] = []

    def start() -> tuple[Server, httpx.Client, float]:
        t0 = time.monotonic()
        server = Server(settings, workers=1, log=log, lease=lease)
        return server, httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60), t0

    # 1. Killed while a check runs, another is queued and an upload's body is half sent.
    server, client, _ = start()
    try:
        _upload(client, "masters", scene_files / "master.gpkg", name="QH tỉnh")
        rules = _upload(client, "rules", scene_files / "rules.csv", name="Quy tắc")
        big = _upload(client, "plans", tmp_path / "big.gpkg", name="Lưới ô", plan_type="rural")
        small = _upload(client, "plans", scene_files / "plan.gpkg", name="QHC", plan_type="urban_general")
        first = client.post("/api/v1/checks", json={"plan_id": big}).json()["id"]
        second = client.post("/api/v1/checks", json={"plan_id": small, "rules_id": rules}).json()["id"]
        accepted += [first, second]
        _wait(client, first, ("running",))
        sender = Sender(server, key, tmp_path / "big.gpkg", stall_at=(tmp_path / "big.gpkg").stat().st_size // 2)
        sender.start()
        _until(
            lambda: sender.stalled.is_set() and any(n.startswith("upload-") for n in look.scratch()),
            "the upload half sent",
        )
        server.kill()
        sender.release.set()
    finally:
        server.stop()
    left = look.scratch()
    assert any(name.startswith("upload-") for name in left), left  # the case under test

    # 2. Restarted: the dead server's job is requeued at once (not after the 60 s lease), its
    #    upload folder is gone. Then killed while a second upload writes its features.
    server, client, t0 = start()
    try:
        started = time.monotonic() - t0
        assert not set(left) & set(look.scratch())  # the new server's own job may have made some
        back = _until(
            lambda: (s := client.get(f"/api/v1/checks/{first}").json())["attempts"] == 2 and s,
            "the first check run again",
            timeout=lease / 3,
            every=0.05,
        )
        reclaimed = time.monotonic() - t0
        assert back["status"] in ("running", "successful"), back
        sender = Sender(server, key, tmp_path / "big.gpkg")
        sender.start()
        _until(lambda: look.writing_layer() or sender.status is not None, "the layer being written")
        assert sender.status is None, (
            f"the upload ended before its features were written: {sender.status} {sender.error}"
        )
        server.kill()
        sender.join(30)
    finally:
        server.stop()
    assert sender.status == "cut", sender.status  # killed before it answered

    # 2b. Killed with an upload's file received in full, while the server reads it.
    server, client, _ = start()
    try:
        sender = Sender(server, key, tmp_path / "big.gpkg")
        sender.start()
        _until(lambda: look.received("big.gpkg", (tmp_path / "big.gpkg").stat().st_size), "the file received")
        server.kill()
        sender.join(30)
    finally:
        server.stop()
    assert sender.status == "cut", sender.status

    # 3. Restarted: every job ends, nothing is orphaned, the store answers as before the kills.
    server, client, t0 = start()
    try:
        ends = {c: _wait(client, c, ("successful", "failed"), timeout=180) for c in accepted}
        finished = time.monotonic() - t0
        plans = client.get("/api/v1/plans").json()
        again = client.post("/api/v1/checks", json={"plan_id": small, "rules_id": rules}).json()["id"]
        third = _wait(client, again, ("successful", "failed"))
    finally:
        server.stop()
    for end in ends.values():
        assert end["status"] == "successful" or end["reason"], end
    # killed mid-run twice (attempts 2 = job_max_attempts) or finished on its second run
    assert ends[first]["status"] == "successful" or "server restarted during the job" in ends[first]["reason"]
    for done in (ends[second], third):
        assert done["status"] == "successful", done
        # hand-computed in tests/geoms.py: P0 2500 m² on LUC + 2500 on RPH, P5 800 on RPH; P4 3600 conditional
        assert done["summary"]["totals"]["conflict_area_m2"] == pytest.approx(5800.0)
        assert done["summary"]["totals"]["conditional_area_m2"] == pytest.approx(3600.0)
    assert sorted(p["id"] for p in plans["items"]) == sorted([big, small])  # the killed uploads left no plan
    assert {p["id"]: p["feature_count"] for p in plans["items"]} == {big: 22500, small: 6}
    assert look.orphans() == {}
    print(
        f"\nRECOVERY {store_kind}: lease {lease} s; server up {started:.1f} s after restart, killed job "
        f"running again {reclaimed:.1f} s after restart; "
        f"all jobs ended {finished:.1f} s after the last restart; first check {ends[first]['status']}"
    )
