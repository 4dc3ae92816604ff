"""The PDF report: the HTML report printed by WeasyPrint, with a Vietnamese-capable TrueType font
embedded (subset) so the text shows and extracts correctly on any machine. Long piece lists are cut shorter than in the
HTML (the XLSX has them all)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import KgSpatialError
from . import html as html_mod
from .fonts import find_font
from .model import ReportData

WEASYPRINT_LIBS = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b (apt-get install them; see .ci/run)"


def _weasyprint():
    try:
        import weasyprint
    except ImportError as exc:
        raise KgSpatialError(f"PDF reports need WeasyPrint: pip install 'kgspatial[reports]' ({exc})") from exc
    except OSError as exc:  # WeasyPrint loads Pango through cffi at import time
        raise KgSpatialError(f"WeasyPrint cannot load its system libraries: install {WEASYPRINT_LIBS} ({exc})") from exc
    return weasyprint


def _local_only_fetcher(weasyprint):
    """Reports never fetch from the network: only data: and file: URLs (our fonts) are served."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 66: a plain function

        def fetch(url, *args, **kwargs):
            if url.startswith(("data:", "file:")):
                return weasyprint.default_url_fetcher(url, *args, **kwargs)
            raise ValueError(f"report resources must be local, refused {url}")

        return fetch
    return URLFetcher(allowed_protocols={"data", "file"})


def write_pdf(data: ReportData, path: Path, maps: list[dict] | None = None) -> None:
    weasyprint = _weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    font = find_font()
    document_html = html_mod.render(data, font_css=font.css(), maps=maps, max_pieces=html_mod.MAX_PIECES_IN_PDF)
    font_config = FontConfiguration()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    doc = weasyprint.HTML(string=document_html, base_url=str(path.parent), url_fetcher=_local_only_fetcher(weasyprint))
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.write_pdf(str(path), font_config=font_config)
