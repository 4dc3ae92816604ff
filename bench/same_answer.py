"""Do two kgspatial output folders give the same answer?  Conflict rows row by row.

An optimisation must leave the rows as they were: the same conflict ids in the same order, the
same attributes, areas and lengths to 1e-10 relative, and the geometries equal (byte for byte
with --bytes; else equal to 1e-10 of their area by symmetric difference). Exit 0 when they agree.

Usage::

    python bench/same_answer.py OLD_OUT NEW_OUT [--bytes]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyogrio
import shapely

RTOL = 1e-10
MEASURES = ("area_m2", "length_m", "share")


def read(folder: Path):
    meta, table = pyogrio.read_arrow(folder / "conflicts.gpkg", layer="conflicts")
    return meta, table


def differences(old: Path, new: Path, exact_bytes: bool = False) -> list[str]:
    (m0, a), (_, b) = read(old), read(new)
    problems = []
    if a.num_rows != b.num_rows:
        return [f"{a.num_rows} rows against {b.num_rows}"]
    if a.column_names != b.column_names:
        return [f"columns {a.column_names} against {b.column_names}"]
    geom = m0["geometry_name"] or "wkb_geometry"
    for name in a.column_names:
        x, y = a.column(name).to_numpy(zero_copy_only=False), b.column(name).to_numpy(zero_copy_only=False)
        if name == geom:
            if exact_bytes:
                bad = np.nonzero(np.array([p != q for p, q in zip(x, y)], dtype=bool))[0]
            else:
                g, h = shapely.from_wkb(x), shapely.from_wkb(y)
                size = np.maximum(shapely.area(g), shapely.length(g))
                off = shapely.area(shapely.symmetric_difference(g, h)) if len(g) else np.zeros(0)
                bad = np.nonzero(off > RTOL * np.maximum(size, 1e-9))[0]
        elif name in MEASURES:
            x, y = x.astype(float), y.astype(float)
            bad = np.nonzero(np.abs(x - y) > RTOL * np.maximum(np.abs(x), np.abs(y)))[0]
        else:
            bad = np.nonzero(np.array([p != q for p, q in zip(x, y)], dtype=bool))[0]
        if len(bad):
            problems.append(
                f"{name}: {len(bad)} row(s) differ, first at row {bad[0]}: {x[bad[0]]!r} against {y[bad[0]]!r}"
            )
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--bytes", action="store_true", help="geometries must be byte-identical WKB")
    a = ap.parse_args(argv)
    problems = differences(a.old, a.new, a.bytes)
    for p in problems:
        print(p)
    if not problems:
        print(f"same answer: conflict rows identical ({'bytes' if a.bytes else f'to {RTOL:g}'})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
