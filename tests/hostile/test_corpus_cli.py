"""Every hostile corpus entry through `kgspatial check` in a subprocess (CONTRACT §1 exit codes).

Refused: exit 2, one line on stderr naming the file as given and no path of this machine, --out
not created, no staging folder left. Accepted: exit 1 (the corpus plans are all in conflict),
the features read and the conflict area the generator worked out. Never exit 3, a signal or a
hang; never a line of /etc/passwd; never a request to the HTTP trap.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyogrio
import pytest

from tests.conftest import REPO

WORKERS = 2  # the subprocesses of the whole corpus run two at a time, once per session


def server_paths(*dirs: Path) -> tuple[str, ...]:
    """Text that gives away where things live on this machine (member names a user wrote in a
    zip, such as '/tmp/plan.prj', are theirs, not ours; so are the sources a VRT of theirs names,
    /vsicurl/ URLs included: the CLI reads a local user's files)."""
    return (
        *(str(d) for d in dirs),
        str(REPO),
        sys.prefix,
        "site-packages",
        tempfile.gettempdir() + "/pytest",
        tempfile.gettempdir() + "/kgspatial",
        "/vsizip",
        "/vsimem",
    )


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@dataclass
class Run:
    cwd: Path
    returncode: int | None
    stdout: str
    stderr: str
    requests: list[str]
    seconds: float = 0.0


def run_entry(entry, corpus_dir: Path, cwd: Path, trap_requests: list[str]) -> Run:
    """`kgspatial check` on one entry, every argument relative to `cwd` (so the file is named as given)."""
    cwd.mkdir(parents=True)
    shutil.copy(corpus_dir / "master.gpkg", cwd)
    shutil.copy(corpus_dir / entry.name, cwd)
    if entry.kind == "rules":
        shutil.copy(corpus_dir / "ok.gpkg", cwd)
        args = ["--plan", "ok.gpkg", "--rules", entry.name]
    else:
        args = ["--plan", entry.name] + (["--assume-crs", entry.assume_crs] if entry.assume_crs else [])
    env = {**os.environ, "PYTHONPATH": str(REPO), "KGSPATIAL_ENGINE": "pyogrio"}
    cmd = [
        sys.executable,
        "-m",
        "kgspatial",
        "check",
        "--master",
        "master.gpkg",
        "--out",
        "out",
        "-q",
        "--jobs",
        "1",
        *args,
    ]
    before = len(trap_requests)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=60, preexec_fn=_limits
        )
    except subprocess.TimeoutExpired as exc:
        return Run(cwd, None, str(exc.stdout or ""), "hung: no answer in 60 s", [], 60.0)
    # a request GDAL made lands before the process ends; another run may add its own meanwhile
    mine = [r for r in trap_requests[before:] if entry.trap]
    return Run(cwd, proc.returncode, proc.stdout, proc.stderr, mine, time.monotonic() - start)


@pytest.fixture(scope="session")
def cli_runs(corpus_dir, trap_requests, tmp_path_factory):
    from tests.hostile.conftest import hostile_corpus

    entries = hostile_corpus()[1]
    base = tmp_path_factory.mktemp("cli")
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {
            name: pool.submit(run_entry, e, corpus_dir, base / name.replace(".", "_"), trap_requests)
            for name, e in entries.items()
        }
        return {name: f.result() for name, f in futures.items()}


def test_entry_through_the_cli(entry, corpus_dir, cli_runs, passwd_lines):
    run = cli_runs[entry.name]
    said = run.stdout + run.stderr
    assert run.returncode in (0, 1, 2), f"exit {run.returncode}: {said[-2000:]}"
    assert run.requests == [], f"GDAL fetched {run.requests} from the trap"
    out = run.cwd / "out"
    outputs = "".join(f.read_bytes().decode("utf-8", "replace") for f in out.iterdir()) if out.is_dir() else ""
    assert not [line for line in passwd_lines if line in said or line in outputs], "/etc/passwd leaked"
    assert not [p for p in run.cwd.iterdir() if p.name.endswith(".part")], "a staging folder was left"
    if entry.expected("cli") == "refused":
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, f"expected a refusal, got exit {run.returncode}: {said[-1000:]}"
        assert len(lines) == 1 and lines[0].strip(), f"not one line: {run.stderr[-2000:]!r}"
        assert entry.name in lines[0], f"does not name {entry.name}: {lines[0]}"
        leaked = [p for p in server_paths(run.cwd, corpus_dir) if p in lines[0]]
        assert not leaked, f"server path {leaked} in: {lines[0]}"
        assert not out.exists(), "--out was created on a refusal"
        return
    assert run.returncode == 1, f"expected conflicts (exit 1), got {run.returncode}: {said[-1000:]}"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["plans"][0]["features_read"] == entry.features
    assert summary["totals"]["conflict_area_m2"] == pytest.approx(entry.area, rel=1e-6)
    if entry.label:
        labels = set(
            pyogrio.read_dataframe(out / "conflicts.gpkg", layer="conflicts", read_geometry=False)["plan_label"]
        )
        assert labels == {entry.label}
