"""Wikibase JSON data values -> the simple literal values WDQS writes for ``wdt:``/``ps:``/``pq:``.

WDQS rules followed here (Wikibase ``JulianDateTimeValueCleaner`` / RDF dump format):
- time: ``xsd:dateTime``; unknown month/day (``00``) become ``01``; day-or-finer Julian dates are
  converted to the Gregorian calendar; years follow XSD 1.1, so JSON ``-0001`` (1 BCE) is ``0000``;
- quantity: the amount as ``xsd:decimal`` (with its sign, as WDQS stores it), unit dropped.
"""

from __future__ import annotations

import re
from typing import Any

JULIAN = "http://www.wikidata.org/entity/Q1985786"
PRECISION_DAY = 11
_TIME = re.compile(r"^([+-])(\d+)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$")


def _julian_to_gregorian(year: int, month: int, day: int) -> tuple[int, int, int]:
    # Julian calendar date -> Julian Day Number -> proleptic Gregorian date (astronomical years).
    a = (14 - month) // 12
    y = year + 4800 - a
    m = month + 12 * a - 3
    jdn = day + (153 * m + 2) // 5 + 365 * y + y // 4 - 32083
    a = jdn + 32044
    b = (4 * a + 3) // 146097
    c = a - 146097 * b // 4
    d = (4 * c + 3) // 1461
    e = c - 1461 * d // 4
    m = (5 * e + 2) // 153
    return 100 * b + d - 4800 + m // 10, m + 3 - 12 * (m // 10), e - (153 * m + 2) // 5 + 1


def wdqs_time(value: dict[str, Any]) -> str | None:
    """A Wikibase time value as WDQS writes it, e.g. ``1952-03-11T00:00:00Z``; None if malformed."""
    match = _TIME.match(str(value.get("time", "")))
    if not match:
        return None
    sign, year_s, month_s, day_s, hh, mm, ss = match.groups()
    year = int(year_s) * (-1 if sign == "-" else 1)
    month, day = max(1, int(month_s)), max(1, int(day_s))
    if year <= 0:
        year += 1  # XSD 1.1: year 0 is 1 BCE; Wikibase JSON has no year 0
    precision = int(value.get("precision", 0))
    if precision >= PRECISION_DAY and value.get("calendarmodel") == JULIAN:
        year, month, day = _julian_to_gregorian(year, month, day)
    year_text = f"-{abs(year):04d}" if year < 0 else f"{year:04d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hh}:{mm}:{ss}Z"


def wdqs_quantity(value: dict[str, Any]) -> str | None:
    amount = str(value.get("amount", ""))
    return amount if re.fullmatch(r"[+-]?\d+(\.\d+)?", amount) else None
