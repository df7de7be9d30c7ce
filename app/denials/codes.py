"""X12 code lists with their descriptions (resources/codes/*.csv): CARC (X12), RARC
(CMS), CLP02 claim status, adjustment groups and PLB reasons."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
CODES_DIR = RESOURCES / "codes"


@lru_cache(maxsize=None)
def codes(name: str) -> dict[str, str]:
    """code -> description from one CSV of CODES_DIR."""
    with open(CODES_DIR / name, encoding="utf-8", newline="") as fh:
        return {row["code"]: row["description"] for row in csv.DictReader(fh)}


def carc_text(code: str) -> str:
    return codes("carc.csv").get(code, "(reason code not in OffHold's CARC list)")


def rarc_text(code: str) -> str:
    return codes("rarc.csv").get(code, "(remark code not in OffHold's RARC list)")


def clp02_text(code: str) -> str:
    return codes("clp02.csv").get(code, f"status {code}")


def group_text(code: str) -> str:
    return codes("group_codes.csv").get(code, code)


def plb_reason_text(code: str) -> str:
    return codes("plb_reasons.csv").get(code, "")
