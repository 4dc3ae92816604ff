"""`kgspatial serve`: the web service (CONTRACT §5), started with uvicorn.

Examples:
    kgspatial serve --data-dir /srv/kgspatial
    KGSPATIAL_DATABASE_URL=postgresql://kgs:secret@db/kgspatial kgspatial serve --host 0.0.0.0 --port 8000
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app

Opt = typer.Option


@app.command("serve")
def serve(
    host: Annotated[str, Opt(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on.")] = 8000,
    data_dir: Annotated[Optional[Path], Opt(help="Data folder (default: KGSPATIAL_DATA_DIR or ./kgspatial-data).")] = None,
    workers: Annotated[Optional[int], Opt(help="Check jobs run at once (default: KGSPATIAL_WORKERS or 2).")] = None,
) -> None:
    """Chạy dịch vụ web / run the web service (API keys: `kgspatial keys create`)."""
    try:
        import uvicorn

        from api import Settings, create_app
    except ImportError as exc:
        from ..errors import InputError

        raise InputError(f"the service needs kgspatial[service] ({exc}); pip install 'kgspatial[service]'") from None
    overrides = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if workers is not None:
        overrides["workers"] = workers
    settings = Settings(**overrides)
    store = "PostGIS" if settings.database_url else f"embedded, {settings.data_dir.resolve()}"
    typer.echo(f"kgspatial: serving on http://{host}:{port} (store: {store}; pid {os.getpid()})", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
