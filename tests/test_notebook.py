"""The walkthrough notebook is executed, so it never rots; its map must show inline."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_walkthrough_runs_and_shows_the_map():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / "walkthrough.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    inline_map = [h for h in html if "<iframe" in h and "window.kgspatial" in h]
    assert inline_map, "the map is not displayed inline"
    # Offline in the notebook too: Leaflet is inlined (no <script src=...> to a CDN).
    assert "cdn.jsdelivr" not in inline_map[0] and "L.Control.MiniMap" in inline_map[0]
    text = "".join(o.get("text", "") for o in outputs)
    assert "conflict rows" in text and "map.html" in text
