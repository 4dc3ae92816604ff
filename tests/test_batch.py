"""Batch runs over a plan registry: validation, failures, --resume, and figures worked out by hand.

The scene is tests/geoms.py (every figure there is a hand computation). With its rules table the
plan gives, per copy of the plan:
    conflict:    P0 ODT 2500 m² on LUC + 2500 m² on RPH, P5 SKK 800 m² on RPH  -> 5800 m²;
                 P1 DGT 90 m on RPH                                           -> 90 m
    conditional: P1 DGT 90 m on LUC, P4 TMD 3600 m² on ODT
    unreviewed:  P5 SKK on ODT, 800 m²
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from kgspatial import batch as batch_mod
from kgspatial.batch import STATE_FILE, BatchOptions, run_batch
from kgspatial.cli import main
from kgspatial.errors import KgSpatialError, RegistryError
from kgspatial.registry import load_registry
from tests import geoms

CONFLICT_AREA = 2500 + 2500 + 800
CONFLICT_LENGTH = 90.0


@pytest.fixture()
def province(tmp_path):
    """Master, rules and three plans (two good copies of the geoms plan, one unreadable)."""
    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "plan_a.gpkg")
    shp = data / "plan_b.shp"
    _polygons().to_file(shp)  # a shapefile: the sidecars count in its fingerprint
    return data


def _polygons():
    """The polygons of the geoms plan (P0, P3, P4, P5): a shapefile holds one geometry type."""
    return geoms.plan_frame().iloc[[0, 3, 4, 5]].reset_index(drop=True)


def _plan(pid, path, type_="urban_general", **kw):
    entry = {
        "id": pid,
        "name": f"Quy hoạch {pid}",
        "type": type_,
        "path": path,
        "code_field": "ma",
        "label_field": "ten",
        "decision": "12/QĐ-UBND",
        "approved": "2020-01-31",
        "authority": "UBND tỉnh Kiên Giang",
        "id_field": "so_hieu",
    }
    entry.update(kw)
    return entry


def _write_registry(folder: Path, plans: list[dict], **top) -> Path:
    data = {
        "province": "kien-giang",
        "master": {"path": "master.gpkg", "code_field": "MA_QH", "label_field": "TEN"},
        "rules": "rules.csv",
        "plans": plans,
        **top,
    }
    path = folder / "registry.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(registry, out, **kw) -> batch_mod.BatchResult:
    return run_batch(BatchOptions(registry=registry, out=out, formats=(), plan_maps=False, **kw))


def test_batch_figures_by_hand(province, tmp_path):
    reg = _write_registry(
        province, [_plan("qhc-a", "plan_a.gpkg"), _plan("nt-b", "plan_b.shp", type_="rural", min_area=0)]
    )
    result = _run(reg, tmp_path / "out", jobs=2)
    assert [p.status for p in result.plans] == ["checked", "checked"]
    assert all(p.needs_adjustment for p in result.plans)
    s = result.summary
    assert s["totals"]["conflict_area_m2"] == pytest.approx(2 * CONFLICT_AREA)
    assert s["totals"]["conflict_length_m"] == pytest.approx(CONFLICT_LENGTH)  # the shapefile has no line
    assert s["totals"]["conditional_area_m2"] == pytest.approx(2 * 3600)
    assert s["totals"]["conditional_length_m"] == pytest.approx(90)
    by_type = {row["type"]: row for row in s["by_plan_type"]}
    assert by_type["rural"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)
    assert by_type["urban_general"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)
    assert by_type["rural"]["plans"] == 1
    by_plan = {row["plan_id"]: row for row in s["by_plan"]}
    assert by_plan["qhc-a"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)
    assert by_plan["nt-b"]["decision"] == "12/QĐ-UBND" and by_plan["nt-b"]["approved"] == "2020-01-31"
    assert by_plan["nt-b"]["needs_adjustment"] is True
    assert {(u["plan_id"], u["plan_code"], u["master_code"]) for u in s["unreviewed"]} == {
        ("qhc-a", "SKK", "ODT"),
        ("nt-b", "SKK", "ODT"),
    }
    assert s["failed"] == []
    assert s["methodology"]["rules"]["sha256"] and s["methodology"]["analysis_crs"]
    assert result.exit_code == 1
    # The province conflicts are every plan's rows, told apart by plan_id.
    assert sorted(result.conflicts["plan_id"].unique()) == ["nt-b", "qhc-a"]
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert written["totals"]["conflict_area_m2"] == pytest.approx(2 * CONFLICT_AREA)
    for pid in ("qhc-a", "nt-b"):
        assert (tmp_path / "out" / pid / "conflicts.gpkg").is_file()
        plan_summary = json.loads((tmp_path / "out" / pid / "summary.json").read_text(encoding="utf-8"))
        assert plan_summary["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)


def test_failing_plan_does_not_stop_the_batch(province, tmp_path):
    shutil.copy(province / "plan_b.shp", province / "broken.shp")
    shutil.copy(province / "plan_b.dbf", province / "broken.dbf")  # no .shx: unreadable
    nocrs = province / "nocrs.shp"
    for ext in (".shp", ".shx", ".dbf"):
        shutil.copy(province / f"plan_b{ext}", nocrs.with_suffix(ext))  # no .prj and no assume_crs
    reg = _write_registry(
        province,
        [_plan("broken", "broken.shp"), _plan("good", "plan_a.gpkg"), _plan("no-crs", "nocrs.shp", type_="rural")],
    )
    out = tmp_path / "out"
    rc = _cli(["batch", str(reg), "--out", str(out), "--report", "none", "-q"])
    assert rc == 1
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    failed = {f["id"]: f["reason"] for f in s["failed"]}
    assert set(failed) == {"broken", "no-crs"}
    assert ".shx" in failed["broken"]
    # batch has no --assume-crs option: the message names the registry key that fixes it.
    assert "registry key assume_crs of plan 'no-crs'" in failed["no-crs"]
    assert "--assume-crs" not in failed["no-crs"]
    assert {row["plan_id"]: row["status"] for row in s["by_plan"]} == {
        "broken": "failed",
        "good": "checked",
        "no-crs": "failed",
    }
    assert s["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)
    assert (out / "good" / "conflicts.gpkg").is_file()
    assert not (out / "broken").exists()


def test_only_failures_exit_1(province, tmp_path):
    """No conflict anywhere but a failed plan still gives exit 1."""
    frame = geoms.plan_frame()
    frame.iloc[[3]].to_file(province / "clean.gpkg")  # P3 ODT on ODT: compatible
    shutil.copy(province / "plan_b.shp", province / "broken.shp")
    reg = _write_registry(province, [_plan("clean", "clean.gpkg"), _plan("broken", "broken.shp")])
    result = _run(reg, tmp_path / "out")
    assert result.summary["totals"]["conflict_rows"] == 0
    assert [p.status for p in result.plans] == ["checked", "failed"]
    assert result.exit_code == 1


def test_exit_0_when_clean(province, tmp_path):
    geoms.plan_frame().iloc[[3]].to_file(province / "clean.gpkg")
    reg = _write_registry(province, [_plan("clean", "clean.gpkg")])
    assert _cli(["batch", str(reg), "--out", str(tmp_path / "out"), "--report", "none", "-q"]) == 0
    # Resumed from an empty conflicts.gpkg: still clean.
    result = _run(reg, tmp_path / "out", resume=True)
    assert [p.status for p in result.plans] == ["unchanged"]
    assert len(result.conflicts) == 0 and result.exit_code == 0


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = batch_mod.check_one

    def counted(ctx, spec, opts, *args, **kwargs):
        calls.append(spec.plan_id)
        return real(ctx, spec, opts, *args, **kwargs)

    monkeypatch.setattr(batch_mod, "check_one", counted)
    return calls


def test_resume_does_no_work_twice(province, tmp_path, monkeypatch):
    reg = _write_registry(province, [_plan("qhc-a", "plan_a.gpkg"), _plan("nt-b", "plan_b.shp", type_="rural")])
    out = tmp_path / "out"
    calls = _counting(monkeypatch)
    first = _run(reg, out, resume=True)
    assert sorted(calls) == ["nt-b", "qhc-a"]
    assert (out / "qhc-a" / STATE_FILE).is_file()

    calls.clear()
    second = _run(reg, out, resume=True)
    assert calls == []
    assert [p.status for p in second.plans] == ["unchanged", "unchanged"]
    assert second.summary["totals"]["conflict_area_m2"] == pytest.approx(first.summary["totals"]["conflict_area_m2"])
    assert second.summary["totals"]["conflict_rows"] == first.summary["totals"]["conflict_rows"]
    assert second.exit_code == 1 and all(p.needs_adjustment for p in second.plans)
    assert second.summary["unreviewed"] == first.summary["unreviewed"]

    # A sidecar of the shapefile changes (its attribute table): only that plan runs again.
    frame = _polygons()
    frame.loc[2, "ma"] = "ODT"  # P4 becomes ODT on ODT: the 3600 m² conditional piece goes
    frame.to_file(province / "plan_b.shp")
    calls.clear()
    third = _run(reg, out, resume=True)
    assert calls == ["nt-b"]
    assert {p.id: p.status for p in third.plans} == {"qhc-a": "unchanged", "nt-b": "checked"}
    assert third.summary["totals"]["conditional_area_m2"] == pytest.approx(3600)

    # Without --resume everything runs.
    calls.clear()
    _run(reg, out)
    assert sorted(calls) == ["nt-b", "qhc-a"]


def test_resume_reruns_all_when_rules_or_entry_change(province, tmp_path, monkeypatch):
    reg = _write_registry(province, [_plan("qhc-a", "plan_a.gpkg"), _plan("nt-b", "plan_b.shp")])
    out = tmp_path / "out"
    calls = _counting(monkeypatch)
    _run(reg, out, resume=True)
    (province / "rules.csv").write_text(geoms.RULES_CSV + "R06,SKK,ODT,conditional,low,,\n", encoding="utf-8")
    calls.clear()
    result = _run(reg, out, resume=True)
    assert sorted(calls) == ["nt-b", "qhc-a"]
    assert result.summary["unreviewed"] == []  # the new rule covers SKK on ODT
    # A registry entry changes (its min_area): that plan only.
    _write_registry(province, [_plan("qhc-a", "plan_a.gpkg"), _plan("nt-b", "plan_b.shp", min_area=5)])
    calls.clear()
    _run(reg, out, resume=True)
    assert calls == ["nt-b"]


def _cli(args) -> int:
    """main()'s exit code, whether it returns it or raises SystemExit."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def test_registry_lists_every_problem_at_once(province, tmp_path, capsys):
    plans = [
        _plan("qhc-a", "plan_a.gpkg"),
        _plan("qhc-a", "missing.gpkg"),  # duplicate id, missing file
        {**_plan("bad-type", "plan_a.gpkg", type_="sectoral"), "colour": "red"},  # bad type, unknown key
        {k: v for k, v in _plan("no-name", "plan_a.gpkg").items() if k != "name"},  # missing key
        _plan("bad-date", "plan_a.gpkg", approved="31/02/2020", encoding="klingon", assume_crs="EPSG:999999"),
        _plan("bad/id", "plan_a.gpkg", min_area=-1),
        _plan("QHC-A", "plan_a.gpkg"),  # the folder of qhc-a on a Windows share
        _plan("con", "plan_a.gpkg"),  # a Windows device name
    ]
    reg = _write_registry(province, plans, admin={"path": "xa.gpkg"}, extra_key=1)
    out = tmp_path / "out"
    with pytest.raises(RegistryError) as exc:
        load_registry(reg)
    problems = exc.value.problems
    text = "\n".join(problems)
    expected = [
        "extra_key: unknown key",
        "admin.path: file not found",
        "plans[1] (qhc-a).id: 'qhc-a' is already the id of plans[0]",
        "plans[1] (qhc-a).path: file not found",
        "plans[2] (bad-type).type",
        "plans[2] (bad-type).colour: unknown key",
        "plans[3] (no-name).name: missing key",
        "plans[4] (bad-date).approved",
        "plans[4] (bad-date).encoding: unknown text encoding 'klingon'",
        "plans[4] (bad-date).assume_crs",
        "plans[5] (bad/id).id",
        "plans[5] (bad/id).min_area",
        "plans[6] (QHC-A).id: 'QHC-A' is already the id of plans[0] (ids name folders, whose case Windows ignores)",
        "plans[7] (con).id: 'con' is not a usable id: Windows reserves that name",
    ]
    for piece in expected:
        assert piece in text, piece
    assert len(problems) == len(expected)

    rc = _cli(["batch", str(reg), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "14 problem(s)" in err and "klingon" in err
    assert err.startswith("kgspatial: error:") and err.count("\n") == 1  # one line, no empty line before it
    assert not out.exists()


def test_registry_impossible_date_is_one_of_its_problems(province, tmp_path, capsys):
    """YAML reads 2021-02-30 as a date and PyYAML raises a bare ValueError while parsing."""
    reg = _write_registry(province, [_plan("a", "plan_a.gpkg"), _plan("b", "missing.gpkg")])
    text = reg.read_text(encoding="utf-8")
    text = text.replace("approved: '2020-01-31'", "approved: 2020-01-31")  # unquoted: a YAML date
    text = text.replace("approved: 2020-01-31", "approved: 2021-02-30", 1)
    reg.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as exc:
        load_registry(reg)
    assert exc.value.problems == [
        "plans[0] (a).approved: 2021-02-30 is not a date (year-month-day)",
        f"plans[1] (b).path: file not found: {province / 'missing.gpkg'}",
    ]
    rc = _cli(["batch", str(reg), "--out", str(tmp_path / "out"), "--report", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "2021-02-30 is not a date" in err


@pytest.mark.parametrize(
    "text, where",
    [
        ("province: kien-giang\nplans:\n\t- id: a\n", "line 3, column 1"),  # a tab
        ("province: kien-giang\nmaster:\n  path: a.gpkg\n code_field: MA\n", "line 4, column 2"),  # indentation
    ],
)
def test_registry_yaml_syntax_error_is_one_line_with_its_place(tmp_path, capsys, text, where):
    reg = tmp_path / "registry.yaml"
    reg.write_text(text, encoding="utf-8")
    rc = _cli(["batch", str(reg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"kgspatial: error: {reg}: 1 lỗi / 1 problem(s): not valid YAML at {where}: ")
    assert "<unicode string>" not in err and "^" not in err


def test_master_without_crs_points_at_the_registry_key(province, tmp_path):
    geoms.master_frame().to_file(province / "master_nocrs.shp")
    (province / "master_nocrs.prj").unlink()
    reg = _write_registry(province, [_plan("a", "plan_a.gpkg")])
    reg.write_text(reg.read_text(encoding="utf-8").replace("master.gpkg", "master_nocrs.shp"), encoding="utf-8")
    with pytest.raises(KgSpatialError, match="registry key master.assume_crs, e.g. assume_crs: EPSG:9207") as exc:
        _run(reg, tmp_path / "out")
    assert "--assume-crs" not in str(exc.value)


def test_batch_help_is_for_users():
    """The usage line names the argument plainly and the help points to the README, not CONTRACT."""
    from typer.testing import CliRunner

    from kgspatial.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["batch", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "kgspatial batch [OPTIONS] REGISTRY" in result.output
    assert "{REGISTRY}" not in result.output and "{registry}" not in result.output
    assert "CONTRACT" not in result.output
    assert "README" in result.output and "registry.yaml" in result.output


def test_registry_relative_paths_and_defaults(province, tmp_path):
    sub = tmp_path / "registers"
    sub.mkdir()
    data = {
        "province": "kien-giang",
        "master": {"path": "../data/master.gpkg", "code_field": "MA_QH"},
        "plans": [_plan("qhc-a", "../data/plan_a.gpkg", approved="10/05/2019")],
    }
    path = sub / "r.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    reg = load_registry(path)
    assert reg.master.path == str((province / "master.gpkg").resolve())
    assert reg.rules == reg.profile.rules  # the province profile's rules table
    assert reg.admin is None
    assert str(reg.plans[0].approved) == "2019-05-10"  # Vietnamese day/month/year
    with pytest.raises(RegistryError, match="province"):
        load_registry(_write_registry(province, [_plan("a", "plan_a.gpkg")], province="atlantis"))
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("province: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(bad_yaml)


def test_cli_progress_and_layer_key(province, tmp_path, capsys):
    """PATH plus `layer:`; the progress messages and outcome go to stderr."""
    geoms.plan_frame().to_file(province / "two.gpkg", layer="zoning")
    geoms.master_frame().to_file(province / "two.gpkg", layer="other")
    reg = _write_registry(province, [_plan("qhpk", "two.gpkg", type_="urban_zoning", layer="zoning")])
    rc = _cli(["batch", str(reg), "--out", str(tmp_path / "out"), "--report", "none", "--jobs", "2"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "1 plan(s): 1 checked" in err and "qhpk" in err
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert s["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_AREA)


def test_unknown_report_format_is_exit_2(province, tmp_path):
    reg = _write_registry(province, [_plan("a", "plan_a.gpkg")])
    assert _cli(["batch", str(reg), "--out", str(tmp_path / "out"), "--report", "docx"]) == 2
    assert not (tmp_path / "out").exists()


def test_resume_writes_reports_asked_for_later(province, tmp_path, monkeypatch):
    """Checked without reports, then resumed with --report xlsx: no re-check, the workbooks appear."""
    pytest.importorskip("openpyxl")
    reg = _write_registry(province, [_plan("qhc-a", "plan_a.gpkg")])
    out = tmp_path / "out"
    calls = _counting(monkeypatch)
    _run(reg, out, resume=True)
    assert not (out / "qhc-a" / "report.xlsx").exists()
    calls.clear()
    result = run_batch(BatchOptions(registry=reg, out=out, resume=True, formats=("xlsx",), plan_maps=False))
    assert calls == [] and result.plans[0].status == "unchanged"
    assert (out / "qhc-a" / "report.xlsx").is_file()
    assert (out / "report.xlsx").is_file()
