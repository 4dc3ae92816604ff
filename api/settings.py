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
        None, description="postgresql://user:pass@host/db puts registry, jobs, keys and layers in PostGIS.")
    profile: str = Field("kien-giang", description="Province profile (analysis CRS, default rules, taxonomy).")
    max_upload_mb: float = Field(200, gt=0, description="Largest request body accepted (413 beyond).")
    max_unpacked_mb: float = Field(1024, gt=0, description="Largest total uncompressed size of a zip (413 beyond).")
    max_members: int = Field(10_000, gt=0, description="Most members in an uploaded zip (413 beyond).")
    max_compression_ratio: float = Field(
        200, gt=1, description="Largest uncompressed/compressed ratio of one zip member (zip bombs; 413 beyond).")
    workers: int = Field(2, ge=0, description="Check jobs run at once by this process (0: accept jobs only).")
    job_lease_seconds: float = Field(
        60, gt=0, description="A running job whose heartbeat is older than this is taken as abandoned.")
    job_max_attempts: int = Field(2, ge=1, description="Runs of one job before a restart marks it failed.")
    job_poll_seconds: float = Field(1.0, gt=0, description="How often idle workers look for queued jobs.")
    tiles: str | None = Field(
        None, description="Basemap tile URL template for maps (e.g. an intranet tile server); none: no basemap.")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * MB)
