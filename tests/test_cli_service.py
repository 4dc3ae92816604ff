"""`kgspatial keys create` and `kgspatial serve` with bad arguments: exit 2 and one line, no traceback.

No server is left running: uvicorn's Server.run is replaced by a stub that records the socket it
was given (a test that reached it by mistake fails instead of serving forever).
"""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("api")

import uvicorn

from kgspatial.cli import main


def _cli(capsys, *argv) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("kgspatial: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture()
def no_server(monkeypatch):
    """Server.run stub: records the sockets it would serve on."""
    calls: list[list[socket.socket]] = []

    def run(self, sockets=None):
        calls.append([s.getsockname() for s in sockets or []])

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.delenv("KGSPATIAL_WORKERS", raising=False)
    monkeypatch.delenv("KGSPATIAL_DATABASE_URL", raising=False)
    return calls


# ---------------------------------------------------------------- keys create --data-dir


def test_keys_data_dir_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line_error(*_cli(capsys, "keys", "create", "--role", "admin", "--name", "x", "--data-dir", str(afile)))
    assert str(afile) in err and "not a folder" in err


def test_keys_data_dir_that_cannot_be_created(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line_error(
        *_cli(capsys, "keys", "create", "--role", "admin", "--name", "x", "--data-dir", str(afile / "sub"))
    )
    assert "cannot create the data folder" in err


# ---------------------------------------------------------------- serve


@pytest.mark.parametrize("port", ["99999", "65536", "-5", "0"])
def test_serve_port_out_of_range(tmp_path, capsys, no_server, port):
    err = _one_line_error(*_cli(capsys, "serve", "--port", port, "--data-dir", str(tmp_path)))
    assert "1-65535" in err and "serving on" not in err
    assert no_server == []


def test_serve_negative_workers(tmp_path, capsys, no_server):
    err = _one_line_error(*_cli(capsys, "serve", "--workers", "-1", "--data-dir", str(tmp_path)))
    assert "--workers" in err and "0 or more" in err
    assert no_server == []


def test_serve_bad_workers_from_the_environment(tmp_path, capsys, no_server, monkeypatch):
    monkeypatch.setenv("KGSPATIAL_WORKERS", "-2")
    err = _one_line_error(*_cli(capsys, "serve", "--data-dir", str(tmp_path)))
    assert "KGSPATIAL_WORKERS" in err
    assert no_server == []


def test_serve_data_dir_that_is_a_file(tmp_path, capsys, no_server):
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line_error(*_cli(capsys, "serve", "--data-dir", str(afile)))
    assert "not a folder" in err
    assert no_server == []


def test_serve_port_in_use(tmp_path, capsys, no_server):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _one_line_error(*_cli(capsys, "serve", "--port", str(port), "--data-dir", str(tmp_path)))
    assert "already in use" in err and str(port) in err
    assert no_server == []


def test_serve_impossible_host(tmp_path, capsys, no_server):
    err = _one_line_error(*_cli(capsys, "serve", "--host", "999.1.1.1", "--data-dir", str(tmp_path)))
    assert "999.1.1.1" in err and "not an address of this machine" in err
    assert no_server == []


def test_serve_good_arguments_reach_uvicorn_with_a_bound_socket(tmp_path, capsys, no_server):
    with socket.socket() as probe:  # a port free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, err = _cli(capsys, "serve", "--port", str(port), "--workers", "0", "--data-dir", str(tmp_path / "data"))
    assert code in (0, None), err
    assert no_server == [[("127.0.0.1", port)]]
    assert (tmp_path / "data").is_dir()
    assert f"serving on http://127.0.0.1:{port}" in err


def test_serve_help_says_what_workers_0_means():
    from typer.testing import CliRunner

    from kgspatial.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "0 accepts jobs but runs none" in " ".join(result.output.replace("│", " ").split())
