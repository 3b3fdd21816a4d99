"""How well listing answers (rag/listing.py) pick papers: `python -m eval.listing_bench`.

Retrieval only, no LLM (listing answers do not call it): for every listing item, the papers
the answer lists as matches, and with the "possibly relevant" tier, against the item's
exhaustive gold list — recall, precision, and items with no match (answered as a refusal).
Per split; the cuts in rag/listing.py were chosen on dev, test is reported only. The
``--question`` variant searches with the whole question instead of the scaffolding-free
search query, to show what dropping the scaffolding does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import listing
from rag.corpus import paper_id
from rag.retrieval import retrieve, similarity_spread
from rag.settings import Settings, get_settings
from rag.turns import select_sources

QUESTIONS = Path(__file__).resolve().parent / "data" / "questions.jsonl"


def run(settings: Settings, whole_question: bool = False) -> dict:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    out = {}
    for split in ("dev", "test"):
        gold_n = tp_m = n_m = tp_all = n_all = no_match = items = 0
        for q in rows:
            if q.get("split") != split or q["kind"] != "listing":
                continue
            items += 1
            query = q["question"] if whole_question else listing.search_query(q["question"])
            sources = retrieve(query, settings.listing_k, settings=settings)
            gold = {paper_id(t) for t in q["gold_titles"]}
            gold_n += len(gold)
            matches, possible = (listing.choose(q["question"], sources,
                                                similarity_spread(query, settings))
                                 if select_sources(sources, settings, query) else ([], []))
            if not matches:
                no_match += 1
                continue
            tp_m += len(gold & {s.paper_id for s in matches})
            n_m += len(matches)
            tp_all += len(gold & {s.paper_id for s in matches + possible})
            n_all += len(matches + possible)
        out[split] = {"items": items, "gold": gold_n, "no_match": no_match,
                      "matches": {"recall": round(tp_m / max(1, gold_n), 3),
                                  "precision": round(tp_m / max(1, n_m), 3)},
                      "with_possible": {"recall": round(tp_all / max(1, gold_n), 3),
                                        "precision": round(tp_all / max(1, n_all), 3)}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--question", action="store_true",
                    help="search with the whole question (the old way)")
    args = ap.parse_args(argv)
    print(json.dumps(run(get_settings(), args.question), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
