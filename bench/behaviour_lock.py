"""Behaviour lock: every streamed event and final `Answer` of the eval questions, as JSON.

A refactor that should not change behaviour is checked by running this before and after and
comparing the two files byte for byte (`cmp`). It needs no model: the fake LLM and the fake
embedder (``RAG_PROVIDER=fake``, ``RAG_EMBED_MODEL=fake``, as in tests/conftest.py) over a
temporary fake-embedded index of the bundled corpus, so the output is deterministic.

Each question runs once with the defaults, and a deterministic share of them again under the
settings that take other paths through `ask_stream`: a follow-up in the same chat (both
condense modes), the other evidence layouts, listing questions answered by the LLM, the live
judge. Timings are left out (they differ run to run).

    python -m bench.behaviour_lock /tmp/lock-before.json
    python -m bench.behaviour_lock /tmp/lock-after.json
    cmp /tmp/lock-before.json /tmp/lock-after.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "data" / "questions.jsonl"
FOLLOW_UP = "What data or benchmarks did they evaluate it on?"
#: What the real local model wrote (its raw drafts, kept by `rag bench levers`): the fake LLM
#: writes one kind of sentence, these exercise the checker on lists, markers used as names,
#: marker-only lines and invented numbers.
DRAFTS = ROOT / "eval" / "reports" / "2026-11-25-levers-full" / "bench.json"

#: (name, which questions: every n-th from offset, Settings overrides, asked as a follow-up)
VARIANTS: list[tuple[str, int, int, dict, bool]] = [
    ("default", 1, 0, {}, False),
    ("follow-up", 4, 0, {}, True),
    ("follow-up llm condense", 8, 1, {"condense_mode": "llm"}, True),
    ("passages", 6, 2, {"evidence": "passages", "context_tokens": 700}, False),
    ("abstracts", 6, 5, {"evidence": "abstracts", "relative_floor": 0.0,
                         "min_similarity": -1.0}, False),
    ("no listing answers", 5, 3, {"listing_answers": False}, False),
    ("judge", 10, 7, {"verify": "judge"}, False),
]


def _event(e) -> object:
    from rag.types import Answer, Status

    if isinstance(e, Status):
        return {"status": e.stage, "message": e.message}
    if isinstance(e, Answer):
        d = dataclasses.asdict(e)
        d.pop("timings")
        return {"answer": d}
    return e


def _drafts(items: list[dict], settings) -> list[dict]:
    """Each recorded draft checked against the fake index's sources for its question:
    `citations.check`, then the quotes and the cheap verification of the checked answer."""
    from rag import citations, quotes
    from rag.retrieval import retrieve
    from rag.types import Answer
    from rag.verify import verify_answer

    questions = {q["id"]: q["question"] for q in items}
    rows = []
    for lever in json.loads(DRAFTS.read_text())["levers"]["levers"]:
        for item in lever["items"]:
            question = questions.get(item["id"])
            if not item.get("raw") or question is None:
                continue
            sources = retrieve(question, settings.top_k, settings=settings)
            for s in sources:
                s.shown_to_llm = True
            checked = citations.check(item["raw"], sources, question=question)
            answer = Answer(question=question, text=checked.text, citations=checked.citations,
                            sources=sources, refused=checked.refused,
                            unsupported=checked.unsupported, raw_text=item["raw"])
            answer.claims = quotes.claims(answer)
            rows.append({"id": item["id"], "variant": "draft: " + lever["lever"],
                         "checked": dataclasses.asdict(checked),
                         "claims": [dataclasses.asdict(c) for c in answer.claims],
                         "verify": dataclasses.asdict(verify_answer(answer, claims=False))})
    return rows


def run(out: Path, index: Path | None = None, limit: int | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="behaviour-lock-") as tmp:
        home = index or Path(tmp)
        os.environ.update({
            "RAG_HOME": str(home), "RAG_CHROMA_PATH": str(home / "chroma"),
            "RAG_CORPUS_PATH": str(ROOT / "data" / "corpus"), "RAG_EMBED_MODEL": "fake",
            "RAG_PROVIDER": "fake", "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
        })
        import rag
        from rag.ingestion import ingest
        from rag.settings import get_settings

        get_settings.cache_clear()
        base = get_settings()
        if not (home / "chroma").exists():
            ingest(base.corpus_dir, settings=base)
        items = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
        items = [q for q in items if q.get("split") in ("dev", "test")][:limit]
        n = 0
        with out.open("w") as f:
            for name, every, offset, overrides, follow in VARIANTS:
                settings = base.with_overrides(**overrides)
                for i, item in enumerate(items):
                    if i % every != offset:
                        continue
                    history = None
                    question = item["question"]
                    if follow:
                        first = rag.ask(question, settings=base)
                        history = [{"role": "user", "content": question},
                                   {"role": "assistant", "content": first.text}]
                        question = FOLLOW_UP
                    events = [_event(e) for e in rag.ask_stream(question, history=history,
                                                                settings=settings)]
                    f.write(json.dumps({"id": item["id"], "variant": name, "events": events},
                                       ensure_ascii=False, sort_keys=True) + "\n")
                    n += 1
            for row in _drafts(items, base) if limit is None else []:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                n += 1
        print(f"{n} answers ({len(items)} questions) -> {out}", file=sys.stderr)
        return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--index", type=Path, help="reuse this fake-embedded index home")
    ap.add_argument("--limit", type=int, help="only the first N dev+test questions")
    args = ap.parse_args(argv)
    run(args.out, args.index, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
