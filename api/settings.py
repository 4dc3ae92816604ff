"""Service settings: environment variables with the prefix KGSPATIAL_ (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class Settings(BaseSettings):
    """Everything an operator may change; each field is also `KGSPATIAL_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="KGSPATIAL_", extra="ignore")

    data_dir: Path = Field(Path("kgspatial-data"), description="Embedded store, uploads in progress, render caches.")
    database_url: str | None = Field(
        None, description="postgresql://user:pass@host/db puts registry, jobs, keys and layers in PostGIS."
    )
    profile: str = Field("kien-giang", description="Province profile (analysis CRS, default rules, taxonomy).")
    max_upload_mb: float = Field(200, gt=0, description="Largest request body accepted (413 beyond).")
    max_unpacked_mb: float = Field(1024, gt=0, description="Largest total uncompressed size of a zip (413 beyond).")
    max_members: int = Field(10_000, gt=0, description="Most members in an uploaded zip (413 beyond).")
    max_features: int = Field(1_000_000, gt=0, description="Most features in an uploaded layer (413 beyond).")
    max_vertices: int = Field(
        20_000_000,
        gt=0,
        description="Most vertices (coordinates) in an uploaded layer, all features together (413 beyond).",
    )
    workers: int = Field(2, ge=0, description="Check jobs run at once by this process (0: accept jobs only).")
    job_lease_seconds: float = Field(
        60, gt=0, description="A running job whose heartbeat is older than this is taken as abandoned."
    )
    job_max_attempts: int = Field(2, ge=1, description="Runs of one job before a restart marks it failed.")
    job_poll_seconds: float = Field(1.0, gt=0, description="How often idle workers look for queued jobs.")
    tiles: str | None = Field(
        None, description="Basemap tile URL template for maps (e.g. an intranet tile server); none: no basemap."
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * MB)


def load_settings(**overrides) -> Settings:
    """Settings from the environment and `overrides`; a bad value is an InputError (one line, exit 2).

    pydantic's own error is a multi-line report with a traceback when it reaches the CLI; a bad
    KGSPATIAL_* variable is the operator's input like any other.
    """
    from pydantic import ValidationError

    from kgspatial.errors import InputError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"])
            where = f"--{name.replace('_', '-')}" if name in overrides else f"KGSPATIAL_{name.upper()}"
            problems.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
        raise InputError("; ".join(problems)) from None


def prepare_data_dir(path: Path) -> Path:
    """Create the data folder if needed and make sure it is a writable folder, before any work.

    Checked up front so that a file, a read-only place or /proc gives one clear line instead of
    a FileExistsError in the middle of startup.
    """
    import os

    from kgspatial.errors import InputError

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError.say(
            f"thư mục dữ liệu {path} đã có và không phải là thư mục", f"data folder {path} exists and is not a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.say(
            f"không tạo được thư mục dữ liệu {path} ({exc.strerror or exc})",
            f"cannot create the data folder {path} ({exc.strerror or exc})",
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError.say(f"không ghi được vào thư mục dữ liệu {path}", f"the data folder {path} is not writable")
    return path
