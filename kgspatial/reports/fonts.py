"""Fonts with Vietnamese glyphs for the PDF report, found at run time and embedded by WeasyPrint.

A PDF that names a font without embedding it shows boxes or wrong diacritics on an office PC
without that font, so the report always embeds a TrueType font whose character map is checked to
cover Vietnamese (Ơ, Ư, Đ and the tone-marked vowels U+1EA0–U+1EF9).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import KgSpatialError

FONT_PACKAGES = "fonts-dejavu-core (Debian/Ubuntu: apt-get install fonts-dejavu-core) or fonts-noto-core"
# Regular / bold pairs, most preferred first: Debian's packages, then the DejaVu Sans that
# matplotlib (a dependency of the reports extra) ships in its mpl-data folder.
_SYSTEM_CANDIDATES = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),  # Fedora
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),  # Arch
]
VIETNAMESE_SAMPLE = "ĂÂĐÊÔƠƯăâđêôơư" + "".join(chr(c) for c in range(0x1EA0, 0x1EFA))


class FontError(KgSpatialError):
    """No font with Vietnamese glyphs to embed in the PDF."""


@dataclass(frozen=True)
class ReportFont:
    family: str
    regular: Path
    bold: Path | None

    def css(self) -> str:
        """@font-face rules pointing at the files (file:// URLs; WeasyPrint embeds the glyphs used)."""
        rules = [
            f'@font-face {{ font-family: "{self.family}"; src: url("{self.regular.as_uri()}"); '
            f"font-weight: normal; font-style: normal; }}"
        ]
        if self.bold is not None:
            rules.append(
                f'@font-face {{ font-family: "{self.family}"; src: url("{self.bold.as_uri()}"); '
                f"font-weight: bold; font-style: normal; }}"
            )
        return "\n".join(rules)


def _candidates() -> list[tuple[Path, Path | None]]:
    out: list[tuple[Path, Path | None]] = []
    env = os.environ.get("KGSPATIAL_REPORT_FONT")
    if env:
        bold = os.environ.get("KGSPATIAL_REPORT_FONT_BOLD")
        out.append((Path(env), Path(bold) if bold else None))
    out += [(Path(r), Path(b)) for r, b in _SYSTEM_CANDIDATES]
    try:
        import matplotlib

        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        out.append((ttf / "DejaVuSans.ttf", ttf / "DejaVuSans-Bold.ttf"))
    except ImportError:
        pass
    return out


def covers_vietnamese(path: Path) -> bool:
    """True when the font's character map has every Vietnamese letter (checked with fontTools)."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            cmap = font.getBestCmap() or {}
            return all(ord(ch) in cmap for ch in VIETNAMESE_SAMPLE) and "glyf" in font
    except Exception:  # unreadable or not a font: not suitable
        return False


@functools.lru_cache(maxsize=1)
def find_font() -> ReportFont:
    """The first TrueType font with Vietnamese glyphs; a clear error naming the package otherwise."""
    tried = []
    for regular, bold in _candidates():
        tried.append(str(regular))
        if regular.is_file() and covers_vietnamese(regular):
            if bold is not None and not (bold.is_file() and covers_vietnamese(bold)):
                bold = None
            return ReportFont("KG Report Sans", regular, bold)
    raise FontError.say(
        "không tìm thấy phông chữ TrueType có chữ tiếng Việt để nhúng vào báo cáo PDF (đã thử "
        + ", ".join(tried)
        + f"); hãy cài {FONT_PACKAGES}, hoặc đặt KGSPATIAL_REPORT_FONT là một tệp .ttf",
        "no TrueType font with Vietnamese glyphs found for the PDF report (tried "
        + ", ".join(tried)
        + f"); install {FONT_PACKAGES}, or set KGSPATIAL_REPORT_FONT to a .ttf file",
    )
