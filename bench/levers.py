"""Speed levers on the local model, each measured for latency *and* answer quality.

`rag bench levers` runs the same stratified slice of the eval set (answerable and unanswerable
kinds) through ``ask_stream`` under several settings, from the slow reference path (top 5
abstracts in full, no relevance floor) to the default, and writes one row per lever: time to
first token and total (p50/p95), prompt size, key facts, gold paper cited, refusal accuracy,
false refusals. A separate row times follow-up questions in the same chat (condense + answer).

Latency and quality come from the same answers, so a lever cannot look fast by answering worse
without the table showing it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.timing import server_start_s, timed_answer
from eval import metrics
from eval.runner import even_slice
from rag.corpus import paper_id
from rag.settings import Settings

#: Follow-ups that only make sense after the first answer; condensing must resolve "it"/"they".
FOLLOW_UPS = [
    "What data or benchmarks did they evaluate it on?",
    "And what is the main limitation of that approach?",
    "How does it compare with earlier methods?",
    "Can you summarise it in one sentence?",
    "What problem does it solve?",
]


@dataclass
class Lever:
    name: str
    overrides: dict = field(default_factory=dict)
    #: Put a unique line at the top of the system prompt: the server can then reuse no prefix
    #: from the previous request (what an unstable prompt costs).
    break_prefix_cache: bool = False
    why: str = ""


SLOW = {"evidence": "abstracts", "relative_floor": 0.0, "min_similarity": -1.0,
        "max_tokens": 512}

LEVERS = [
    Lever("slow: top-5 full abstracts, LLM always called", SLOW,
          why="the straightforward RAG prompt the issue starts from"),
    Lever("+ relevance floor, score-gap top-k", {**SLOW, "min_similarity": None,
                                                  "relative_floor": None},
          why="no LLM call when nothing is relevant (see the unanswerable column); papers far "
              "below the best one leave the prompt"),
    Lever("+ best passages, 700-token budget, 320 output tokens",
          {"evidence": "passages", "context_tokens": 700},
          why="each paper's best-ranked chunks instead of whole abstracts"),
    Lever("+ sentences, 700-token budget",
          {"evidence": "sentences", "context_tokens": 700, "evidence_top_share": 0.0},
          why="only the sentences closest to the question, across the papers"),
    Lever("+ sentences, 450-token budget",
          {"evidence": "sentences", "context_tokens": 450, "evidence_top_share": 0.0},
          why="a smaller evidence budget"),
    Lever("+ best-ranked paper first (70% of 450 tokens)",
          {"evidence": "sentences", "context_tokens": 450, "evidence_top_share": 0.7},
          why="the top paper nearly whole, then the others' best sentences: what a question asks "
              "for is often a sentence that does not resemble the question"),
    Lever("default, prefix cache defeated", {}, break_prefix_cache=True,
          why="what the stable system-prompt prefix saves"),
    Lever("default + live judge checker", {"verify": "judge"},
          why="the cost of RAG_VERIFY=judge on top of the cheap checks"),
]


def pick_questions(questions: list[dict], per_kind: int, unanswerable_per_kind: int) -> list[dict]:
    """A deterministic, stratified slice: evenly spaced items of every kind."""
    return even_slice(questions, lambda q: per_kind if q.get("answerable", True)
                      else unanswerable_per_kind)


def label(lever: Lever) -> str:
    """The lever's name, marked "(default)" when it is exactly the shipped settings."""
    fields = Settings.model_fields
    is_default = not lever.break_prefix_cache and all(
        v is None or v == fields[k].default for k, v in lever.overrides.items())
    return lever.name + (" (default)" if is_default else "")


def settings_for(base: Settings, lever: Lever) -> Settings:
    # None means "back to the default value" (the lever is switched on).
    defaults = Settings.model_fields
    return base.with_overrides(**{k: defaults[k].default if v is None else v
                                  for k, v in lever.overrides.items()})


class _PromptProbe:
    """Wraps rag.answer.build_messages to record prompt size and optionally break the cache."""

    def __init__(self, break_cache: bool):
        from rag import answer

        self.answer: Any = answer  # its build_messages is swapped for the probe
        self.original = answer.build_messages
        self.break_cache = break_cache
        self.tokens: list[int] = []

    def __enter__(self):
        from rag.tokens import token_len

        def probe(*args, **kwargs):
            msgs = self.original(*args, **kwargs)
            if self.break_cache:
                msgs[0] = {**msgs[0], "content": f"Request {uuid.uuid4()}.\n" + msgs[0]["content"]}
            self.tokens.append(sum(token_len(m["content"]) for m in msgs))
            return msgs

        self.answer.build_messages = probe
        return self

    def __exit__(self, *exc):
        self.answer.build_messages = self.original


def run_lever(lever: Lever, items: list[dict], settings: Settings) -> dict:
    s = settings_for(settings, lever)
    rows = []
    with _PromptProbe(lever.break_prefix_cache) as probe:
        timed_answer("What is meta-learning?", s)  # warm the embedder and the server's prefix cache
        probe.tokens.clear()
        for item in items:
            answer, ttft, total = timed_answer(item["question"], s)
            answerable = bool(item.get("answerable", True))
            gold = [paper_id(t) for t in item.get("gold_titles") or []]
            cited = [c.paper_id for c in answer.citations]
            rows.append({
                "id": item["id"], "kind": item.get("kind"), "answerable": answerable,
                "ttft_s": None if ttft is None else round(ttft, 2), "total_s": round(total, 2),
                "refused": answer.refused, "answer": answer.text,
                # What the model wrote, so a change to citation checking can be re-scored on
                # the same drafts without the LLM.
                "raw": answer.raw_text,
                "llm_called": "first_token" in answer.timings,
                "key_facts": (metrics.key_fact_coverage(answer.text, item.get("key_facts") or [])
                              if answerable else None),
                "gold_cited": metrics.listing_recall(cited, gold) if answerable else None,
                "refusal_correct": metrics.refusal_correct(answerable, answer.refused),
                "unsupported": len(answer.unsupported),
                "check_ms": round(1000 * answer.timings.get("check", 0.0), 1),
                "verify_s": round(answer.timings.get("verify", 0.0), 2),
            })
        tokens = list(probe.tokens)
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    ttft = [r["ttft_s"] for r in ans if r["ttft_s"] is not None]
    total = [r["total_s"] for r in ans]

    def p(values, q):
        v = metrics.percentile(values, q)
        return None if v is None else round(v, 2)

    return {
        "lever": label(lever), "why": lever.why, "overrides": lever.overrides,
        "break_prefix_cache": lever.break_prefix_cache,
        "answerable": len(ans), "unanswerable": len(una),
        "prompt_tokens_mean": round(sum(tokens) / len(tokens)) if tokens else None,
        "ttft_p50_s": p(ttft, 0.5), "ttft_p95_s": p(ttft, 0.95),
        "total_p50_s": p(total, 0.5), "total_p95_s": p(total, 0.95),
        "unanswerable_total_p50_s": p([r["total_s"] for r in una], 0.5),
        "key_facts": _round(metrics.mean(r["key_facts"] for r in ans)),
        "gold_cited": _round(metrics.mean(r["gold_cited"] for r in ans)),
        "refusal_accuracy": _round(metrics.mean(r["refusal_correct"] for r in una)),
        "false_refusal": _round(metrics.mean(r["refused"] for r in ans)),
        "unsupported_sentences": sum(r["unsupported"] for r in rows),
        "cheap_check_ms_p50": p([r["check_ms"] for r in rows if r["llm_called"]], 0.5),
        "judge_s_p50": p([r["verify_s"] for r in rows if r["verify_s"]], 0.5),
        "items": rows,
    }


def run_follow_ups(items: list[dict], settings: Settings, n: int = 5) -> dict:
    """First question, then a follow-up in the same chat; time the follow-up."""
    picked = [q for q in items if q.get("answerable", True) and q.get("kind") in
              ("fact", "title", "paraphrase")][:n]
    rows = []
    for item, follow in zip(picked, FOLLOW_UPS):
        first, _, _ = timed_answer(item["question"], settings)
        history = [(item["question"], first.text)]
        answer, ttft, total = timed_answer(follow, settings, history=history)
        rows.append({"first": item["question"], "follow_up": follow,
                     "standalone": answer.standalone_question,
                     "condense_s": round(answer.timings.get("condense", 0.0), 2),
                     "ttft_s": None if ttft is None else round(ttft, 2),
                     "total_s": round(total, 2), "refused": answer.refused})
    ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    return {
        "questions": len(rows),
        "ttft_p50_s": _round(metrics.percentile(ttft, 0.5), 2),
        "ttft_p95_s": _round(metrics.percentile(ttft, 0.95), 2),
        "condense_p50_s": _round(metrics.percentile([r["condense_s"] for r in rows], 0.5), 2),
        "items": rows,
    }


def _round(x, nd: int = 3):
    return None if x is None else round(x, nd)


def bench_levers(settings: Settings, questions: list[dict], per_kind: int = 4,
                 unanswerable_per_kind: int = 2, only: list[str] | None = None) -> dict:
    items = pick_questions(questions, per_kind, unanswerable_per_kind)
    out: dict = {"model": settings.model, "questions": len(items),
                 "ids": [q["id"] for q in items]}
    if settings.uses_local_llm:
        out["server_start_s"] = server_start_s(settings)
    levers = [lv for lv in LEVERS if not only or any(o in lv.name for o in only)]
    out["levers"] = [run_lever(lv, items, settings) for lv in levers]
    out["follow_up"] = run_follow_ups(items, settings)
    return out


def to_markdown(res: dict) -> list[str]:
    lines = [f"## Speed levers ({res['questions']} eval questions; local model)", "",
             f"Server cold start: {res.get('server_start_s')} s (excluded below).", "",
             "| lever | prompt tokens | TTFT p50 | TTFT p95 | total p50 | total p95 | "
             "unanswerable total p50 | key facts | gold cited | refusal acc. | false refusal |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["levers"]:
        lines.append(
            f"| {r['lever']} | {r['prompt_tokens_mean']} | {r['ttft_p50_s']} | {r['ttft_p95_s']} | "
            f"{r['total_p50_s']} | {r['total_p95_s']} | {r['unanswerable_total_p50_s']} | "
            f"{r['key_facts']} | {r['gold_cited']} | {r['refusal_accuracy']} | "
            f"{r['false_refusal']} |")
    f = res.get("follow_up")
    if f:
        lines += ["", f"Follow-up in the same chat ({f['questions']} questions, default "
                      f"settings): TTFT p50 {f['ttft_p50_s']} s, p95 {f['ttft_p95_s']} s "
                      f"(condensing p50 {f['condense_p50_s']} s).", ""]
    return lines
