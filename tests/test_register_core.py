"""Register figures of plans whose check failed, and of plans that need no review."""

from __future__ import annotations

import datetime as dt

from tests.test_batch import _plan, _run, _write_registry, province  # noqa: F401  (fixture)


def test_a_failed_check_counts_no_conflict_whatever_the_legal_status(province, tmp_path):  # noqa: F811
    (province / "broken.gpkg").write_bytes(b"not a geopackage")
    reg = _write_registry(
        province,
        [
            _plan("het-ky", "broken.gpkg", horizon=2020),  # past its horizon: review not required
            _plan("hieu-luc", "broken.gpkg"),  # in force: review failed
            _plan("tot", "plan_a.gpkg", horizon=2020),  # past its horizon, checked: 4 rows
        ],
    )
    result = _run(reg, tmp_path / "out")
    rows = {r["id"]: r for r in result.register["plans"]}
    assert rows["het-ky"]["review_status"] == "not_required" and rows["het-ky"]["result"] == "failed"
    assert rows["het-ky"]["conflicts"] is None and rows["het-ky"]["conflict_area_m2"] is None
    assert rows["hieu-luc"]["review_status"] == "failed" and rows["hieu-luc"]["conflicts"] is None
    assert rows["tot"]["review_status"] == "not_required" and rows["tot"]["conflicts"] == 4
    assert dt.date.fromisoformat(result.register["on"]) == dt.date.today()
