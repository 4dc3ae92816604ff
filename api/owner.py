"""Who holds a job or an upload folder, and whether that process still lives.

A holder is stamped `<machine>-<pid>-<start>`: machine is a hash of the host name, boot id and
pid namespace, start the process's start time in clock ticks since boot. A holder of this
machine whose pid is gone, a zombie, or now a process started at another time is dead, so what
it held is reclaimed at once rather than after a lease. A holder of another machine (a shared
database or data folder) or of a system without /proc is never judged dead here: its lease decides.
Scratch folders (uploads being received, layers exported for a check, a job's rules file) carry
their holder in their name, `<kind>-<holder>-<random>`, so that a starting server can sweep them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@functools.cache
def machine() -> str:
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    text = f"{socket.gethostname()}|{_read('/proc/sys/kernel/random/boot_id')}|{namespace}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _started(pid: int) -> str:
    """The start time of a running pid (field 22 of /proc/PID/stat); '' if none runs (or a zombie)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return "" if fields[0] in ("Z", "X") else fields[19]


def me() -> str:
    pid = os.getpid()
    return f"{machine()}-{pid}-{_started(pid)}"


def dead(holder: str | None) -> bool:
    """True only for a holder of this machine that no longer runs."""
    parts = (holder or "").split("-")
    if len(parts) != 3 or parts[0] != machine() or not parts[1].isdigit() or not parts[2]:
        return False
    return _started(int(parts[1])) != parts[2]


def scratch_folder(root: Path, kind: str) -> Path:
    """A new folder under `root` named after this process; the caller removes it when done."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{me()}-", dir=root))


def sweep(root: Path, older_than: float = 6 * 3600) -> None:
    """Remove the scratch folders no live process holds: at once those of a dead process of this
    machine; after `older_than` seconds uploads of another machine sharing the data dir (and of
    servers before holders were named)."""
    for item in root.glob("*-*") if root.is_dir() else ():
        holder = item.name.partition("-")[2].rpartition("-")[0]
        try:
            if dead(holder) or (item.name.startswith("upload-") and time.time() - item.stat().st_mtime > older_than):
                shutil.rmtree(item, ignore_errors=True)
        except OSError:
            pass
