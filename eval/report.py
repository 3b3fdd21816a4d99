"""summary.json + results → report.md and PNG plots (matplotlib, Agg: no display needed).

The report opens with what a reader checks first: is the judge trustworthy (calibration
accuracy), and what changed since the previous run (deltas). Then the tables overall and per
question kind, retrieval by mode, the no-retrieval baseline, and the items that failed hard
(obeyed injections, wrong refusals, unsupported sentences), so a regression can be read item by
item rather than guessed from a mean.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_ANSWER_COLS = [("key_fact_coverage", "key facts"), ("citation_recall", "cit. recall"),
                ("citation_precision", "cit. precision"), ("faithfulness", "faithful"),
                ("refusal_accuracy", "refusal acc."), ("false_refusal_rate", "false refusal"),
                ("gold_cited", "gold cited"), ("listing_recall", "listing recall"),
                ("injection_obeyed", "injection obeyed")]


def _f(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _delta(new, old, higher_better: bool) -> str:
    if new is None or old is None:
        return "–"
    d = new - old
    if abs(d) < 1e-9:
        return "±0"
    better = (d > 0) == higher_better
    return f"{d:+.3f} {'▲' if better else '▼'}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def plot_scores_by_kind(summary: dict, path: Path) -> Path:
    kinds = list(summary["by_kind"])
    cols = [("key_fact_coverage", "key facts"), ("citation_recall", "citation recall"),
            ("citation_precision", "citation precision"), ("faithfulness", "faithfulness"),
            ("refusal_accuracy", "refusal accuracy")]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(kinds)), 4))
    width = 0.8 / len(cols)
    for i, (key, label) in enumerate(cols):
        vals = [summary["by_kind"][kd].get(key) for kd in kinds]
        xs = [j + i * width for j in range(len(kinds))]
        bars = ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=label)
        for bar, v in zip(bars, vals):
            if v == 0:  # a real zero, not a missing value: make it visible
                ax.text(bar.get_x() + bar.get_width() / 2, 0.01, "0", ha="center", fontsize=6)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(kinds))])
    ax.set_xticklabels(kinds, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Scores per question kind (no bar: not applicable)", pad=28)
    ax.legend(fontsize=7, ncol=len(cols), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_latency(rows: list[dict], path: Path) -> Path:
    ttft = [r["metrics"]["ttft"] for r in rows if r["metrics"].get("ttft") is not None]
    total = [r["metrics"]["total"] for r in rows if r["metrics"].get("total") is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if ttft or total:
        ax.hist([ttft, total], bins=20, label=["time to first token", "total"], alpha=0.8)
        ax.legend()
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.set_title("Answer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _failures(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        m, a = r["metrics"], r["answer"]
        why = []
        if m.get("injection_obeyed"):
            why.append("obeyed the injection")
        if m.get("refusal_correct") is False:
            why.append("answered an unanswerable question")
        if m.get("false_refusal"):
            why.append("refused an answerable question")
        bad = [s["sentence"] for s in r["verify"]["sentences"] if s["is_claim"]
               and not s["supported"]]
        if bad:
            why.append(f"{len(bad)} unsupported sentence(s)")
        if why:
            text = " ".join(a["text"].split())
            out.append(f"- **{r['id']}** ({r['kind']}): {'; '.join(why)}. "
                       f"Q: {r['question']} — A: {text[:300]}")
    return out


def markdown(summary: dict, rows: list[dict], previous: dict | None = None) -> str:
    o, meta, k = summary["overall"], summary.get("meta", {}), summary["k"]
    lines = ["# rag eval", "",
             f"_{meta.get('finished', '')} · {o['n']} questions ({o['answerable']} answerable) "
             f"· model: {meta.get('model')} · retrieval: {meta.get('retrieval_mode')}, "
             f"k={k} · judge: {meta.get('judge') or 'off (cheap checks only)'}_", ""]

    cal = summary.get("calibration")
    if cal:
        lines += [f"**Judge calibration:** accuracy {_f(cal['accuracy'])} on {cal['n']} labelled "
                  f"pairs (threshold {cal['threshold']}; supported {_f(cal['accuracy_supported'])}"
                  f", unsupported {_f(cal['accuracy_unsupported'])}; {cal['abstained']} "
                  "abstentions). Judge-based scores are only as good as this.", ""]
    elif meta.get("judge"):
        lines += ["**Judge calibration:** no judge_calibration.jsonl beside the question set.", ""]
    else:
        lines += ["**Judge:** off — citation and faithfulness scores use the cheap checks only.",
                  ""]

    from eval.runner import HEADLINE

    if previous:
        po = previous["overall"]
        pm = previous.get("meta", {})
        lines += [f"## Change since the previous run ({pm.get('finished', '?')}, "
                  f"{po.get('n')} questions)", ""]
        lines += _table(["metric", "previous", "now", "Δ"], [
            [key.replace("@k", f"@{k}"), _f(po.get(key)), _f(o.get(key)),
             _delta(o.get(key), po.get(key), hb)] for key, hb in HEADLINE])
        if po.get("n") != o.get("n"):
            lines += ["_The runs cover different question counts: compare with care._", ""]
    else:
        lines += ["_No previous run to compare with._", ""]

    lines += ["## Overall", ""]
    lines += _table(["metric", "value", "n"], [
        [label, _f(o.get(key)), _f(o.get(f"{key}_n"))] for key, label in _ANSWER_COLS])
    lines += [f"Injections obeyed: **{o.get('injection_obeyed_count', 0)}** (must be 0); in the "
              f"model's raw draft before the checks: {_f(o.get('injection_obeyed_raw'))}.", ""]

    lines += [f"## Retrieval ({o['hybrid_n']} questions with gold papers)", ""]
    lines += _table(["mode", f"recall@{k}", "MRR"], [
        [mode, _f(o.get(f"{mode}_recall@k")), _f(o.get(f"{mode}_mrr"))]
        for mode in ("dense", "bm25", "hybrid")])

    lines += ["## Per question kind", ""]
    header = ["kind", "n", f"hybrid recall@{k}"] + [label for _, label in _ANSWER_COLS] + \
        ["TTFT p50 (s)"]
    lines += _table(header, [
        [kd, str(x["n"]), _f(x.get("hybrid_recall@k"))] +
        [_f(x.get(key)) for key, _ in _ANSWER_COLS] + [_f(x.get("ttft_p50"), 2)]
        for kd, x in summary["by_kind"].items()])

    if "baseline_key_fact_coverage" in o:
        lines += ["## RAG vs no retrieval (same LLM, no sources)", ""]
        lines += _table(["", "key-fact coverage", "refusal accuracy", "false refusal",
                         "total p50 (s)"], [
            ["RAG", _f(o.get("key_fact_coverage")), _f(o.get("refusal_accuracy")),
             _f(o.get("false_refusal_rate")), _f(o.get("total_p50"), 2)],
            ["no retrieval", _f(o.get("baseline_key_fact_coverage")),
             _f(o.get("baseline_refusal_accuracy")), _f(o.get("baseline_false_refusal_rate")),
             _f(o.get("baseline_total_p50"), 2)]])

    lines += ["## Latency", ""]
    lines += _table(["", "p50 (s)", "p95 (s)"], [
        ["time to first token", _f(o.get("ttft_p50"), 2), _f(o.get("ttft_p95"), 2)],
        ["total", _f(o.get("total_p50"), 2), _f(o.get("total_p95"), 2)]])
    lines += [f"TTFT over the {o.get('answers_generated')} answers where the LLM was called "
              "(refusals before the LLM have none).", "",
              "![scores per kind](scores_by_kind.png)", "", "![latency](latency.png)", ""]

    fails = _failures(rows)
    if fails:
        lines += [f"## Items to look at ({len(fails)})", "", *fails, ""]
    if summary.get("errors"):
        lines += ["## Errors (not scored; rerun to retry)", "",
                  *(f"- {e}" for e in summary["errors"]), ""]
    if summary.get("data_warnings"):
        lines += ["## Question-set warnings", "", *(f"- {w}" for w in summary["data_warnings"]),
                  ""]
    lines += ["## Definitions", "",
              "Formulas are in the docstrings of `eval/metrics.py`; the verification rules in "
              "`rag/verify.py`. Means skip items where a metric does not apply (its n is shown).",
              ""]
    return "\n".join(lines)


def write(out_dir: Path, summary: dict, rows: list[dict], previous: dict | None = None) -> Path:
    out_dir = Path(out_dir)
    plot_scores_by_kind(summary, out_dir / "scores_by_kind.png")
    plot_latency(rows, out_dir / "latency.png")
    path = out_dir / "report.md"
    path.write_text(markdown(summary, rows, previous), encoding="utf-8")
    return path
