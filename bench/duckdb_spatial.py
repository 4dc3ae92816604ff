"""The DuckDB spatial way to check a plan against the master plan: the second yardstick.

What a user who outgrew geopandas writes in DuckDB SQL: ``ST_Read`` the three layers, an
``ST_Intersects`` join of plan x master joined to the rules' code pairs, ``ST_Intersection``,
the same again with the communes, and ``COPY ... (FORMAT GDAL, DRIVER 'GPKG')`` of the pieces.
The rules are matched to code pairs once, in pandas, by the geopandas baseline's own matcher
(CONTRACT §3 precedence; it shares no code with kgspatial), and handed to DuckDB as a table of
(plan code, master code) -> rule for the reported verdicts only. It writes the same JSON as
``baseline_geopandas.py`` (totals, by_rule, by_admin) so run_bench.py compares the three.

DuckDB spatial installs offline from PyPI: ``duckdb==1.5.5`` and ``duckdb-extension-spatial==1.5.5``
(``INSTALL '<path of its .duckdb_extension>'; LOAD spatial``).

Usage::

    python bench/duckdb_spatial.py --master master.gpkg --plan plan.gpkg --communes communes.gpkg \
        --rules rules.csv --out duckdb.json --gpkg conflicts.gpkg
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from baseline_geopandas import DEFAULT_RULES, DEFAULT_TAXONOMY, REPORTED, Taxonomy, match_rules, read_rules  # noqa: E402

ANALYSIS_EPSG = 9207


def spatial_extension() -> str:
    """The .duckdb_extension file the PyPI wheel duckdb-extension-spatial ships."""
    import duckdb_extension_spatial

    root = Path(next(iter(duckdb_extension_spatial.__path__)))
    found = sorted(root.rglob("spatial.duckdb_extension"))
    if not found:
        raise SystemExit(f"no spatial.duckdb_extension under {root}")
    return str(found[-1])


def rule_pairs(con, tax: Taxonomy, rules: pd.DataFrame) -> pd.DataFrame:
    """(plan raw code, master raw code) -> reported rule, for the codes the layers hold."""
    plan_raw = [r[0] for r in con.execute("SELECT DISTINCT raw FROM plan WHERE raw IS NOT NULL").fetchall()]
    master_raw = [r[0] for r in con.execute("SELECT DISTINCT raw FROM master WHERE raw IS NOT NULL").fetchall()]
    canon_p = dict(zip(plan_raw, tax.canon(pd.Series(plan_raw))))
    canon_m = dict(zip(master_raw, tax.canon(pd.Series(master_raw))))
    pairs = pd.DataFrame(
        sorted(set(itertools.product(canon_p.values(), canon_m.values()))), columns=["plan_code", "master_code"]
    )
    matched = match_rules(pairs, rules, tax)
    matched = matched[matched["verdict"].isin(REPORTED)]
    raw = pd.DataFrame(
        [(rp, rm, cp, cm) for rp, cp in canon_p.items() for rm, cm in canon_m.items()],
        columns=["plan_raw", "master_raw", "plan_code", "master_code"],
    )
    return raw.merge(matched, on=["plan_code", "master_code"])[
        ["plan_raw", "master_raw", "plan_code", "master_code", "rule_id", "verdict", "severity"]
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--communes", required=True)
    ap.add_argument("--rules", type=Path, default=DEFAULT_RULES)
    ap.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY)
    ap.add_argument("--master-field", default="MA_QH")
    ap.add_argument("--master-label-field", default="TEN")
    ap.add_argument("--plan-field", default="ma")
    ap.add_argument("--plan-label-field", default="ten")
    ap.add_argument("--admin-field", default="ma_xa")
    ap.add_argument("--admin-name-field", default="ten_xa")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--gpkg", type=Path, default=None, help="conflict pieces GeoPackage (default beside --out)")
    a = ap.parse_args(argv)
    t: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        t[name] = round(now - clock, 3)
        clock = now

    con = duckdb.connect()
    con.execute(f"INSTALL '{spatial_extension()}'; LOAD spatial;")
    if a.threads:
        con.execute(f"SET threads = {int(a.threads)}")
    tax = Taxonomy(a.taxonomy)
    rules = read_rules(a.rules, tax)

    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    con.execute(
        f"CREATE TABLE plan AS SELECT row_number() OVER () AS plan_feature, upper(trim({q(a.plan_field)})) AS raw,"
        f" {q(a.plan_label_field)} AS plan_label, geom FROM ST_Read(?)",
        [a.plan],
    )
    con.execute(
        f"CREATE TABLE master AS SELECT row_number() OVER () AS master_feature,"
        f" upper(trim({q(a.master_field)})) AS raw, {q(a.master_label_field)} AS master_label, geom"
        f" FROM ST_Read(?)",
        [a.master],
    )
    con.execute(
        f"CREATE TABLE communes AS SELECT CAST({q(a.admin_field)} AS VARCHAR) AS admin_code,"
        f" CAST({q(a.admin_name_field)} AS VARCHAR) AS admin_name, geom FROM ST_Read(?)",
        [a.communes],
    )
    lap("read")
    pairs = rule_pairs(con, tax, rules)
    con.register("pairs_df", pairs)
    con.execute("CREATE TABLE pairs AS SELECT * FROM pairs_df")
    lap("rules")

    # The spatial join first (DuckDB's SPATIAL_JOIN operator on ST_Intersects), then the rules.
    con.execute("""
        CREATE TABLE pieces AS
        WITH touching AS MATERIALIZED (
            SELECT p.plan_feature, p.raw AS plan_raw, p.plan_label, p.geom AS pg,
                   m.master_feature, m.raw AS master_raw, m.master_label, m.geom AS mg
            FROM plan p JOIN master m ON ST_Intersects(p.geom, m.geom)
        )
        SELECT t.plan_feature, t.master_feature, r.plan_code, r.master_code, t.plan_label, t.master_label,
               r.rule_id, r.verdict, r.severity, ST_Intersection(t.pg, t.mg) AS geom
        FROM touching t JOIN pairs r ON r.plan_raw = t.plan_raw AND r.master_raw = t.master_raw
    """)
    lap("overlay_master")
    con.execute("""
        CREATE TABLE split AS
        SELECT s.* EXCLUDE (geom), c.admin_code, c.admin_name,
               ST_CollectionExtract(ST_Intersection(s.geom, c.geom), 3) AS geom
        FROM pieces s JOIN communes c ON ST_Intersects(s.geom, c.geom)
    """)
    con.execute("CREATE TABLE rows AS SELECT *, ST_Area(geom) AS area_m2 FROM split WHERE ST_Area(geom) > 0")
    lap("overlay_admin")

    gpkg = a.gpkg or a.out.with_suffix(".gpkg")
    gpkg.unlink(missing_ok=True)
    con.execute(
        f"COPY (SELECT * FROM rows) TO '{gpkg}' WITH (FORMAT GDAL, DRIVER 'GPKG',"
        f" SRS 'EPSG:{ANALYSIS_EPSG}', LAYER_NAME 'conflicts', GEOMETRY_TYPE 'MULTIPOLYGON')"
    )
    lap("write")

    by_rule = con.execute(
        "SELECT rule_id, verdict, severity, sum(area_m2) AS area_m2, count(*) AS count FROM rows"
        " GROUP BY ALL ORDER BY rule_id"
    ).df()
    by_admin = con.execute(
        "SELECT admin_code, admin_name, sum(area_m2) AS area_m2,"
        " sum(CASE WHEN verdict = 'conflict' THEN area_m2 ELSE 0 END) AS conflict_area_m2,"
        " count(*) AS count FROM rows GROUP BY ALL ORDER BY admin_code"
    ).df()
    totals = con.execute(
        "SELECT sum(CASE WHEN verdict = 'conflict' THEN area_m2 ELSE 0 END),"
        " sum(CASE WHEN verdict = 'conditional' THEN area_m2 ELSE 0 END), sum(area_m2), count(*)"
        " FROM rows"
    ).fetchone()
    result = {
        "tool": "DuckDB spatial",
        "versions": {"duckdb": duckdb.__version__},
        "inputs": {"master": a.master, "plan": a.plan, "communes": a.communes, "rules": str(a.rules)},
        "totals": {
            "conflict_area_m2": float(totals[0] or 0),
            "conditional_area_m2": float(totals[1] or 0),
            "flagged_area_m2": float(totals[2] or 0),
            "pieces": int(totals[3]),
        },
        "by_rule": by_rule.to_dict("records"),
        "by_admin": by_admin.to_dict("records"),
        "gpkg": str(gpkg),
    }
    lap("aggregate")
    result["seconds"] = t
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=_json) + "\n", encoding="utf-8")
    print(
        f"duckdb: {result['totals']['pieces']} pieces, {result['totals']['flagged_area_m2']:,.1f} m2; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()),
        file=sys.stderr,
    )
    return 0


def _json(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(type(value))


if __name__ == "__main__":
    sys.exit(main())
