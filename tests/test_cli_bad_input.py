"""The CLI on broken geometry: exit 2 with one line on stderr, nothing written (issue 12, part 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely

from tests import geoms

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def files(tmp_path):
    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def _check(files, plan_geometry, name):
    plan = geoms.plan_frame().iloc[[0]].copy()
    plan["geometry"] = [plan_geometry]
    plan.to_file(files / f"{name}.gpkg")
    out = files / f"out-{name}"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgspatial",
            "check",
            "--master",
            str(files / "master.gpkg"),
            "--plan",
            str(files / f"{name}.gpkg"),
            "--rules",
            str(files / "rules.csv"),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run, out


def test_nan_coordinates_are_one_line_and_exit_2(files):
    nan = float("nan")
    run, out = _check(files, shapely.Polygon([(560010, 1100025), (nan, 1100025), (560100, 1100100)]), "toa_do_nan")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "toa_do_nan.gpkg" in lines[0] and "not numbers" in lines[0]
    assert "site-packages" not in run.stderr and "Warning" not in run.stderr
    assert not out.exists()


def test_a_plan_of_one_degenerate_ring_is_not_zero_conflicts(files):
    ring = shapely.from_wkt("POLYGON ((560010 1100025, 560100 1100025, 560010 1100025))")
    run, out = _check(files, ring, "vong_suy_bien")
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "vong_suy_bien.gpkg" in lines[0] and "no area" in lines[0]
    assert not out.exists()


def test_batch_reports_name_files_as_the_registry_writes_them(tmp_path):
    """The register's path in the report header, the failure reason and the file column showed
    this machine's absolute paths; reports travel to other offices."""
    import json

    import openpyxl
    import pypdf
    import yaml

    data = tmp_path / "so_nn" / "dang_ky"
    data.mkdir(parents=True)
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "plan_a.gpkg")
    geoms.plan_frame().iloc[[0, 3, 4]].to_file(data / "broken.shp")
    (data / "broken.shx").unlink()
    plans = [
        {
            "id": i,
            "name": f"Quy hoạch {i}",
            "type": "rural",
            "path": p,
            "code_field": "ma",
            "label_field": "ten",
            "decision": "12/QĐ-UBND",
            "approved": "2020-01-31",
            "authority": "UBND tỉnh Kiên Giang",
        }
        for i, p in (("a", "plan_a.gpkg"), ("broken", "broken.shp"))
    ]
    (data / "registry.yaml").write_text(
        yaml.safe_dump(
            {
                "province": "kien-giang",
                "master": {"path": "master.gpkg", "code_field": "MA_QH"},
                "rules": "rules.csv",
                "plans": plans,
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    argv = [
        sys.executable,
        "-m",
        "kgspatial",
        "batch",
        "so_nn/dang_ky/registry.yaml",
        "--out",
        "ket_qua",
        "-q",
        "--report",
        "html,xlsx,pdf",
    ]
    done = subprocess.run(
        argv, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    out = tmp_path / "ket_qua"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["registry"] == "so_nn/dang_ky/registry.yaml"
    assert summary["failed"] == [
        {"id": "broken", "reason": "broken.shp: shapefile thiếu tệp .shx / shapefile lacks its .shx part(s)"}
    ]
    assert summary["methodology"]["rules"]["path"] == "rules.csv"
    pdf = "\n".join(page.extract_text() for page in pypdf.PdfReader(str(out / "report.pdf")).pages)
    cells = [
        str(v)
        for ws in openpyxl.load_workbook(out / "report.xlsx")
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    html = (out / "report.html").read_text(encoding="utf-8")
    for name, text in (
        ("summary", json.dumps(summary, ensure_ascii=False)),
        ("html", html),
        ("pdf", pdf),
        ("xlsx", "\n".join(cells)),
    ):
        assert str(tmp_path) not in text, name
    assert "so_nn/dang_ky/registry.yaml" in html and "so_nn/dang_ky/registry.yaml" in pdf.replace("\n", "")
    assert "plan_a.gpkg" in cells and "broken.shp" in cells
