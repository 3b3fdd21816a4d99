"""The eval set's dev/test split, and the fingerprint that keeps the test split frozen.

`dev` is for tuning: read its answers, find rules on it, re-score it as often as you like.
`test` is only ever reported: nobody reads its failures to design a rule, and its items never
change, which `FROZEN` (sha256 of the canonical test items) and tests/test_eval_data.py enforce.
How the split was made is in eval/data/README.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SPLITS = ("dev", "test")
DATA = Path(__file__).resolve().parent / "data"
FROZEN = DATA / "frozen_test_split.json"


def split_of(item: dict) -> str:
    return item.get("split", "dev")


def select(rows: list[dict], split: str | None) -> list[dict]:
    """Items of ``split`` ("dev", "test"; None or "all" = every item). A set with no split
    fields at all (your own questions) is not split: every item is selected."""
    if split in (None, "all") or not any("split" in r for r in rows):
        return rows
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use dev, test or all")
    return [r for r in rows if split_of(r) == split]


def fingerprint(rows: list[dict]) -> dict:
    """n and sha256 of the test items, independent of file order and JSON formatting."""
    test = sorted((r for r in rows if split_of(r) == "test"), key=lambda r: r["id"])
    canon = "\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in test)
    return {"n": len(test), "sha256": hashlib.sha256(canon.encode("utf-8")).hexdigest()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
