"""What the service keeps, independent of where: the Store interface and its small records.

Two implementations share the registry and job logic (SQLAlchemy Core, api/store/sql.py) and
differ in where geometry lives: files under the data dir (embedded.py) or PostGIS (postgis.py).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd

ROLES = ("viewer", "planner", "admin")
STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
ACTIVE = ("accepted", "running")
LAYER_KINDS = ("plan", "master", "admin", "admin_prev")  # admin_prev: the units before the 2025 merger


class NotFound(LookupError):
    """No such record (or not visible to the caller): 404."""


class Conflict(RuntimeError):
    """The record is in a state that forbids the change: 409."""


@dataclass
class Page:
    """One page of GeoJSON features (EPSG:4326) and how many matched in all."""

    features: list[dict]
    matched: int


@dataclass
class ConflictFilter:
    bbox: tuple[float, float, float, float] | None = None  # or a geometry: features.query_region
    severity: list[str] = field(default_factory=list)
    rule_id: list[str] = field(default_factory=list)
    admin_code: list[str] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # polygon, line, point: one geometry type per OGC collection


class Store(abc.ABC):
    """Registry (keys, layers, rules), jobs and results; every method is thread-safe."""

    # -- life ------------------------------------------------------------------------------
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the store cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- keys ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_key(self, name: str, role: str) -> tuple[dict, str]:
        """A new key record and the secret (shown once; only its hash is kept)."""

    @abc.abstractmethod
    def key_by_secret(self, secret: str) -> dict | None: ...

    # -- layers ----------------------------------------------------------------------------
    @abc.abstractmethod
    def add_layer(self, meta: dict, gdf: gpd.GeoDataFrame, sensitive: list[bool]) -> dict:
        """Keep a layer (attributes decoded, source CRS) and its registry row, all or nothing."""

    @abc.abstractmethod
    def get_layer(self, layer_id: str, kind: str | None = None) -> dict: ...

    @abc.abstractmethod
    def list_layers(self, kind: str, owner_id: str | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def newest_layer(self, kind: str) -> dict | None: ...

    @abc.abstractmethod
    def delete_plan(self, layer_id: str) -> None:
        """Delete a plan and its checks; Conflict while one of them is queued or running."""

    @abc.abstractmethod
    @contextlib.contextmanager
    def layer_file(self, layer_id: str) -> Iterator[Path]:
        """A readable file of the layer for kgspatial.io.read_layer, valid inside the block."""

    @abc.abstractmethod
    def layer_features(self, layer_id: str, *, bbox=None, limit: int, offset: int, unmasked: bool) -> Page: ...

    @abc.abstractmethod
    def layer_feature(self, layer_id: str, fid: int, *, unmasked: bool) -> dict: ...

    @abc.abstractmethod
    def update_plan(self, layer_id: str, values: dict) -> dict:
        """Change a plan's name, type, decision, approval, authority or register keys."""

    # -- exceptions (CONTRACT §10) -----------------------------------------------------------
    @abc.abstractmethod
    def add_exceptions(self, rows: list[dict], owner_id: str | None) -> list[dict]:
        """Keep validated exceptions, all or none (NotFound when a plan went meanwhile)."""

    @abc.abstractmethod
    def list_exceptions(self, plan_ids: list[str] | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def delete_exception(self, exception_id: str) -> None: ...

    # -- rules -----------------------------------------------------------------------------
    @abc.abstractmethod
    def add_rules(self, meta: dict, content: bytes) -> dict: ...

    @abc.abstractmethod
    def get_rules(self, rules_id: str, with_content: bool = False) -> dict: ...

    @abc.abstractmethod
    def newest_rules(self) -> dict | None: ...

    # -- checks ----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_check(self, meta: dict) -> dict: ...

    @abc.abstractmethod
    def get_check(self, check_id: str) -> dict: ...

    @abc.abstractmethod
    def list_checks(self, owner_id: str | None = None, plan_id: str | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def latest_finished_checks(self, plan_ids: list[str]) -> dict[str, dict]:
        """Per plan id, its newest successful or failed check."""

    @abc.abstractmethod
    def claim_next(self, worker: str) -> dict | None:
        """Move the oldest accepted job to running for this worker, atomically; None if none."""

    @abc.abstractmethod
    def heartbeat(self, check_ids: list[str], progress: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def recover_stale(self, lease_seconds: float, max_attempts: int, dead=None) -> list[dict]:
        """Requeue (or fail, after max_attempts runs) running jobs whose worker stopped beating,
        or whose worker `dead(worker)` says is gone."""

    @abc.abstractmethod
    def finish_check(self, check_id: str, result) -> bool:
        """Keep the result and mark the job successful; False (nothing kept) if it was dismissed."""

    @abc.abstractmethod
    def fail_check(self, check_id: str, reason: str) -> None: ...

    @abc.abstractmethod
    def dismiss_check(self, check_id: str) -> dict: ...

    @abc.abstractmethod
    def conflicts(self, check_id: str, flt: ConflictFilter, *, limit: int, offset: int, unmasked: bool) -> Page: ...

    @abc.abstractmethod
    def conflict(self, check_id: str, conflict_id: str, *, unmasked: bool) -> dict: ...

    @abc.abstractmethod
    def conflicts_frame(self, check_id: str) -> gpd.GeoDataFrame:
        """All conflict rows in the analysis CRS, unmasked (presenters mask before drawing)."""
