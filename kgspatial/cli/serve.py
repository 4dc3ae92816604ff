"""`kgspatial serve`: the web service (CONTRACT §5), started with uvicorn.

Examples:
    kgspatial serve --data-dir /srv/kgspatial
    KGSPATIAL_DATABASE_URL=postgresql://kgs:secret@db/kgspatial kgspatial serve --host 0.0.0.0 --port 8000
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from . import app

Opt = typer.Option


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening address, bound before the service starts (uvicorn then serves on it).

    Binding here, not inside uvicorn, turns "address already in use" or a host that is not an
    address of this machine into one line and exit 2 before anything is printed or started.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise InputError.say(
                f"không mở được {where}: cổng đã được dùng (một dịch vụ khác?); hãy chọn cổng khác bằng --port",
                f"cannot listen on {where}: the port is already in use (another service?); choose another with --port",
            ) from None
        if exc.errno == errno.EACCES:
            raise InputError.say(
                f"không mở được {where}: không có quyền (cổng dưới 1024 cần quyền quản trị); hãy chọn"
                " cổng khác bằng --port",
                f"cannot listen on {where}: permission denied (ports below"
                " 1024 need privileges); choose another with --port",
            ) from None
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise InputError.say(
                f"không mở được {where}: {host!r} không phải là địa chỉ của máy này"
                f" ({exc.strerror or exc}); ví dụ --host 127.0.0.1 hoặc --host 0.0.0.0",
                f"cannot listen on {where}: {host!r} is not an address of this machine"
                f" ({exc.strerror or exc}); e.g. --host 127.0.0.1 or --host 0.0.0.0",
            ) from None
        raise InputError.say(
            f"không mở được {where}: {exc.strerror or exc}", f"cannot listen on {where}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


@app.command("serve")
def serve(
    host: Annotated[str, Opt(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on (1-65535).")] = 8000,
    data_dir: Annotated[
        Optional[Path], Opt(help="Data folder (default: KGSPATIAL_DATA_DIR or ./kgspatial-data).")
    ] = None,
    workers: Annotated[
        Optional[int],
        Opt(
            help="Check jobs run at once (default: KGSPATIAL_WORKERS or 2); 0 accepts jobs but runs none "
            "(another process runs them)."
        ),
    ] = None,
) -> None:
    """Chạy dịch vụ web / run the web service (API keys: `kgspatial keys create`)."""
    # Every argument is checked before anything starts: a bad one is one line and exit 2.
    if not 1 <= port <= 65535:
        raise InputError.say(f"--port {port}: cổng là số từ 1 đến 65535", "a port number is 1-65535")
    if workers is not None and workers < 0:
        raise InputError.say(
            f"--workers {workers}: phải từ 0 trở lên (0: nhận việc nhưng không chạy)",
            "must be 0 or more (0: accept jobs, run none)",
        )
    try:
        import uvicorn

        from api import create_app
        from api.settings import load_settings, prepare_data_dir
    except ImportError as exc:
        raise InputError.say(
            f"dịch vụ cần kgspatial[service] ({exc}); pip install 'kgspatial[service]'",
            f"the service needs kgspatial[service] ({exc}); pip install 'kgspatial[service]'",
        ) from None
    overrides = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if workers is not None:
        overrides["workers"] = workers
    settings = load_settings(**overrides)
    prepare_data_dir(settings.data_dir)
    sock = bind_socket(host, port)
    try:
        service = create_app(settings)
        store = "PostGIS" if settings.database_url else f"embedded, {settings.data_dir.resolve()}"
        typer.echo(f"kgspatial: serving on http://{host}:{port} (store: {store}; pid {os.getpid()})", err=True)
        server = uvicorn.Server(uvicorn.Config(service, log_level="info"))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
    finally:
        sock.close()
