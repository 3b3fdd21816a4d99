"""How much of what a question asks for reaches the prompt, per evidence lever, without the LLM.

`rag bench evidence` retrieves every answerable eval question once, builds the prompt's sources
block the way each lever of `rag bench levers` would, and counts the key facts that appear in it
(the same `fact_covered` rule the answers are scored by) and the tokens it costs. The model can
only state what it is shown, so this is the ceiling each lever puts on answer quality; it runs
over the whole eval set in about two minutes where the LLM levers take minutes per lever on a
slice, so evidence changes can be compared on many more questions than the LLM bench affords.
"""

from __future__ import annotations

import statistics

from bench.levers import LEVERS, label, settings_for
from eval import metrics
from rag.corpus import paper_id
from rag.messages import build_context
from rag.retrieval import retrieve
from rag.settings import Settings
from rag.tokens import token_len
from rag.turns import select_sources


def bench_evidence(settings: Settings, questions: list[dict]) -> dict:
    items = [q for q in questions if q.get("answerable", True) and q.get("key_facts")]
    levers = [lv for lv in LEVERS if not lv.break_prefix_cache and not lv.overrides.get("verify")]
    retrieved = [retrieve(q["question"], settings=settings) for q in items]
    rows = []
    for lv in levers:
        s = settings_for(settings, lv)
        per: list[dict] = []
        for q, sources in zip(items, retrieved):
            selected = select_sources(sources, s, q["question"])
            ctx = build_context(selected, s, q["question"]) if selected else ""
            gold = {paper_id(t) for t in q.get("gold_titles") or []}
            per.append({"id": q["id"], "kind": q.get("kind"),
                        "key_facts": metrics.key_fact_coverage(ctx, q["key_facts"]),
                        "gold_shown": (len(gold & {x.paper_id for x in selected}) / len(gold)
                                       if gold else None),
                        "tokens": token_len(ctx)})
        kinds = sorted({r["kind"] for r in per})
        rows.append({
            "lever": label(lv),
            "overrides": lv.overrides,
            "tokens_p50": statistics.median(r["tokens"] for r in per),
            "tokens_mean": round(statistics.mean(r["tokens"] for r in per)),
            "key_facts_in_prompt": round(metrics.mean(r["key_facts"] for r in per) or 0.0, 3),
            "gold_paper_in_prompt": round(metrics.mean(r["gold_shown"] for r in per) or 0.0, 3),
            "by_kind": {k: round(metrics.mean(r["key_facts"] for r in per if r["kind"] == k)
                                 or 0.0, 3) for k in kinds},
            "items": per,
        })
    return {"questions": len(items), "levers": rows}


def to_markdown(res: dict) -> list[str]:
    kinds = sorted({k for r in res["levers"] for k in r["by_kind"]})
    lines = [f"## Evidence levers without the LLM ({res['questions']} answerable eval questions)",
             "", "Key facts that reach the prompt (the ceiling on what the answer can state), "
                 "and the sources block's size in tokens.", "",
             "| lever | tokens p50 | tokens mean | key facts in prompt | gold paper in prompt | "
             + " | ".join(kinds) + " |",
             "|---|---|---|---|---|" + "---|" * len(kinds)]
    for r in res["levers"]:
        lines.append(f"| {r['lever']} | {r['tokens_p50']:.0f} | {r['tokens_mean']} | "
                     f"{r['key_facts_in_prompt']} | {r['gold_paper_in_prompt']} | "
                     + " | ".join(str(r["by_kind"].get(k, "")) for k in kinds) + " |")
    return lines + [""]
