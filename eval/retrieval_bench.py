"""Retrieval quality of every fusion rule side by side: `rag eval --retrieval`.

Each question's dense and BM25 candidates are computed once (`rag.retrieval.candidates`, with
the query the product searches with: a listing question without its scaffolding), then
every rule in `rag.fusion` ranks the same candidates, so the table compares rules, not noise.
Printed per split and kind: recall@5, recall@10 and MRR of the gold papers, for dense alone,
BM25 alone, the old default (RRF k=60, no name rule) and every candidate rule, and the default
rule and dense alone with the other sentence weight (``sentences 0.4`` when the settings rank by
chunks only, ``sentences 0`` when they mix in the sentence vectors of rag/sentences.py); plus
two probes
built from the corpus, not from the eval set:

* name probe — 120 coined names or acronyms found in exactly one paper (`rag.names.named_terms`
  over titles and abstracts, seed 7): "What does ⟨name⟩ achieve?"; a miss is that paper absent
  from the top 5;
* title probe — 80 papers titled "⟨Name⟩: …" (seed 7): "What does ⟨Name⟩ claim?"; misses in
  the top 5, and (for the old and the chosen default) refusals before the LLM, i.e. the
  relevance floor leaving no paper.

A rule is chosen on the **dev** split only (macro recall@5 over kinds, then MRR); the test
columns are reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import listing
from rag.corpus import load_corpus, paper_id
from rag.fusion import fuse
from rag.names import named_terms, title_name
from rag.query_encoder import get_encoder
from rag.retrieval import Candidates, candidates, dense_searcher, papers_with, retrieve
from rag.settings import Settings, get_settings

SENTENCE_TRIED = 0.4  # the sentence weight chosen on dev retrieval (README "Sentence vectors")
QUESTIONS = Path(__file__).resolve().parent / "data" / "questions.jsonl"
KS = (5, 10)
DEFAULT_OUT = Path("bench/results/retrieval.json")


@dataclass(frozen=True)
class Rule:
    name: str
    method: str  # "dense" | "bm25" | a rag.fusion method
    rrf_k: int = 60
    dense_weight: float = 0.5
    name_first: bool = False
    filled: bool = False

    def rank(self, c: Candidates) -> list[str]:
        if self.method == "dense":
            return [p for p, _ in c.dense]
        if self.method == "bm25":
            return [p for p, _ in c.sparse]
        return [p for p, _ in fuse(*c.lists(self.filled), method=self.method, rrf_k=self.rrf_k,
                                   dense_weight=self.dense_weight,
                                   first=c.named if self.name_first else ())]

    def settings(self, base: Settings) -> Settings:
        return base.with_overrides(fusion=self.method, rrf_k=self.rrf_k,
                                   dense_weight=self.dense_weight, name_first=self.name_first,
                                   fill_scores=self.filled)


def rules() -> list[Rule]:
    out = [Rule("dense", "dense"), Rule("bm25", "bm25"), Rule("rrf60 (old)", "rrf")]
    for filled in (False, True):
        for named in (False, True):
            tag = ("+names" if named else "") + ("+filled" if filled else "")
            out += [Rule(f"rrf{k}{tag}", "rrf", rrf_k=k, name_first=named, filled=filled)
                    for k in (1, 2, 5, 10, 20, 60) if named or filled or k != 60]
            out += [Rule(f"convex{w:.1f}{tag}", "convex", dense_weight=w, name_first=named,
                         filled=filled)
                    for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    return out


def _scores(ranking: list[str], gold: set[str]) -> dict[str, float]:
    out = {f"r@{k}": len(gold & set(ranking[:k])) / len(gold) for k in KS}
    rank = next((i for i, p in enumerate(ranking, 1) if p in gold), None)
    out["mrr"] = 1 / rank if rank else 0.0
    return out


def load_items(path: Path = QUESTIONS) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("gold_titles") and r.get("answerable", True)]


def table(items: list[dict], cands: list[Candidates], rule_list: list[Rule]) -> dict:
    """{rule: {split: {kind | "all" | "macro": {metric: value, "n": n}}}}."""
    out: dict = {}
    for rule in rule_list:
        per: dict = {}
        for q, c in zip(items, cands):
            gold = {paper_id(t) for t in q["gold_titles"]}
            sc = _scores(rule.rank(c), gold)
            for key in (q.get("kind", "?"), "all"):
                per.setdefault(q.get("split", "all"), {}).setdefault(key, []).append(sc)
        out[rule.name] = {}
        for split, kinds in per.items():
            cells = {kind: {m: round(statistics.fmean(s[m] for s in rows), 3)
                            for m in rows[0]} | {"n": len(rows)}
                     for kind, rows in kinds.items()}
            real = [v for kd, v in cells.items() if kd != "all"]
            cells["macro"] = {m: round(statistics.fmean(v[m] for v in real), 3)
                              for m in ("r@5", "r@10", "mrr")}
            out[rule.name][split] = cells
    return out


def choose(tab: dict, rule_list: list[Rule]) -> Rule:
    """The fusion rule (not a single retriever) best on dev: macro recall@5, then recall@10,
    then MRR; ties go to the rule closest to plain RRF with k=60 (a difference the dev split
    cannot see is not a reason to change)."""
    fusions = [r for r in rule_list if r.method not in {"dense", "bm25"}]

    def key(r: Rule):
        m = tab[r.name]["dev"]["macro"]
        return (m["r@5"], m["r@10"], m["mrr"], r.method == "rrf", -abs(r.rrf_k - 60))

    return max(fusions, key=key)


def probes(settings: Settings, seed: int = 7) -> dict[str, list[tuple[str, str]]]:
    """(question, paper id) pairs for the name and title probes, built from the corpus."""
    papers = load_corpus(settings.corpus_dir)
    names: set[str] = set()
    for p in papers:
        names |= named_terms(f"{p.title} {p.abstract}")
    owners = {n: papers_with(n, settings) for n in names}
    unique = sorted(n for n, ps in owners.items() if len(ps) == 1)
    owner = {n: next(iter(owners[n])) for n in unique}
    rng = random.Random(seed)
    name_probe = [(f"What does {n} achieve?", owner[n])
                  for n in rng.sample(unique, min(120, len(unique)))]
    titled = sorted((title_name(p.title), paper_id(p.title)) for p in papers
                    if title_name(p.title))
    rng = random.Random(seed)
    title_probe = [(f"What does {n} claim?", pid)
                   for n, pid in rng.sample(titled, min(80, len(titled)))]
    return {"name": name_probe, "title": title_probe}


def probe_misses(pairs: list[tuple[str, str]], cands: list[Candidates],
                 rule_list: list[Rule]) -> dict[str, int]:
    return {r.name: sum(pid not in r.rank(c)[:5] for (_, pid), c in zip(pairs, cands))
            for r in rule_list}


def refusals(pairs: list[tuple[str, str]], settings: Settings) -> int:
    """Questions the relevance floor refuses before the LLM (no paper selected)."""
    from rag.turns import select_sources

    return sum(not select_sources(retrieve(q, settings=settings), settings, q) for q, _ in pairs)


def latency_ms(questions: list[str], variants: dict[str, Settings], rounds: int = 2
               ) -> dict[str, dict[str, float]]:
    """retrieve() p50/p95 per settings variant, interleaved so both see the same machine."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for q in questions:
            for name, s in variants.items():
                t0 = time.perf_counter()
                retrieve(q, settings=s)
                times[name].append((time.perf_counter() - t0) * 1000)
    return {name: _percentiles(t, 2) for name, t in times.items()}


def _percentiles(ms: list[float], digits: int) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), digits),
            "p95": round(sorted(ms)[int(0.95 * (len(ms) - 1))], digits)}


def dense_step(questions: list[str], settings: Settings, rounds: int = 2) -> dict[str, Any]:
    """The dense step alone, exact in-memory search (the default up to 2,000 papers) against
    Chroma's HNSW query, interleaved: p50/p95 ms each, and for how many questions the two
    return other candidate chunks (HNSW is approximate, and varies between processes)."""
    encoder = get_encoder(settings)
    vecs = [encoder.get_query_embedding(q) for q in questions]
    search = {"exact": dense_searcher(settings), "hnsw": dense_searcher(settings, hnsw=True)}
    times: dict[str, list[float]] = {name: [] for name in search}
    differ = 0
    for r in range(rounds):
        for v in vecs:
            got = {}
            for name, find in search.items():
                t0 = time.perf_counter()
                got[name] = find(v, settings.candidates)
                times[name].append((time.perf_counter() - t0) * 1000)
            if r == 0 and {c for c, _ in got["exact"]} != {c for c, _ in got["hnsw"]}:
                differ += 1
    return {**{name: _percentiles(t, 3) for name, t in times.items()},
            "questions": len(vecs), "other_candidates": differ}


def query_of(question: str, settings: Settings) -> str:
    """What the product searches with: a listing question without its scaffolding
    (rag/answer.py's listing path), any other question as asked."""
    if settings.listing_answers and listing.is_listing(question):
        return listing.search_query(question)
    return question


def run(settings: Settings, out: Path | None = None) -> dict:
    items = load_items()
    cands = [candidates(query_of(q["question"], settings), settings) for q in items]
    rule_list = rules()
    tab = table(items, cands, rule_list)
    chosen = choose(tab, rule_list)
    # The current default on candidates without phrase matching (RAG_PHRASE_MATCH=false): what
    # the BM25 phrase score wins and loses, on the same rule.
    default = next((r for r in rule_list if r.name == _default_name(settings, rule_list)), chosen)
    plain = settings.with_overrides(phrase_match=False)
    bare = f"{default.name} (no phrases)"
    tab[bare] = table(items, [candidates(query_of(q["question"], plain), plain) for q in items],
                      [default])[default.name]
    # ... and with the other sentence weight (RAG_SENTENCE_WEIGHT, rag/sentences.py): chunks
    # only when the settings mix in sentences, SENTENCE_TRIED when they rank by chunks only.
    alt_w = 0.0 if settings.sentence_weight > 0 else SENTENCE_TRIED
    chunky = settings.with_overrides(sentence_weight=alt_w)
    unsent = f"{default.name} (sentences {alt_w:g})"
    dense_rule = next(r for r in rule_list if r.name == "dense")
    chunk_cands = [candidates(query_of(q["question"], chunky), chunky) for q in items]
    tab[unsent] = table(items, chunk_cands, [default])[default.name]
    tab[f"dense (sentences {alt_w:g})"] = table(items, chunk_cands, [dense_rule])["dense"]
    pr = probes(settings)
    probe_cands = {kind: [candidates(q, settings) for q, _ in pairs] for kind, pairs in pr.items()}
    old = Rule("rrf60 (old)", "rrf")
    result: dict[str, Any] = {
        "items": {s: sum(q.get("split") == s for q in items) for s in ("dev", "test")},
        "chosen_on_dev": chosen.name,
        "current_default": _default_name(settings, rule_list),
        "sentence_variant": alt_w,
        "table": tab,
        "probes": {kind: {"n": len(pairs),
                          "misses@5": probe_misses(pairs, probe_cands[kind], rule_list)}
                   for kind, pairs in pr.items()},
    }
    for kind, pairs in pr.items():
        for name, s in ((bare, plain), (unsent, chunky)):
            result["probes"][kind]["misses@5"][name] = probe_misses(
                pairs, [candidates(q, s) for q, _ in pairs], [default])[default.name]
    result["probes"]["title"]["refused_before_llm"] = {
        name: refusals(pr["title"], r.settings(settings))
        for name, r in {old.name: old, default.name: default, chosen.name: chosen}.items()}
    dev_qs = [q["question"] for q in items if q.get("split") == "dev"][:60]
    result["latency_ms"] = latency_ms(dev_qs, {old.name: old.settings(settings),
                                               bare: default.settings(plain),
                                               unsent: default.settings(chunky),
                                               default.name: default.settings(settings),
                                               chosen.name: chosen.settings(settings)})
    result["dense_step_ms"] = dense_step(dev_qs, settings)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    return result


def _default_name(settings: Settings, rule_list: list[Rule]) -> str:
    for r in rule_list:
        if (r.method, r.rrf_k if r.method == "rrf" else None,
                r.dense_weight if r.method == "convex" else None, r.name_first, r.filled) == (
                settings.fusion, settings.rrf_k if settings.fusion == "rrf" else None,
                settings.dense_weight if settings.fusion == "convex" else None,
                settings.name_first, settings.fill_scores):
            return r.name
    return "custom"


def to_markdown(result: dict, show: list[str] | None = None) -> str:
    tab = result["table"]
    alt = f"sentences {result.get('sentence_variant', 0):g}"
    show = show or ["dense", f"dense ({alt})", "bm25", "rrf60 (old)",
                    result["current_default"], f"{result['current_default']} ({alt})",
                    f"{result['current_default']} (no phrases)", result["chosen_on_dev"]]
    show = list(dict.fromkeys(n for n in show if n in tab))
    lines = [f"Chosen on dev: **{result['chosen_on_dev']}**; current default: "
             f"**{result['current_default']}**  (items: {result['items']})", ""]
    for split in ("dev", "test"):
        kinds = sorted(k for k in tab["dense"].get(split, {}) if k not in {"all", "macro"})
        lines += [f"### {split}", "", "| rule | " + " | ".join(
            f"{k} r@5/r@10/mrr (n={tab['dense'][split][k]['n']})" for k in kinds)
            + " | macro r@5 |",
            "|---" * (len(kinds) + 2) + "|"]
        for name in show:
            c = tab[name][split]
            lines.append(f"| {name} | " + " | ".join(
                f"{c[k]['r@5']:.3f}/{c[k]['r@10']:.3f}/{c[k]['mrr']:.3f}" for k in kinds)
                + f" | {c['macro']['r@5']:.3f} |")
        lines.append("")
    lines.append("### every rule, dev macro r@5 / test macro r@5")
    lines += [f"- {n}: {t['dev']['macro']['r@5']:.3f} / {t['test']['macro']['r@5']:.3f}"
              for n, t in tab.items() if "dev" in t and "test" in t]
    for kind, p in result["probes"].items():
        lines.append(f"\n{kind} probe (n={p['n']}) misses@5: " + ", ".join(
            f"{n} {p['misses@5'][n]}" for n in show if n in p["misses@5"]))
        if "refused_before_llm" in p:
            lines.append(f"{kind} probe refused before the LLM: {p['refused_before_llm']}")
    lines.append(f"\nretrieve() latency ms: {result['latency_ms']}")
    if "dense_step_ms" in result:  # not in runs recorded before 2026-12-07
        lines.append(f"dense step ms, exact vs HNSW: {result['dense_step_ms']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    result = run(get_settings(), args.out)
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
