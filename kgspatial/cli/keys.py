"""`kgspatial keys create`: a new API key for the web service, printed once (only its hash is kept).

Examples:
    kgspatial keys create --role admin --name "Sở TN&MT" --data-dir /srv/kgspatial
    KGSPATIAL_DATABASE_URL=postgresql://... kgspatial keys create --role planner --name "Phòng QLĐT Rạch Giá"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from . import app

keys_app = typer.Typer(help="Khóa API / API keys of the web service.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

ROLES = ("viewer", "planner", "admin")


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="viewer (reads everything), planner (own plans), admin (everything).")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Data folder of the service (default: KGSPATIAL_DATA_DIR).")
    ] = None,
) -> None:
    """Tạo khóa API / create an API key; it is printed once on stdout."""
    if role not in ROLES:
        raise InputError.say(
            f"không có vai trò {role!r}: dùng viewer (xem), planner (lập quy hoạch) hoặc admin (quản trị)",
            f"unknown role {role!r}: use viewer, planner or admin",
        )
    if not name.strip():
        raise InputError.say("--name không được để trống", "--name must not be empty")
    try:
        from api.settings import load_settings, prepare_data_dir
        from api.store import open_store
    except ImportError as exc:
        raise InputError.say(
            f"tạo khóa cần kgspatial[service] ({exc})", f"keys need kgspatial[service] ({exc})"
        ) from None
    settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    prepare_data_dir(settings.data_dir)  # a file or an unwritable place: one line, exit 2
    store = open_store(settings, ())
    try:
        record, secret = store.create_key(name, role)
    finally:
        store.close()
    typer.echo(f"kgspatial: key {record['id']} ({role}, {record['name']}) created; it is shown only once:", err=True)
    typer.echo(secret)
