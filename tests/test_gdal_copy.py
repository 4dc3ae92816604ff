"""The lock-down deregisters drivers in pyogrio's own GDAL, whatever other copies are loaded:
rasterio's wheel (the hazards) brings another libgdal, also under site-packages/, and the service
refused to start ("GDAL drivers still registered") once rasterio had been imported first."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_lock_down_finds_pyogrios_gdal_with_rasterio_loaded_first():
    pytest.importorskip("rasterio")
    code = (
        "import rasterio, pyogrio\n"
        "from kgspatial.untrusted import _libgdal, lock_down_gdal\n"
        "print(_libgdal()._name)\n"
        "lock_down_gdal()\n"
        "print(sorted(pyogrio.list_drivers()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lib, drivers = run.stdout.strip().splitlines()[-2:]
    assert "/pyogrio.libs/" in lib or "rasterio.libs" not in lib
    assert "CSV" not in drivers and "GPKG" in drivers
