"""`rag eval`: run the question set through the pipeline, score every answer, write a report.

Per question: retrieval with dense, BM25 and hybrid side by side (recall@k, reciprocal rank of
the gold papers); the full `ask()` answer; `rag.verify` over it (citation recall/precision,
faithfulness); key-fact coverage, refusal, listing recall, injection checks; latencies; and, with
``--baseline``, the same LLM answering without sources.

Resumable: each item's result is appended to ``results.jsonl`` (flushed) as soon as it is done,
and a rerun into the same directory skips ids already there, so an interrupted run on a slow
machine loses at most one item. Summaries and the report are always recomputed from the whole
file.

Runs live in ``eval/runs/<timestamp>/``; ``eval/runs/latest`` points at the last finished one,
and each run's report opens with its deltas against the run ``latest`` pointed at before it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from eval import metrics
from eval.metrics import HEADLINE
from rag.corpus import paper_id
from rag.errors import BadInput, LLMUnavailable, RagError
from rag.settings import PROJECT_ROOT, Settings, get_settings, load_settings
from rag.types import Answer

DATA = PROJECT_ROOT / "eval" / "data"
DEFAULT_SET = DATA / "questions.jsonl"
DEFAULT_RUNS = PROJECT_ROOT / "eval" / "runs"
MODES = ("dense", "bm25", "hybrid")
KINDS = ("fact", "paraphrase", "title", "named", "comparison", "listing", "out_of_scope",
         "false_premise", "injection")
# Item-level means reported with n and a bootstrap 95% interval: (summary key, item key).
ITEM_METRICS = [
    ("key_fact_coverage", "key_fact_coverage"), ("gold_cited", "gold_cited"),
    ("citation_recall", "citation_recall"), ("citation_precision", "citation_precision"),
    ("faithfulness", "faithfulness"), ("cheap_citation_recall", "cheap_citation_recall"),
    ("cheap_citation_precision", "cheap_citation_precision"),
    ("cheap_faithfulness", "cheap_faithfulness"),
    ("judge_cheap_agreement", "judge_cheap_agreement"),
    ("refusal_accuracy", "refusal_correct"), ("false_refusal_rate", "false_refusal"),
    ("withheld_rate", "withheld"), ("listing_recall", "listing_recall"),
    ("listing_precision", "listing_precision"),
    ("injection_obeyed", "injection_obeyed"), ("injection_obeyed_raw", "injection_obeyed_raw"),
]


# ------------------------------------------------------------------------- inputs

def load_questions(path: Path, limit: int | None = None, kinds: list[str] | None = None,
                   per_kind: int | None = None, split: str | None = None) -> list[dict]:
    from eval.splits import select

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    try:
        rows = select(rows, split)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if kinds:
        rows = [r for r in rows if r.get("kind") in kinds]
    if per_kind:
        # An evenly spaced slice of every kind: a quick run that still covers them all.
        rows = even_slice(rows, lambda r: per_kind)
    return rows[:limit] if limit is not None else rows


def even_slice(rows: list[dict], how_many) -> list[dict]:
    """``how_many(first item of a kind)`` evenly spaced items of every kind, in file order."""
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_kind.setdefault(r.get("kind", "?"), []).append(r)
    keep = set()
    for items in by_kind.values():
        n = how_many(items[0])
        if n > 0:
            keep |= {id(r) for r in items[::max(1, len(items) // n)][:n]}
    return [r for r in rows if id(r) in keep]


def round_robin(rows: list[dict]) -> list[dict]:
    """The items one kind at a time in turn (file order within a kind): a run stopped early,
    by a time budget or a kill, is still a sample of every kind rather than of the first few."""
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_kind.setdefault(r.get("kind", "?"), []).append(r)
    queues = list(by_kind.values())
    out: list[dict] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def check_questions(questions: list[dict], settings: Settings) -> list[str]:
    """Data problems worth knowing before reading any score: gold titles that are not in the
    corpus (their recall is 0 whatever the system does) and key facts found in no gold abstract."""
    from rag.corpus import load_corpus

    try:
        papers = {p.paper_id: p for p in load_corpus(settings.corpus_dir)}
    except Exception as e:  # the corpus is the index's business; just say why we skipped
        return [f"corpus not read ({e}); gold titles not checked"]
    out = []
    for q in questions:
        gold = [papers.get(paper_id(t)) for t in q.get("gold_titles") or []]
        for t, p in zip(q.get("gold_titles") or [], gold):
            if p is None:
                out.append(f"{q['id']}: gold title not in corpus: {t!r}")
        text = " ".join(" ".join(p.abstract.split()) for p in gold if p).lower()
        for f in q.get("key_facts") or []:
            if text and " ".join(f.split()).lower() not in text:
                out.append(f"{q['id']}: key fact in no gold abstract: {f!r}")
    return out


# ------------------------------------------------------------------------- one item

def _answer_dict(a: Answer) -> dict:
    return {
        "text": a.text, "raw_text": a.raw_text, "refused": a.refused,
        "standalone_question": a.standalone_question,
        "citations": [{"number": c.number, "paper_id": c.paper_id, "title": c.title,
                       "source_number": c.source_number} for c in a.citations],
        "sources": [{"number": s.number, "paper_id": s.paper_id, "title": s.title,
                     "similarity": s.similarity, "shown_to_llm": s.shown_to_llm}
                    for s in a.sources],
        "unsupported": a.unsupported, "flagged_numbers": a.flagged_numbers,
        "flagged_terms": a.flagged_terms,
        "timings": {k: round(v, 4) for k, v in a.timings.items()}, "model": a.model,
    }


def evaluate_item(item: dict, settings: Settings, judge=None, baseline: bool = False,
                  k: int | None = None) -> dict:
    """Everything about one question, as one JSON-able row of results.jsonl."""
    from rag.answer import ask
    from rag.retrieval import retrieve
    from rag.verify import verify_answer

    k = k or settings.top_k
    gold = [paper_id(t) for t in item.get("gold_titles") or []]
    answerable = bool(item.get("answerable", True))
    row: dict = {"id": item["id"], "kind": item.get("kind", "?"), "question": item["question"],
                 "answerable": answerable, "gold": gold}

    retrieval = {}
    if gold:
        for mode in MODES:
            ranked = [s.paper_id for s in retrieve(item["question"], k, mode=mode,
                                                   settings=settings)]
            retrieval[mode] = {"ranked": ranked,
                               "recall@k": metrics.recall_at_k(ranked, gold, k),
                               "rr": metrics.reciprocal_rank(ranked, gold)}
    row["retrieval"] = retrieval

    answer = ask(item["question"], settings=settings)
    row["answer"] = _answer_dict(answer)
    # The cheap checks, as the live checker runs them (labelled "cheap" in the report).
    v = verify_answer(answer, None)
    row["verify"] = asdict(v)
    judged = None
    if judge is not None:
        from eval.judged import judge_answer

        judged = judge_answer(answer, judge)
        row["judged"] = judged.to_dict()

    cited = [c.paper_id for c in answer.citations]
    retrieved = [s.paper_id for s in answer.sources]
    forbidden = item.get("forbidden") or []
    claims = [s for s in v.sentences if s.is_claim]
    cheap_by_sentence = {s.sentence: s.supported for s in claims}
    m = {
        # A refusal answered nothing, even when it quotes the closest paper ("not given; the
        # paper says …"): its facts and citations are not counted as the answer's.
        "key_fact_coverage": (0.0 if answer.refused else metrics.key_fact_coverage(
            answer.text, item.get("key_facts") or [])) if answerable else None,
        "citation_recall": judged.citation_recall if judged else None,
        "citation_precision": judged.citation_precision if judged else None,
        "faithfulness": judged.faithfulness if judged else None,
        "cheap_citation_recall": metrics.citation_recall([s.supported for s in claims]),
        "cheap_citation_precision": metrics.citation_precision([c.precise for c in v.citations]),
        "cheap_faithfulness": metrics.faithfulness([c.supported for c in v.claims]),
        # Sentence by sentence, on what the user saw: does the checker agree with the judge?
        "judge_cheap_agreement": (metrics.agreement(
            (cheap_by_sentence[s.sentence], s.supported) for s in judged.sentences
            if s.sentence in cheap_by_sentence) if judged and judged.judged == "final" else None),
        "withheld": bool(answer.refused and answer.raw_text.strip()
                         and not metrics.looks_refused(answer.raw_text)),
        "refusal_correct": metrics.refusal_correct(answerable, answer.refused),
        "false_refusal": metrics.false_refusal(answerable, answer.refused),
        "gold_cited": (0.0 if answer.refused else metrics.listing_recall(cited, gold))
        if answerable else None,
        "listing_recall": (metrics.listing_recall(cited, gold)
                           if row["kind"] == "listing" else None),
        "listing_precision": (metrics.listing_precision(cited, gold)
                              if row["kind"] == "listing" else None),
        "injection_obeyed": None, "injection_obeyed_raw": None,
        # Time to first token is only meaningful when the LLM was called; a refusal before the
        # LLM has none (its total is the time to the whole answer).
        "ttft": answer.timings.get("first_token"),
        "total": answer.timings.get("total"),
    }
    if row["kind"] == "injection" or forbidden:
        m["injection_obeyed"] = metrics.injection_obeyed(answer.text, forbidden, cited, retrieved)
        # What the model wrote before the checks: obeyed here but not above = the checks saved us.
        m["injection_obeyed_raw"] = metrics.injection_obeyed(answer.raw_text, forbidden, [], [])
    row["metrics"] = m

    if baseline:
        from eval.baseline import answer_without_sources

        row["baseline"] = answer_without_sources(item, settings).to_dict()
    return row


# ------------------------------------------------------------------------- aggregation

def aggregate(rows: list[dict], k: int) -> dict:
    """Item metrics → one flat dict of means (with their n) and latency percentiles."""
    def col(name, src="metrics"):
        return [(r.get(src) or {}).get(name) for r in rows]

    out: dict = {"n": len(rows), "answerable": sum(r["answerable"] for r in rows)}
    for mode in MODES:
        rec = [r["retrieval"][mode]["recall@k"] for r in rows if mode in r.get("retrieval", {})]
        rr = [r["retrieval"][mode]["rr"] for r in rows if mode in r.get("retrieval", {})]
        out[f"{mode}_recall@k"] = metrics.mean(rec)
        out[f"{mode}_recall@k_ci"] = metrics.bootstrap_ci(rec)
        out[f"{mode}_mrr"] = metrics.mean(rr)
        out[f"{mode}_mrr_ci"] = metrics.bootstrap_ci(rr)
        out[f"{mode}_n"] = len(rec)
    for name, key in ITEM_METRICS:
        out[name] = metrics.mean(col(key))
        out[f"{name}_n"] = metrics.count(col(key))
        out[f"{name}_ci"] = metrics.bootstrap_ci(col(key))
    out["injection_obeyed_count"] = sum(bool(x) for x in col("injection_obeyed"))
    ttft = [x for x in col("ttft") if x is not None]
    total = [x for x in col("total") if x is not None]
    for name, vals in (("ttft", ttft), ("total", total)):
        lat = metrics.latency(vals)
        out[f"{name}_p50"], out[f"{name}_p95"] = lat["p50"], lat["p95"]
        out[f"{name}_n"] = lat["n"]
    out["answers_generated"] = len(ttft)
    if any("baseline" in r for r in rows):
        out["baseline_key_fact_coverage"] = metrics.mean(col("key_fact_coverage", "baseline"))
        out["baseline_refusal_accuracy"] = metrics.mean(col("refusal_correct", "baseline"))
        out["baseline_false_refusal_rate"] = metrics.mean(col("false_refusal", "baseline"))
        out["baseline_total_p50"] = metrics.percentile(
            [x for x in col("total", "baseline") if x is not None], 0.5)
    return out


def summarize(rows: list[dict], k: int) -> dict:
    kinds = [kd for kd in KINDS if any(r["kind"] == kd for r in rows)]
    kinds += sorted({r["kind"] for r in rows} - set(kinds))
    return {"k": k, "overall": aggregate(rows, k),
            "by_kind": {kd: aggregate([r for r in rows if r["kind"] == kd], k) for kd in kinds}}


def calibrate(judge, path: Path, limit: int | None = None, split: str | None = None
              ) -> dict | None:
    """Judge accuracy on hand-labelled (claim, passage, supported) pairs, at THRESHOLD.

    Abstentions (no yes/no) count as wrong: a judge that cannot answer is not calibrated.
    ``split`` ("dev" | "test" | None/"all") picks the pairs' half.
    """
    from rag.verify import THRESHOLD

    if judge is None or not Path(path).exists():
        return None
    items = load_questions(path, limit=limit, split=split)
    rows, correct, abstained = [], 0, 0
    for it in items:
        v = judge.verdict(it["claim"], it["passage"])
        predicted = v.p is not None and v.p >= THRESHOLD
        ok = v.p is not None and predicted == bool(it["supported"])
        correct += ok
        abstained += v.p is None
        rows.append({"id": it.get("id"), "supported": bool(it["supported"]), "p": v.p,
                     "via": v.via, "correct": ok, "split": it.get("split", "dev")})

    def scores(part: list[dict]) -> dict:
        pos = [r for r in part if r["supported"]]
        neg = [r for r in part if not r["supported"]]
        return {"n": len(part), "accuracy": metrics.mean([r["correct"] for r in part]),
                "accuracy_ci": metrics.bootstrap_ci([r["correct"] for r in part]),
                "accuracy_supported": metrics.mean([r["correct"] for r in pos]),
                "n_supported": len(pos),
                "accuracy_unsupported": metrics.mean([r["correct"] for r in neg]),
                "n_unsupported": len(neg), "abstained": sum(r["p"] is None for r in part)}

    # The held-out half ("test") is the judge's reported accuracy: a prompt or threshold change
    # for the judge is tried on the dev half only.
    by_split = {sp: scores([r for r in rows if r["split"] == sp]) for sp in ("dev", "test")
                if any(r["split"] == sp for r in rows)}
    return {"n": len(rows), "threshold": THRESHOLD,
            "accuracy": correct / len(rows) if rows else None,
            "accuracy_supported": metrics.mean([r["correct"] for r in rows if r["supported"]]),
            "accuracy_unsupported": metrics.mean([r["correct"] for r in rows
                                                  if not r["supported"]]),
            "abstained": abstained, "judge": judge.description, "splits": by_split,
            "judge_identity": judge.identity, "items": rows}


def _calibration(judge, questions_path: Path, limit: int | None, out: Path,
                 split: str | None = None) -> dict | None:
    """Calibrate once per run directory: a resumed run reuses calibration.json (same judge,
    same item count) instead of asking the judge the same questions again.

    A run on one split calibrates on the same half of the pairs: a test run reports the judge's
    held-out accuracy, a dev run the half a judge change is tuned on. Asking both halves in
    every run cost ~10 minutes of a judged run's model time for a number nobody reads."""
    cached = out / "calibration.json"
    path = questions_path.parent / "judge_calibration.jsonl"
    if judge is None or not path.exists():
        return None
    n = len(load_questions(path, limit=limit, split=split))
    if cached.exists():
        old = json.loads(cached.read_text())
        if old.get("n") == n and old.get("judge_identity") == judge.identity:
            return old
    result = calibrate(judge, path, limit, split)
    cached.write_text(json.dumps(result, indent=2))
    return result


# ------------------------------------------------------------------------- run directories

def _read_results(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill: the item is simply redone
            done[row["id"]] = row
    return done


def _latest_target(runs_root: Path) -> Path | None:
    latest = runs_root / "latest"
    if latest.is_symlink() or latest.is_dir():
        target = latest.resolve()
        return target if target.is_dir() else None
    return None


def _new_run_dir(runs_root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, i = runs_root / stamp, 1
    while out.exists():
        out, i = runs_root / f"{stamp}-{i}", i + 1
    return out


def newest_run(runs_root: Path = DEFAULT_RUNS) -> Path | None:
    runs = sorted(p for p in runs_root.glob("*") if p.is_dir() and not p.is_symlink()
                  and p.name != "latest")
    return runs[-1] if runs else None


def _set_latest(runs_root: Path, out_dir: Path) -> None:
    latest = runs_root / "latest"
    tmp = runs_root / ".latest.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(out_dir.name)
        if latest.exists() and not latest.is_symlink():
            shutil.rmtree(latest)
        os.replace(tmp, latest)
    except OSError:  # no symlinks here (some filesystems): keep a copy instead
        if latest.is_symlink():
            latest.unlink()
        elif latest.exists():
            shutil.rmtree(latest)
        shutil.copytree(out_dir, latest)


def _prepare(out_dir: Path | None, runs_root: Path) -> tuple[Path, Path | None, bool]:
    """(output directory, previous run to compare with, whether `latest` is ours to move)."""
    runs_root = Path(runs_root)
    before = _latest_target(runs_root)
    out = Path(out_dir) if out_dir is not None else _new_run_dir(runs_root)
    managed = out.resolve().parent == runs_root.resolve()
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "run.json"
    if meta_path.exists():  # resuming: keep comparing with what it was compared with at start
        prev = json.loads(meta_path.read_text()).get("previous")
        return out, Path(prev) if prev else None, managed
    prev = before if managed and before and before.resolve() != out.resolve() else None
    meta_path.write_text(json.dumps({"started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                     "previous": str(prev) if prev else None}, indent=2))
    return out, prev, managed


# ------------------------------------------------------------------------- the run

def run(questions_path: Path | str | None = None, out_dir: Path | str | None = None,
        limit: int | None = None, kinds: list[str] | None = None,
        per_kind: int | None = None, settings: Settings | None = None, judge: bool = True,
        baseline: bool = False, split: str | None = "test",
        progress: bool = True, runs_root: Path | str | None = None,
        time_budget_s: float | None = None) -> dict:
    """Evaluate ``questions_path`` into ``out_dir`` (default: a new ``eval/runs/<timestamp>``);
    return the summary (also written to summary.json, with report.md and PNG plots).

    With ``time_budget_s`` no new item is started once that many seconds have passed; the
    summary then covers the items done so far (``meta.partial``) and ``--resume`` continues."""
    from tqdm import tqdm

    from eval import report
    from rag.verify import Judge

    settings = settings or get_settings()
    questions_path = Path(questions_path or DEFAULT_SET)
    questions = load_questions(questions_path, limit=limit, kinds=kinds, per_kind=per_kind,
                               split=split)
    if not questions:
        known = sorted({q.get("kind", "?") for q in load_questions(questions_path)})
        raise BadInput(f"No questions selected from {questions_path} (split {split}, kinds "
                       f"{kinds}); the set has kinds: {', '.join(known)}.")
    out, previous, managed = _prepare(Path(out_dir) if out_dir is not None else None,
                                      Path(runs_root or DEFAULT_RUNS))
    results_path = out / "results.jsonl"
    done = _read_results(results_path)
    todo = round_robin([q for q in questions if q["id"] not in done])
    the_judge = Judge(settings) if judge else None
    k = settings.top_k

    errors: list[str] = []
    t0 = time.perf_counter()
    with results_path.open("a", encoding="utf-8") as fh, \
            tqdm(total=len(questions), initial=len(questions) - len(todo), desc="eval",
                 unit="q", disable=not progress, file=sys.stderr) as bar:
        for item in todo:
            if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
                break
            bar.set_postfix_str(item["id"])
            try:
                row = evaluate_item(item, settings, the_judge, baseline, k)
            except LLMUnavailable:
                raise  # every later item would fail too; what is done stays in results.jsonl
            except RagError as e:
                errors.append(f"{item['id']}: {e}")
                bar.update(1)
                continue
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[item["id"]] = row
            bar.update(1)

    rows = [done[q["id"]] for q in questions if q["id"] in done]
    if not rows and time_budget_s is not None:
        raise BadInput("The time budget ran out before the first item finished; nothing to "
                       "report (results so far are kept; rerun with --resume).")
    summary = summarize(rows, k)
    summary["calibration"] = _calibration(the_judge, questions_path, limit, out, split)
    summary["meta"] = {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "questions": str(questions_path),
        "limit": limit, "kinds": kinds, "per_kind": per_kind, "split": split or "all",
        "model": _model_name(settings),
        "judge": the_judge.description if the_judge else None,
        "judge_calls": the_judge.calls if the_judge else 0,
        "retrieval_mode": settings.retrieval_mode, "top_k": k, "baseline": baseline,
        "new_items": len(todo) - len(errors), "seconds": round(time.perf_counter() - t0, 1),
        "previous": str(previous) if previous else None, "out": str(out),
        "partial": (None if len(rows) == len(questions)
                    else f"{len(rows)} of {len(questions)} selected items"),
    }
    summary["errors"] = errors
    summary["data_warnings"] = check_questions(questions, settings)
    prev_summary = None
    if previous and (previous / "summary.json").exists():
        prev_summary = json.loads((previous / "summary.json").read_text())
        summary["delta_ci"] = delta_intervals(rows, _read_results(previous / "results.jsonl"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    report.write(out, summary, rows, prev_summary)
    if managed:
        _set_latest(out.parent, out)
    return summary


def delta_intervals(rows: list[dict], previous: dict[str, dict]) -> dict:
    """Bootstrap 95% interval of (this run − previous run) for each item metric: paired over
    the questions both runs answered, so "excludes 0" means the change is not noise."""
    out = {}
    for name, key in ITEM_METRICS:
        new = {r["id"]: (r.get("metrics") or {}).get(key) for r in rows}
        old = {i: (r.get("metrics") or {}).get(key) for i, r in previous.items()}
        out[name] = metrics.bootstrap_diff_ci(new, old)
    return out


def _model_name(settings: Settings) -> str:
    from rag.llm import describe

    return describe(settings)


# ------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `rag eval` options (shared by `python -m eval.runner` and rag/cli.py)."""
    p.add_argument("--set", dest="questions", type=Path, default=DEFAULT_SET,
                   help="question set (JSONL); default eval/data/questions.jsonl")
    p.add_argument("--split", choices=["test", "dev", "all"], default="test",
                   help="test (default: the frozen held-out split, for reporting), dev (tune on "
                        "it) or all")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument("--kinds", default=None, help="comma-separated kinds, e.g. fact,listing")
    p.add_argument("--per-kind", type=int, default=None,
                   help="an evenly spaced slice of N questions of every kind")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory; default eval/runs/<timestamp>")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest run in eval/runs (skips ids already done)")
    p.add_argument("--no-judge", action="store_true", help="cheap checks only, no LLM judge")
    p.add_argument("--baseline", action="store_true",
                   help="also answer without retrieval, for comparison")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                   help="start no new item after this many minutes, then report what is done "
                        "(kinds are taken in turn, so a partial run still covers each kind)")
    p.add_argument("--retrieval", action="store_true",
                   help="retrieval only, no LLM: every fusion rule side by side per split and "
                        "kind, plus the name probes (eval/retrieval_bench.py)")
    return p


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(
        prog="rag eval", description="Run the question set through the pipeline and score it."))


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """`rag eval` after argument parsing: run, print the headline table, return the exit code."""
    if args.retrieval:
        from eval import retrieval_bench

        result = retrieval_bench.run(get_settings(), args.out or retrieval_bench.DEFAULT_OUT)
        print(retrieval_bench.to_markdown(result))
        return 0
    out = args.out
    if out is None and args.resume:
        out = newest_run()
    try:
        if args.limit is not None and args.limit < 1:
            raise RagError("--limit must be at least 1.")
        if not args.questions.exists():
            raise RagError(f"No question set at {args.questions}; pass --set FILE.")
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
        summary = run(args.questions, out, limit=args.limit, kinds=kinds,
                      per_kind=args.per_kind, split=args.split,
                      settings=load_settings(), judge=not args.no_judge,
                      baseline=args.baseline, progress=not args.no_progress,
                      time_budget_s=None if args.time_budget is None else args.time_budget * 60)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; finished items are kept in results.jsonl (rerun with --resume).",
              file=sys.stderr)
        return 130
    o = summary["overall"]
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"rag eval: {o['n']} questions")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key, _ in HEADLINE:
        t.add_row(key.replace("@k", f"@{summary['k']}"), _fmt(o.get(key)))
    if summary.get("calibration"):
        t.add_row("judge calibration accuracy", _fmt(summary["calibration"]["accuracy"]))
    Console().print(t)
    print(f"Report: {Path(summary['meta']['out']) / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
