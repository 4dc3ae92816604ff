"""`batch --scheduler`: the plans on a Dask cluster give the outputs of a local run, byte for byte.

A LocalCluster of two worker processes (each reads the master plan itself, as a real cluster's
workers do from a shared drive) checks the plans of tests/geoms.py's scene: a GeoPackage, a
shapefile and a file that is no GeoPackage, which fails on its worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest

from kgspatial.batch import BatchOptions, run_batch
from kgspatial.errors import InputError
from tests import geoms
from tests.test_batch import _plan, _polygons, _write_registry

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.fixture()
def registry(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    geoms.units_frame().to_file(data / "xa.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "plan_a.gpkg")
    _polygons().to_file(data / "plan_b.shp")
    (data / "broken.gpkg").write_bytes(b"not a GeoPackage")
    return _write_registry(
        data,
        [_plan("qhc-a", "plan_a.gpkg"), _plan("nt-b", "plan_b.shp", min_area=0), _plan("broken", "broken.gpkg")],
        admin={"path": "xa.gpkg", "code_field": "ma_xa", "name_field": "ten_xa"},
    )


def _rows(path: Path) -> list[dict]:
    """Every column of every row, geometry as its WKB bytes, in file order."""
    _, table = pyogrio.read_arrow(path, layer="conflicts")
    return table.to_pylist()


def _summary(path: Path) -> dict:
    """summary.json without the moments it was written (`generated_at`, the methodology's `date`)."""

    def drop(value):
        if isinstance(value, dict):
            return {k: drop(v) for k, v in value.items() if k not in ("generated_at", "date")}
        return [drop(v) for v in value] if isinstance(value, list) else value

    return drop(json.loads(path.read_text(encoding="utf-8")))


def test_cluster_gives_the_local_outputs(cluster, registry, tmp_path):
    options = {"registry": registry, "formats": (), "plan_maps": False}
    local = run_batch(BatchOptions(out=tmp_path / "local", jobs=2, **options))
    remote = run_batch(BatchOptions(out=tmp_path / "remote", scheduler=cluster.scheduler_address, **options))
    assert (
        [(p.id, p.status) for p in remote.plans]
        == [(p.id, p.status) for p in local.plans]
        == [("qhc-a", "checked"), ("nt-b", "checked"), ("broken", "failed")]
    )
    assert remote.plans[2].reason == local.plans[2].reason and "broken.gpkg" in remote.plans[2].reason
    for plan in ("qhc-a", "nt-b"):
        rows = _rows(tmp_path / "local" / plan / "conflicts.gpkg")
        assert rows and _rows(tmp_path / "remote" / plan / "conflicts.gpkg") == rows  # ids, figures, WKB bytes
        assert _summary(tmp_path / "remote" / plan / "summary.json") == _summary(
            tmp_path / "local" / plan / "summary.json"
        )
    remote_summary = _summary(tmp_path / "remote" / "summary.json")
    local_summary = _summary(tmp_path / "local" / "summary.json")
    assert remote_summary["totals"]["conflict_area_m2"] == pytest.approx(2 * (2500 + 2500 + 800))
    assert remote_summary == local_summary
    assert remote.exit_code == local.exit_code == 1


def test_unreachable_scheduler_is_an_input_error(registry, tmp_path):
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "2s"}),
        pytest.raises(InputError, match="Dask scheduler"),
    ):
        run_batch(
            BatchOptions(
                registry=registry, out=tmp_path / "out", formats=(), plan_maps=False, scheduler="tcp://127.0.0.1:9"
            )
        )
