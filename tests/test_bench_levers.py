"""The speed-lever benchmark: every lever answers the same questions and reports latency with
quality, the prompt sizes reflect the lever, and follow-ups go through condensing."""

from bench.levers import LEVERS, bench_levers, pick_questions, to_markdown
from bench.perf import load_questions
from rag.messages import build_context
from rag.retrieval import retrieve
from tests.conftest import ROOT

QUESTIONS = load_questions(ROOT / "eval" / "data" / "questions.jsonl")


def test_benches_tune_on_the_dev_split_only():
    assert QUESTIONS and {q["split"] for q in QUESTIONS} == {"dev"}


def test_pick_questions_is_stratified_and_deterministic():
    a = pick_questions(QUESTIONS, 2, 1)
    assert a == pick_questions(QUESTIONS, 2, 1)
    kinds = [q["kind"] for q in a]
    for k in ("fact", "paraphrase", "title", "comparison", "listing"):
        assert kinds.count(k) == 2
    for k in ("out_of_scope", "false_premise", "injection"):
        assert kinds.count(k) == 1


def test_abstracts_evidence_puts_whole_abstracts_in_the_prompt(fake_settings):
    sources = retrieve("diffusion models sampling steps", 3, settings=fake_settings)
    full = build_context(sources, fake_settings.with_overrides(evidence="abstracts"))
    short = build_context(sources, fake_settings.with_overrides(context_tokens=100))
    for s in sources:
        assert s.abstract in full
    assert len(full) > len(short)


def test_levers_report_latency_and_quality_for_each_lever(fake_settings, llm):
    res = bench_levers(fake_settings, QUESTIONS, per_kind=1, unanswerable_per_kind=1)
    assert [r["lever"].removesuffix(" (default)") for r in res["levers"]] == \
        [lv.name for lv in LEVERS]
    by = {r["lever"].removesuffix(" (default)"): r for r in res["levers"]}
    slow, passages = by[LEVERS[0].name], by[LEVERS[2].name]
    # Exactly one evidence lever is the shipped default.
    assert sum(r["lever"].endswith("(default)") for r in res["levers"]) == 1
    assert slow["answerable"] == 6 and slow["unanswerable"] == 3  # one of each kind
    # Whole abstracts of every retrieved paper cost more prompt than the default evidence.
    assert slow["prompt_tokens_mean"] > passages["prompt_tokens_mean"]
    for r in res["levers"]:
        assert r["ttft_p50_s"] is not None and r["total_p50_s"] is not None
        assert 0.0 <= r["key_facts"] <= 1.0 and 0.0 <= r["gold_cited"] <= 1.0
        assert r["refusal_accuracy"] is not None
    # The cache-defeating lever really changed the system prompt of every request.
    systems = [m[0]["content"] for m in llm.history if m[0]["role"] == "system"]
    assert sum(s.startswith("Request ") for s in systems) >= 8  # one lever × 8 questions
    f = res["follow_up"]
    assert f["questions"] == 3  # the slice's fact, paraphrase and title question
    for r in f["items"]:
        # In the same chat: the follow-up is searched together with the question before it.
        assert r["standalone"] and r["first"] in r["standalone"], r
        assert r["follow_up"] in r["standalone"]
        # The default condense_mode ("context") asks no LLM to rewrite the follow-up.
        assert r["condense_s"] == 0.0
    md = "\n".join(to_markdown(res))
    assert "| lever |" in md and LEVERS[0].name in md


def test_server_keeps_logits_only_when_logprobs_are_wanted(fake_settings):
    from rag.llm import LocalServer

    off = LocalServer(fake_settings).command()
    on = LocalServer(fake_settings.with_overrides(llm_logprobs=True)).command()
    assert off[off.index("--logits_all") + 1] == "false"
    assert on[on.index("--logits_all") + 1] == "true"


def test_evidence_bench_counts_key_facts_reaching_the_prompt(fake_settings):
    from bench.evidence import bench_evidence
    from bench.evidence import to_markdown as evidence_md

    sample = [q for q in QUESTIONS if q["kind"] in ("fact", "comparison")][:12]
    sample += [q for q in QUESTIONS if not q.get("answerable", True)][:2]  # skipped: no facts
    res = bench_evidence(fake_settings, sample)
    assert res["questions"] == 12
    by = {r["lever"].removesuffix(" (default)"): r for r in res["levers"]}
    slow = by[LEVERS[0].name]
    # Whole abstracts of every retrieved paper: the most facts, at the most tokens.
    for r in res["levers"]:
        assert len(r["items"]) == 12
        assert r["key_facts_in_prompt"] <= slow["key_facts_in_prompt"]
        assert r["tokens_mean"] <= slow["tokens_mean"]
    assert slow["key_facts_in_prompt"] > 0.5
    assert sum(r["lever"].endswith("(default)") for r in res["levers"]) == 1
    assert "key facts in prompt" in "\n".join(evidence_md(res))
