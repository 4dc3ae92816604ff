"""Numbers as people read them: Vietnamese 3.051,50 ha, English 3,051.50 ha, one rule for both.

Every text a user sees (CLI lines, warnings, error messages, maps, reports) formats its figures
here, so a Vietnamese sentence never shows "3,051.50" (which a Vietnamese reader takes for
3 point 05) and hectares have the same decimals everywhere.  Stdlib only.
"""

from __future__ import annotations

import math


def number(value: float, decimals: int = 0, english: bool = False) -> str:
    """1234567.891 -> '1.234.567,89' (Vietnamese: '.' groups thousands, ',' marks decimals), or
    '1,234,567.89' in English; '' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{float(value):,.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]  # -0,00 reads as a sign error
    return text if english else text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def vn(value: float, decimals: int = 0) -> str:
    """`number` in Vietnamese: for messages written 'Vietnamese / English'."""
    return number(value, decimals)


def en(value: float, decimals: int = 0) -> str:
    """`number` in English."""
    return number(value, decimals, english=True)


def ha_decimals(hectares: float) -> int:
    """Two decimals from 1 ha up (0,01 ha is 100 m², finer than a 1:2 000 plan is drawn); below
    1 ha four, to the square metre, so a 25 m² piece is 0,0025 ha rather than 0,00."""
    return 2 if hectares == 0 or abs(hectares) >= 1 else 4


def hectares(m2: float, english: bool = False, unit: bool = True) -> str:
    """Square metres as hectares: 30_515_010 -> '3.051,50 ha' ('3,051.50 ha' in English)."""
    if m2 is None or (isinstance(m2, float) and math.isnan(m2)):
        return ""
    ha = float(m2) / 10_000.0
    text = number(ha, ha_decimals(ha), english)
    return f"{text} ha" if unit else text


# Excel and LibreOffice show separators in the reader's locale; the decimals follow ha_decimals.
XLSX_HECTARES = "[>=1]#,##0.00;[=0]0.00;0.0000"
