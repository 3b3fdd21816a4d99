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

from eval.metrics import HEADLINE

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_ANSWER_COLS = [("key_fact_coverage", "key facts"), ("gold_cited", "gold cited"),
                ("refusal_accuracy", "refusal acc."), ("false_refusal_rate", "false refusal"),
                ("listing_recall", "listing recall"), ("listing_precision", "listing precision"),
                ("citation_recall", "cit. recall (judge)"),
                ("citation_precision", "cit. precision (judge)"),
                ("faithfulness", "faithful (judge)"),
                ("cheap_citation_recall", "cit. recall (cheap checks)"),
                ("cheap_citation_precision", "cit. precision (cheap checks)"),
                ("cheap_faithfulness", "faithful (cheap checks)"),
                ("judge_cheap_agreement", "judge–cheap agreement"),
                ("withheld_rate", "withheld by checker"),
                ("injection_obeyed", "injection obeyed")]
_KIND_COLS = [key for key, _ in _ANSWER_COLS if key not in
              ("cheap_citation_recall", "cheap_citation_precision", "withheld_rate")]


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


def _ci(x) -> str:
    return f"{x[0]:.2f}–{x[1]:.2f}" if x else "–"


def _cell(stats: dict, key: str, n_key: str | None = None) -> str:
    """"0.62 [0.48–0.75] n27": value, bootstrap 95% interval, items behind it."""
    v = stats.get(key)
    if v is None:
        return "–"
    n = stats.get(n_key or f"{key}_n", "?")
    ci = stats.get(f"{key}_ci")
    return f"{v:.2f} [{_ci(ci)}] n{n}" if ci else f"{v:.2f} n{n}"


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
        # A run without the judge has only the cheap checks' citation scores: plot those.
        vals = [summary["by_kind"][kd].get(key) if summary["by_kind"][kd].get(key) is not None
                else summary["by_kind"][kd].get(f"cheap_{key}") for kd in kinds]
        xs = [j + i * width for j in range(len(kinds))]
        bars = ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=label)
        for bar, v in zip(bars, vals):
            if v == 0:  # a real zero, not a missing value: make it visible
                ax.text(bar.get_x() + bar.get_width() / 2, 0.01, "0", ha="center", fontsize=6)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(kinds))])
    ax.set_xticklabels(kinds, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Scores per question kind (no bar: not applicable; judge-based where judged)",
                 pad=28)
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

    lines += [f"_Split: **{meta.get('split', 'all')}** — "
              + ("the frozen held-out questions nobody tunes on._" if meta.get("split") == "test"
                 else "tune freely on these._" if meta.get("split") == "dev"
                 else "dev and test together._"), ""]
    if meta.get("partial"):
        lines += [f"> **Partial run: {meta['partial']}** (stopped by its time budget; kinds were "
                  "taken in turn, so each is sampled). Continue with `--resume`.", ""]
    cal = summary.get("calibration")
    if cal and cal.get("splits"):
        parts = []
        for sp, c in cal["splits"].items():
            parts.append(f"{'held-out half' if sp == 'test' else 'dev half'}: accuracy "
                         f"{_f(c['accuracy'])} [{_ci(c.get('accuracy_ci'))}] on {c['n']} pairs "
                         f"(supported {_f(c['accuracy_supported'])} of {c['n_supported']}, "
                         f"unsupported {_f(c['accuracy_unsupported'])} of "
                         f"{c['n_unsupported']}; {c['abstained']} abstentions)")
        lines += [f"**Judge calibration** (threshold {cal['threshold']}): " + "; ".join(parts)
                  + ". Judge-based scores are only as good as this.", ""]
    elif cal:
        lines += [f"**Judge calibration:** accuracy {_f(cal['accuracy'])} on {cal['n']} labelled "
                  f"pairs (threshold {cal['threshold']}; supported {_f(cal['accuracy_supported'])}"
                  f", unsupported {_f(cal['accuracy_unsupported'])}; {cal['abstained']} "
                  "abstentions). Judge-based scores are only as good as this.", ""]
    elif meta.get("judge"):
        lines += ["**Judge calibration:** no judge_calibration.jsonl beside the question set.", ""]
    else:
        lines += ["**Judge:** off — citation and faithfulness scores use the cheap checks only.",
                  ""]

    if previous:
        po = previous["overall"]
        pm = previous.get("meta", {})
        lines += [f"## Change since the previous run ({pm.get('finished', '?')}, "
                  f"{po.get('n')} questions)", ""]
        dci = summary.get("delta_ci") or {}

        def _sig(key):
            ci = dci.get(key)
            if not ci:
                return "–"
            return f"[{ci[0]:+.3f}, {ci[1]:+.3f}] " + ("excludes 0" if ci[0] > 0 or ci[1] < 0
                                                     else "includes 0")
        lines += _table(["metric", "previous", "now", "Δ", "95% interval of Δ (paired)"], [
            [key.replace("@k", f"@{k}"), _f(po.get(key)), _f(o.get(key)),
             _delta(o.get(key), po.get(key), hb), _sig(key)] for key, hb in HEADLINE])
        if po.get("n") != o.get("n"):
            lines += ["_The runs cover different question counts: compare with care._", ""]
    else:
        lines += ["_No previous run to compare with._", ""]

    lines += ["## Overall", ""]
    lines += _table(["metric", "value", "95% interval", "n"], [
        [label, _f(o.get(key)), _ci(o.get(f"{key}_ci")), _f(o.get(f"{key}_n"))]
        for key, label in _ANSWER_COLS])
    lines += ["Citation recall/precision and faithfulness marked *judge* come from the LLM "
              "entailment judge on every answered item and on every draft the checker withheld "
              "(eval/judged.py, no code shared with the checker's support rules); *cheap "
              "checks* are the live checker's own rules, shown for comparison, and their "
              "sentence-level agreement with the judge is given. Intervals: percentile "
              "bootstrap over items, 1,000 resamples.", ""]
    lines += [f"Injections obeyed: **{o.get('injection_obeyed_count', 0)}** (must be 0); in the "
              f"model's raw draft before the checks: {_f(o.get('injection_obeyed_raw'))}.", ""]

    lines += [f"## Retrieval ({o['hybrid_n']} questions with gold papers)", ""]
    lines += _table(["mode", f"recall@{k}", "95% interval", "MRR", "95% interval"], [
        [mode, _f(o.get(f"{mode}_recall@k")), _ci(o.get(f"{mode}_recall@k_ci")),
         _f(o.get(f"{mode}_mrr")), _ci(o.get(f"{mode}_mrr_ci"))]
        for mode in ("dense", "bm25", "hybrid")])

    lines += ["## Per question kind", ""]
    labels = dict(_ANSWER_COLS)
    header = ["kind", "n", f"hybrid recall@{k}"] + [labels[key] for key in _KIND_COLS] + \
        ["TTFT p50 / p95 (s)", "total p50 / p95 (s)"]
    lines += _table(header, [
        [kd, str(x["n"]), _cell(x, "hybrid_recall@k", "hybrid_n")] +
        [_cell(x, key) for key in _KIND_COLS] +
        [f"{_f(x.get('ttft_p50'), 2)} / {_f(x.get('ttft_p95'), 2)} n{x.get('ttft_n', '?')}",
         f"{_f(x.get('total_p50'), 2)} / {_f(x.get('total_p95'), 2)} n{x.get('total_n', '?')}"]
        for kd, x in summary["by_kind"].items()])
    lines += ["Each cell: mean [bootstrap 95% interval] n items it applies to.", ""]

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
