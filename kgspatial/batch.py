"""Batch runs over a province's plan register (CONTRACT §6).

The shared context (master, admin units, rules) is built once and every
registered plan is checked against it; the results are gathered into a
:class:`BatchResult` that the province reports and maps present.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from .prepare import PreparedLayer


@dataclass
class PlanRecord:
    """One registered plan and what its check produced."""

    id: str
    name: str
    type: str
    path: str
    decision: str | None = None
    approved: datetime.date | None = None
    authority: str | None = None
    status: str = "checked"  # "checked" | "failed" | "unchanged" (resumed, results reused)
    reason: str | None = None
    summary: dict | None = None  # that plan's summary.json
    conflicts: gpd.GeoDataFrame | None = None  # its conflict rows, analysis CRS
    out_dir: Path | None = None

    @property
    def needs_adjustment(self) -> bool:
        """True when any of the plan's rows has the verdict "conflict"."""
        if self.conflicts is None or len(self.conflicts) == 0 or "verdict" not in self.conflicts:
            return False
        return bool((self.conflicts["verdict"] == "conflict").any())


@dataclass
class BatchResult:
    """Everything a batch run produced, for the province outputs."""

    province: str
    registry_path: Path
    out: Path
    plans: list[PlanRecord]
    summary: dict
    conflicts: gpd.GeoDataFrame
    master: PreparedLayer | None
    taxonomy: Any = None
    rules: Any = None
    exit_code: int = 0
