"""The plain geopandas way to check a plan against the master plan: the benchmark's yardstick.

What a GIS analyst fluent in geopandas would write without thinking about speed:
``read_file`` -> ``overlay(plan, master, "intersection")`` -> attach the matching rule to each
piece (CONTRACT §3 precedence, implemented here independently with pandas merges) -> keep the
``conflict`` / ``conditional`` pieces -> ``overlay(pieces, communes, "intersection")`` -> sum
the areas by rule and by commune -> JSON. It shares no code with kgspatial on purpose, so the
two can check each other's areas.

Usage::

    python bench/baseline_geopandas.py --master master.gpkg --plan plan.gpkg \
        --communes communes.gpkg --rules layers/kien-giang/rules.csv --out baseline.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ANALYSIS_CRS = "EPSG:9207"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_TAXONOMY = REPO / "layers" / "taxonomy.csv"
DEFAULT_RULES = REPO / "layers" / "kien-giang" / "rules.csv"
WILDCARD = "*"
REPORTED = ("conflict", "conditional")


def norm(values: pd.Series) -> pd.Series:
    """Codes are compared trimmed and upper-cased (CONTRACT §1)."""
    return values.astype("string").str.strip().str.upper()


class Taxonomy:
    """Codes, their canonical form and their ancestors (a code's `group`, its group's, ...)."""

    def __init__(self, path: Path):
        # Only the tree is needed; reading just these columns also survives a stray comma in
        # a free-text column further right.
        tax = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["code", "group"])
        tax["code"] = norm(tax["code"])
        tax["group"] = norm(tax["group"])
        self.canonical = {c: c for c in tax["code"]}
        # Old codes (Circular 27/2018 and earlier) and their current code, when shipped beside.
        aliases = path.with_name("taxonomy_aliases.csv")
        if aliases.exists():
            al = pd.read_csv(aliases, dtype=str, keep_default_na=False)
            self.canonical.update(zip(norm(al["alias"]), norm(al["code"])))
        parent = {c: g for c, g in zip(tax["code"], tax["group"]) if g and g != c}
        self.codes = set(tax["code"])
        self.ancestors = {c: self._chain(c, parent) for c in self.codes}

    @staticmethod
    def _chain(code, parent):
        chain, seen = [], {code}
        while code in parent and parent[code] not in seen:
            code = parent[code]
            seen.add(code)
            chain.append(code)
        return chain

    def canon(self, values: pd.Series) -> pd.Series:
        """Normalise, then map through the taxonomy; unknown codes are kept as written."""
        v = norm(values)
        return v.map(lambda c: self.canonical.get(c, c) if c is not pd.NA else c)

    def expand(self, codes) -> pd.DataFrame:
        """Every rule key a code matches, with its score: 2 itself, 1 each ancestor, 0 `*`.

        A code the taxonomy does not know only matches `*`."""
        rows = []
        for code in pd.unique(pd.Series(list(codes), dtype="string").dropna()):
            rows.append((code, WILDCARD, 0))
            if code in self.codes:
                rows.append((code, code, 2))
                rows.extend((code, a, 1) for a in self.ancestors[code])
        return pd.DataFrame(rows, columns=["code", "key", "score"])


def match_rules(pairs: pd.DataFrame, rules: pd.DataFrame, tax: Taxonomy) -> pd.DataFrame:
    """One row per (plan_code, master_code) pair with the winning rule's columns.

    Highest plan+master score wins, then the higher plan score; a tie left is a table error.
    Same (taxonomy) code on both sides is compatible unless a rule names exactly that pair.
    Pairs no rule covers get verdict "unreviewed"."""
    p = tax.expand(pairs["plan_code"]).rename(columns={"code": "plan_code", "key": "rule_plan", "score": "plan_score"})
    m = tax.expand(pairs["master_code"]).rename(
        columns={"code": "master_code", "key": "rule_master", "score": "master_score"}
    )
    cand = (
        pairs.merge(p, on="plan_code")
        .merge(m, on="master_code")
        .merge(
            rules.rename(columns={"plan_code": "rule_plan", "master_code": "rule_master"}),
            on=["rule_plan", "rule_master"],
        )
    )
    same = (cand["plan_code"] == cand["master_code"]) & cand["plan_code"].isin(tax.codes)
    exact = (cand["plan_score"] == 2) & (cand["master_score"] == 2)
    cand = cand[~same | exact]
    cand = cand.assign(total=cand["plan_score"] + cand["master_score"])
    cand = cand.sort_values(["plan_code", "master_code", "total", "plan_score"], ascending=[True, True, False, False])
    top = cand.groupby(["plan_code", "master_code"], sort=False)[["total", "plan_score"]]
    best = cand[(cand["total"] == top.transform("max")["total"])]
    best = best[best["plan_score"] == best.groupby(["plan_code", "master_code"])["plan_score"].transform("max")]
    ties = best.groupby(["plan_code", "master_code"])["rule_id"].agg(list)
    ties = ties[ties.map(len) > 1]
    if len(ties):
        raise SystemExit(
            "rules table error: ties " + "; ".join(f"{p}/{m}: {', '.join(ids)}" for (p, m), ids in ties.items())
        )
    out = pairs.merge(
        best[["plan_code", "master_code", "rule_id", "verdict", "severity"]],
        on=["plan_code", "master_code"],
        how="left",
    )
    same_pair = (out["plan_code"] == out["master_code"]) & out["plan_code"].isin(tax.codes)
    out.loc[out["verdict"].isna() & same_pair, "verdict"] = "compatible"
    out["verdict"] = out["verdict"].fillna("unreviewed")
    return out


def read_rules(path: Path, tax: Taxonomy) -> pd.DataFrame:
    """The rules CSV with codes canonicalised like the layers' codes (`*` kept)."""
    rules = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    rules.columns = [c.strip().lower() for c in rules.columns]
    rules = rules[rules["rule_id"].str.strip() != ""].copy()
    for side in ("plan_code", "master_code"):
        raw = rules[side].str.strip()
        rules[side] = tax.canon(raw).where(raw != WILDCARD, WILDCARD)
    rules["verdict"] = rules["verdict"].str.strip().str.lower()
    rules["severity"] = rules["severity"].str.strip().str.lower()
    rules["rule_id"] = rules["rule_id"].str.strip()
    return rules[["rule_id", "plan_code", "master_code", "verdict", "severity"]]


def read_layer(path: str):
    """read_file with pyogrio (Arrow transport), or read_parquet for GeoParquet; projected to
    the analysis CRS if needed."""
    import geopandas as gpd

    if str(path).lower().endswith((".parquet", ".geoparquet")):
        gdf = gpd.read_parquet(path)
    else:
        gdf = gpd.read_file(path, engine="pyogrio", use_arrow=True)
    if gdf.crs is None:
        raise SystemExit(f"{path}: no CRS")
    return gdf if gdf.crs.equals(ANALYSIS_CRS) else gdf.to_crs(ANALYSIS_CRS)


def main(argv=None) -> int:
    # Here, not at the top: bench/duckdb_spatial.py borrows the rule matcher without geopandas.
    import geopandas as gpd

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--communes", required=True)
    ap.add_argument("--rules", type=Path, default=DEFAULT_RULES)
    ap.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY)
    ap.add_argument("--master-field", default="MA_QH")
    ap.add_argument("--plan-field", default="ma")
    ap.add_argument("--admin-field", default="ma_xa")
    ap.add_argument("--admin-name-field", default="ten_xa")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    a = ap.parse_args(argv)
    t = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        t[name] = round(now - clock, 3)
        clock = now

    tax = Taxonomy(a.taxonomy)
    rules = read_rules(a.rules, tax)
    master = read_layer(a.master)
    plan = read_layer(a.plan)
    communes = read_layer(a.communes)
    master = gpd.GeoDataFrame({"master_code": tax.canon(master[a.master_field])}, geometry=master.geometry)
    plan = gpd.GeoDataFrame({"plan_code": tax.canon(plan[a.plan_field])}, geometry=plan.geometry)
    communes = gpd.GeoDataFrame(
        {"admin_code": communes[a.admin_field].astype(str), "admin_name": communes[a.admin_name_field].astype(str)},
        geometry=communes.geometry,
    )
    lap("read")

    with warnings.catch_warnings():
        # keep_geom_type drops the line/point contacts of touching polygons; that is wanted.
        warnings.simplefilter("ignore", UserWarning)
        pieces = gpd.overlay(plan, master, how="intersection")
    lap("overlay_master")

    pairs = pieces[["plan_code", "master_code"]].drop_duplicates()
    verdicts = match_rules(pairs, rules, tax)
    pieces = pieces.merge(verdicts, on=["plan_code", "master_code"], how="left")
    pieces["area_m2"] = pieces.area
    lap("rules")

    flagged = pieces[pieces["verdict"].isin(REPORTED)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        split = gpd.overlay(flagged, communes, how="intersection")
    split["area_m2"] = split.area
    lap("overlay_admin")

    by_verdict = pieces.groupby("verdict")["area_m2"].sum()
    by_rule = (
        split.groupby(["rule_id", "verdict", "severity"])["area_m2"]
        .agg(area_m2="sum", count="size")
        .reset_index()
        .sort_values("rule_id")
    )
    split["conflict_area_m2"] = split["area_m2"].where(split["verdict"] == "conflict", 0.0)
    by_admin = (
        split.groupby(["admin_code", "admin_name"])
        .agg(area_m2=("area_m2", "sum"), conflict_area_m2=("conflict_area_m2", "sum"), count=("area_m2", "size"))
        .reset_index()
        .sort_values("admin_code")
    )
    unreviewed = (
        pieces[pieces["verdict"] == "unreviewed"]
        .groupby(["plan_code", "master_code"])["area_m2"]
        .agg(area_m2="sum", count="size")
        .reset_index()
    )
    split_total = float(split["area_m2"].sum())
    flagged_total = float(flagged["area_m2"].sum())
    result = {
        "tool": "geopandas.overlay baseline",
        "versions": {
            "geopandas": gpd.__version__,
            "pandas": pd.__version__,
            "shapely": __import__("shapely").__version__,
            "geos": ".".join(map(str, __import__("shapely").geos_version)),
        },
        "inputs": {
            "master": {"path": a.master, "features": len(master)},
            "plan": {"path": a.plan, "features": len(plan)},
            "communes": {"path": a.communes, "features": len(communes)},
            "rules": str(a.rules),
            "taxonomy": str(a.taxonomy),
        },
        "totals": {
            # After the commune split, like kgspatial's rows.
            "conflict_area_m2": float(split.loc[split["verdict"] == "conflict", "area_m2"].sum()),
            "conditional_area_m2": float(split.loc[split["verdict"] == "conditional", "area_m2"].sum()),
            "flagged_area_m2": split_total,
            "pieces": int(len(split)),
            # Before the split: the same area unless some falls outside every commune.
            "flagged_area_before_admin_m2": flagged_total,
            "outside_admin_area_m2": flagged_total - split_total,
            "pieces_before_admin": int(len(flagged)),
            "overlay_area_m2": float(pieces["area_m2"].sum()),
            "overlay_pieces": int(len(pieces)),
            "compatible_area_m2": float(by_verdict.get("compatible", 0.0)),
            "unreviewed_area_m2": float(by_verdict.get("unreviewed", 0.0)),
        },
        "by_rule": by_rule.to_dict("records"),
        "by_admin": by_admin.to_dict("records"),
        "unreviewed": unreviewed.to_dict("records"),
        "seconds": t,
    }
    lap("aggregate")
    result["seconds"] = t
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=_json) + "\n", encoding="utf-8")
    print(
        f"baseline: {len(split)} flagged pieces, {split_total:,.1f} m2; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()),
        file=sys.stderr,
    )
    return 0


def _json(value):
    """numpy scalars and pandas NA in the records."""
    if hasattr(value, "item"):
        return value.item()
    if value is pd.NA:
        return None
    raise TypeError(type(value))


if __name__ == "__main__":
    sys.exit(main())
