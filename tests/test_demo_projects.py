"""The demo province's priority projects and indicators (kgspatial/demo_projects.py), with the
figures worked out by hand from its layout: zone and project rectangles (w × h), the expressway's
waypoints, projects drawn on the plans' own features (reserved by construction) or on features of
plans that have expired or been abolished (reserved by nothing)."""

from __future__ import annotations

import datetime as dt
import math

import pyogrio
import pytest
from pyproj.transformer import TransformerGroup

from kgspatial.demo_projects import EXPRESSWAY
from kgspatial.indicators import run_indicators
from kgspatial.projects import run_projects
from kgspatial.taxonomy import default_layers_dir

REGISTRY = default_layers_dir() / "demo" / "registry.yaml"


@pytest.fixture(scope="module")
def on_2026(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-projects")
    return {r["id"]: r for r in run_projects(REGISTRY, out / "p", dt.date(2026, 1, 1)).rows}


def test_siting_and_reservation_by_construction(on_2026):
    p = on_2026
    assert len(p) == 33
    # Phú Quốc airport: a 3,500 × 3,000 m plan = 1,050 ha, in the economic zone (PNN on KKT, R975)
    assert p["GT-04"]["area_m2"] == 3500 * 3000 and p["GT-04"]["siting"] == "consistent"
    assert p["KCN-01"]["area_m2"] == 1400 * 1400 and p["KCN-01"]["siting"] == "consistent"  # inside its 1,600 m zone
    # drawn on the in-force plans' own features: reserved whole
    for pid, plan in (
        ("GT-03", "gt-duong-tinh"),
        ("NL-01", "nang-luong-duong-day"),
        ("NL-03", "nang-luong-nha-may"),
        ("DL-01", "du-lich-phu-quoc"),
        ("YT-01", "qhc-rach-gia"),
    ):
        assert plan in p[pid]["reserved_in"] and p[pid]["reserved_share"][plan] == 1.0, pid
    # the 110 kV line through U Minh Thượng: reserved by the energy plan, yet in conflict with the park
    assert p["NL-02"]["siting"] == "conflict" and p["NL-02"]["reserved_in"] == ["nang-luong-duong-day"]
    # 60 % and 45 % of a block-sized box on a block of their own use
    assert p["GD-01"]["reserved_share"] == {"qhc-rach-gia": 0.6} and p["GD-01"]["reserved_in"] == ["qhc-rach-gia"]
    assert p["YT-02"]["reserved_share"] == {"qhc-rach-gia": 0.45} and p["YT-02"]["reserved_in"] == []
    # the same shapes as features of the abolished waste plan and the expired irrigation plan: nothing
    assert p["MT-01"]["reserved_in"] == [] and "cap-nuoc-rac" not in p["MT-01"]["reserved_share"]
    assert "thuy-loi" not in p["TL-01"]["reserved_share"] and "thuy-loi" not in p["TL-02"]["reserved_share"]
    assert p["LB-02"]["siting"] == "outside_master"  # wholly at sea off Hà Tiên


def _lonlat_to_9207():
    group = TransformerGroup("EPSG:4326", "EPSG:9207", always_xy=True)
    return next(t for t in group.transformers if "VN-2000 to WGS 84 (2)" in t.description)


def test_the_expressway_is_86_km(on_2026):
    t = _lonlat_to_9207()
    pts = [tuple(round(v) for v in t.transform(lon, lat)) for lat, lon in EXPRESSWAY]
    by_hand = sum(math.hypot(x2 - x1, y2 - y1) for (x1, y1), (x2, y2) in zip(pts, pts[1:]))
    assert on_2026["GT-01"]["length_m"] == pytest.approx(by_hand, abs=0.01)
    assert 85_500 < by_hand < 86_500


@pytest.mark.parametrize(
    ("on", "overdue", "late"),
    [
        # the 2021-2025 projects neither completed nor cancelled, by hand from the table
        (
            dt.date(2026, 1, 1),
            {"GT-01", "GT-04", "CB-01", "KCN-01", "KCN-03", "TL-01", "TL-03", "MT-01", "TS-01"},
            set(),
        ),
        (dt.date(2025, 6, 30), set(), {"KCN-03"}),  # still proposed 2.5 years into its phase
        (
            dt.date(2028, 1, 2),
            {"GT-01", "GT-04", "CB-01", "KCN-01", "KCN-03", "TL-01", "TL-03", "MT-01", "TS-01"},
            {"GT-02", "CB-03", "KCN-02", "CN-01", "NL-04", "MT-02", "DL-02", "NN-01", "LB-01"},
        ),
    ],
)
def test_schedules_on_three_dates(tmp_path, on, overdue, late):
    rows = run_projects(REGISTRY, tmp_path / "p", on).rows
    assert {r["id"] for r in rows if r["schedule"] == "overdue"} == overdue
    assert {r["id"] for r in rows if r["schedule"] == "late_start"} == late


def test_capital_adds_up(on_2026):
    frame = pyogrio.read_dataframe(default_layers_dir() / "demo" / "du_an_trong_diem.gpkg", read_geometry=False)
    assert sum(r["capital"] for r in on_2026.values()) == pytest.approx(frame["TongVon"].sum())


def test_indicators_of_the_demo(tmp_path):
    rows = run_indicators(REGISTRY, tmp_path / "i", dt.date(2026, 1, 1)).rows
    by = {(r["unit_code"], r["code"]): r for r in rows}
    # the Thạnh Lộc industrial park zone, 1,600 × 1,600 m, lies in the 2025 commune and in the old one
    assert by[("30886", "SKK")]["master_ha"] == 256.0 and by[("30886", "SKK")]["master_verdict"] == "over"
    assert by[("30901", "SKK")]["units"] == "admin_previous" and by[("30901", "SKK")]["master_ha"] == 256.0
    assert by[("30901", "SKK")]["master_verdict"] == "ok"
    # DGT on Phú Quốc: the airport zone 3,500 × 800 m; in Rạch Giá ward: its airport zone 600 × 1,800 m
    assert by[("31078", "DGT")]["master_ha"] == 280.0 and by[("31078", "DGT")]["master_verdict"] == "ok"
    assert by[("30742", "DGT")]["master_ha"] == 108.0 and by[("30742", "DGT")]["master_verdict"] == "ok"
    assert sum(r["master_verdict"] != "ok" for r in rows) == 2 and sum(r["plans_verdict"] != "ok" for r in rows) == 7
