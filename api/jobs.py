"""Check jobs: run in worker threads owned by the app, durable through the store.

The store is the queue: a job is a row, workers claim the oldest `accepted` row atomically, beat
a heartbeat while they run it and write the result before marking it `successful`.  A worker
that dies (server killed, machine restarted) stops beating; any server on the same store then
requeues the job, or marks it failed with the reason after `job_max_attempts` runs, so a job
accepted is never lost and never left `running` for ever. A worker's id names its process
(api.owner): a server started on the machine where the dead one ran requeues its jobs at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
import threading
import traceback
import uuid
from contextlib import ExitStack
from pathlib import Path

from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.errors import KgSpatialError

from . import owner
from .settings import Settings
from .store.base import NotFound, Store
from .wording import for_api

log = logging.getLogger("kgspatial.api.jobs")


class Dismissed(Exception):
    """Raised from the progress callback when the job was dismissed: stops the check early."""


class JobRunner:
    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.worker_id = f"{owner.me()}/{socket.gethostname()}/{uuid.uuid4().hex[:6]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, str] = {}  # check id -> last progress message
        self._lock = threading.Lock()

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        beat = threading.Thread(target=self._beat_loop, name="kgspatial-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)
        for n in range(self.settings.workers):
            t = threading.Thread(target=self._work_loop, name=f"kgspatial-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; a job still running is finished by a later server (its lease expires)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    # -- loops -----------------------------------------------------------------------------
    def _beat_loop(self) -> None:
        interval = max(0.2, self.settings.job_lease_seconds / 4)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    running = dict(self._running)
                self.store.heartbeat(list(running), running)
                if self._recover():
                    self._wake.set()
            except Exception:  # noqa: BLE001  (a store hiccup must not end the heartbeat)
                log.exception("heartbeat failed")

    def _recover(self) -> list[dict]:
        return self.store.recover_stale(
            self.settings.job_lease_seconds,
            self.settings.job_max_attempts,
            dead=lambda worker: owner.dead((worker or "").split("/")[0]),
        )

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim_next(self.worker_id)
            except Exception:  # noqa: BLE001
                log.exception("cannot claim a job")
                job = None
            if job is None:
                self._wake.wait(self.settings.job_poll_seconds)
                self._wake.clear()
                continue
            self.run(job)

    # -- one job ---------------------------------------------------------------------------
    def run(self, job: dict) -> None:
        check_id = job["id"]
        with self._lock:
            self._running[check_id] = "bắt đầu / starting"

        def progress(message: str) -> None:
            with self._lock:
                self._running[check_id] = message
            if self.store.is_dismissed(check_id):
                raise Dismissed(check_id)

        labels: dict[str, str] = {}
        try:
            with ExitStack() as stack:
                opts = self._options(job, stack)
                labels = self._labels(job, opts)
                result = run_check(opts, progress=progress)
                _hide_paths(result.summary, labels)
                progress("lưu kết quả / saving results")
                self.store.finish_check(check_id, result)
        except Dismissed:
            log.info("check %s dismissed while running", check_id)
        except NotFound as exc:
            self.store.fail_check(check_id, f"an input was deleted before the check ran: {exc}")
        except KgSpatialError as exc:
            self.store.fail_check(check_id, for_api(str(exc), labels))
        except Exception as exc:  # noqa: BLE001  (the job fails with a reason; the worker goes on)
            log.error("check %s failed:\n%s", check_id, traceback.format_exc())
            self.store.fail_check(check_id, f"lỗi nội bộ / internal error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.pop(check_id, None)

    def _labels(self, job: dict, opts: CheckOptions) -> dict[str, str]:
        """Server paths of this job's inputs -> the registry names users know them by."""
        labels = {opts.plans[0].path: f"plan {job['plan_id']}", opts.master: f"master {job['master_id']}"}
        if opts.admin is not None:
            labels[opts.admin.path] = f"admin-units {job['admin_id']}"
        if opts.admin_previous is not None:
            labels[opts.admin_previous.path] = f"admin-units {job['admin_prev_id']} (pre-2025)"
        if opts.rules:
            labels[opts.rules] = f"rules {job['rules_id']}"
        for parent in opts.parents.values():
            labels[parent.path] = f"plan {parent.plan_id}"
        return labels

    def _options(self, job: dict, stack: ExitStack) -> CheckOptions:
        store = self.store
        plan = store.get_layer(job["plan_id"], "plan")
        master = store.get_layer(job["master_id"], "master")
        opts = CheckOptions(
            master=str(stack.enter_context(store.layer_file(master["id"]))),
            plans=[
                PlanInput(
                    path=str(stack.enter_context(store.layer_file(plan["id"]))),
                    plan_id=plan["id"],
                    code_field=plan["code_field"],
                    label_field=plan["label_field"],
                    id_field=plan["id_field"],
                )
            ],
            master_field=master["code_field"],
            master_label_field=master["label_field"],
            master_id_field=master["id_field"],
            min_area=job["min_area"],
            profile=self.settings.profile,
        )
        # CONTRACT §7: a plan with a parent is checked against the parent's zones too (the parent
        # it had when the check was asked for: its inputs name it).
        inputs = job.get("inputs") or {}
        parent_id = inputs.get("parent_id") if "parent_id" in inputs else plan.get("parent")
        if parent_id:
            parent = store.get_layer(parent_id, "plan")
            opts.parents = {
                plan["id"]: PlanInput(
                    path=str(stack.enter_context(store.layer_file(parent["id"]))),
                    plan_id=parent["id"],
                    code_field=parent["code_field"],
                    label_field=parent["label_field"],
                    id_field=parent["id_field"],
                )
            }
        exceptions = store.list_exceptions([plan["id"]])
        if exceptions:  # CONTRACT §10, judged on the day the check was asked for (its inputs say which)
            from .register import plan_exceptions, today

            opts.exceptions = plan_exceptions(exceptions)
            opts.on = dt.date.fromisoformat(inputs["on"]) if inputs.get("on") else today()
        if job.get("admin_id"):
            admin = store.get_layer(job["admin_id"], "admin")
            opts.admin = AdminInput(
                str(stack.enter_context(store.layer_file(admin["id"]))), admin["code_field"], admin["name_field"]
            )
        if job.get("admin_prev_id"):
            prev = store.get_layer(job["admin_prev_id"], "admin_prev")
            opts.admin_previous = AdminInput(
                str(stack.enter_context(store.layer_file(prev["id"]))), prev["code_field"], prev["name_field"]
            )
        if job.get("rules_id"):
            rules = store.get_rules(job["rules_id"], with_content=True)
            tmp = owner.scratch_folder(self.settings.data_dir / "tmp", "rules")
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
            path = tmp / (rules.get("filename") or "rules.csv")
            path.write_bytes(rules["content"])
            opts.rules = str(path)
        return opts


def _hide_paths(summary: dict, labels: dict[str, str]) -> None:
    """The summary a user gets names inputs by registry id, never by a path on the server."""
    inputs = summary.get("inputs", {})
    for entry in [inputs.get("master"), inputs.get("admin"), inputs.get("admin_previous"), *inputs.get("plans", [])]:
        if entry and "path" in entry:
            entry["path"] = labels.get(entry["path"], Path(entry["path"]).name)
    rules = summary.get("rules", {})
    if "path" in rules:
        rules["path"] = labels.get(rules["path"], "rules (profile default)")
    warnings = summary.get("warnings", [])
    for i, text in enumerate(warnings):
        for path, label in labels.items():
            text = text.replace(path, label)
        warnings[i] = text
