"""One hostile corpus per session (tests/hostile/corpus.py), an HTTP trap that records any request
GDAL makes, and a service per store with the corpus's master plan and rules uploaded once."""

from __future__ import annotations

import atexit
import http.server
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from tests.api.conftest import pg_cluster  # noqa: F401  (the PostGIS cluster fixture)
from tests.hostile import corpus

_STATE: dict = {}


class _Trap(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        _STATE["requests"].append(self.path)
        self.send_response(404)
        self.end_headers()

    do_HEAD = do_POST = do_GET

    def log_message(self, *args):
        pass


def hostile_corpus() -> tuple[Path, dict[str, corpus.Entry], list[str]]:
    """(folder, entries by name, requests the trap received), made on first use."""
    if not _STATE:
        _STATE["requests"] = []
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        root = Path(tempfile.mkdtemp(prefix="kgspatial-hostile-"))
        atexit.register(shutil.rmtree, root, True)
        atexit.register(server.shutdown)
        entries = corpus.build(root / "corpus", server.server_address[1])
        _STATE.update(root=root / "corpus", entries={e.name: e for e in entries})
    return _STATE["root"], _STATE["entries"], _STATE["requests"]


def pytest_generate_tests(metafunc):
    if "entry" in metafunc.fixturenames:
        _, entries, _ = hostile_corpus()
        metafunc.parametrize("entry", list(entries.values()), ids=list(entries))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return hostile_corpus()[0]


@pytest.fixture(scope="session")
def trap_requests() -> list[str]:
    return hostile_corpus()[2]


@pytest.fixture(scope="session")
def passwd_lines() -> list[str]:
    """The lines of /etc/passwd (none may reach a user), long enough not to match by chance."""
    text = Path("/etc/passwd").read_text(errors="replace")
    return [line for line in text.splitlines() if len(line) >= 12]
