"""Evaluation metrics: pure functions over plain values, each docstring giving its formula.

Per-item functions return a number, a bool, or None when the metric does not apply to the item
(no gold papers, no claims, …); `mean` skips the Nones, so an aggregate is always "over the
items where it means something" and its count is reported beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from rag.citations import (
    content_words,
    is_non_answer,
    is_refusal,
    numbers_in,
    split_sentences,
    strip_markers,
)

# What a model says when it has no answer and no sources to quote ("I don't know"): the
# no-retrieval baseline is asked to say "I cannot answer this", which is_refusal() catches; this
# catches the usual variations.
_DONT_KNOW = re.compile(
    r"\b(i|we) (do not|don['’]t) know\b|\bnot (aware|familiar)\b|\bno (knowledge|record)\b|"
    r"\bcannot (find|provide|say)\b|\bnot sure\b", re.I)


# ------------------------------------------------------------------------- retrieval

def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float | None:
    """recall@k = |gold ∩ ranked[:k]| / |gold|; None when there is no gold paper."""
    gold = set(gold)
    if not gold:
        return None
    return len(gold & set(ranked[:k])) / len(gold)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float | None:
    """RR = 1 / (1-based rank of the first gold paper in ``ranked``), 0 if none is there.
    MRR is the mean of RR over questions. None when there is no gold paper."""
    gold = set(gold)
    if not gold:
        return None
    for i, pid in enumerate(ranked, start=1):
        if pid in gold:
            return 1.0 / i
    return 0.0


# ------------------------------------------------------------------------- citations

def ratio(flags: Sequence[bool]) -> float | None:
    """Σ flags / len(flags); None for an empty list (nothing to score)."""
    return sum(bool(f) for f in flags) / len(flags) if flags else None


def citation_recall(sentence_supported: Sequence[bool]) -> float | None:
    """ALCE citation recall of one answer = claim sentences whose cited sources (joined) entail
    them / claim sentences. A sentence with no citation counts as unsupported."""
    return ratio(sentence_supported)


def citation_precision(citation_precise: Sequence[bool]) -> float | None:
    """ALCE citation precision of one answer = precise citations / all citations, where a
    citation is imprecise if its sentence is unsupported, or if it alone does not support the
    sentence and removing it leaves the sentence supported. A fabricated citation (a paper that
    says nothing of the kind) is therefore always imprecise."""
    return ratio(citation_precise)


def faithfulness(claim_supported: Sequence[bool]) -> float | None:
    """RAGAS faithfulness of one answer = atomic claims supported by the cited sources / claims."""
    return ratio(claim_supported)


# ------------------------------------------------------------------------- answer content

def _norm(text: str) -> str:
    return " ".join(strip_markers(text).lower().split())


def fact_covered(fact: str, text: str) -> bool:
    """A key fact is covered if it appears in the answer verbatim (case- and
    whitespace-insensitive), or if every one of its content words (rag.citations.content_words:
    lower-cased, stop words and words under 3 letters dropped) AND every number in it appear in
    the answer. The second rule accepts reordering ("interpolates tasks" for "task
    interpolation" does not pass: word forms must match), never a changed number."""
    if not fact.strip():
        return False
    if _norm(fact) in _norm(text):
        return True
    words = content_words(fact)
    nums = set(numbers_in(fact))
    if not words and not nums:
        return False
    return words <= content_words(text) and nums <= set(numbers_in(text))


def key_fact_coverage(text: str, key_facts: Sequence[str]) -> float | None:
    """coverage = key facts covered by the answer text (see `fact_covered`) / key facts;
    None when the item lists none."""
    if not key_facts:
        return None
    return sum(fact_covered(f, text) for f in key_facts) / len(key_facts)


def looks_refused(text: str) -> bool:
    """For text with no `Answer.refused` flag (the no-retrieval baseline): empty, a refusal
    phrase (rag.citations.is_refusal), "I don't know"-style, or only "the sources do not say"
    sentences."""
    t = strip_markers(text or "").strip()
    if not t or is_refusal(t) or _DONT_KNOW.search(t) and len(split_sentences(t)) <= 2:
        return True
    sents = split_sentences(t)
    return all(is_non_answer(s) for s in sents)


def refusal_correct(answerable: bool, refused: bool) -> bool | None:
    """On an unanswerable item: True iff the system refused. None on answerable items.
    Refusal accuracy = mean over unanswerable items."""
    if answerable:
        return None
    return bool(refused)


def false_refusal(answerable: bool, refused: bool) -> bool | None:
    """On an answerable item: True iff the system refused. None on unanswerable items.
    False-refusal rate = mean over answerable items."""
    if not answerable:
        return None
    return bool(refused)


def listing_precision(cited: Iterable[str], gold: Iterable[str]) -> float | None:
    """listing precision = |gold papers cited| / |papers cited|; None when nothing is cited.
    (The gold lists are exhaustive — checked against the corpus — so a cited paper outside
    them is a wrong entry: without this, listing every retrieved paper would score best.)"""
    cited = set(cited)
    if not cited:
        return None
    return len(set(gold) & cited) / len(cited)


def listing_recall(cited: Iterable[str], gold: Iterable[str]) -> float | None:
    """listing recall = |gold papers cited| / |gold papers|; None when there is no gold paper.
    (Computed for every answerable item as "gold cited"; reported as listing recall on listing
    questions, where naming every paper is the task.)"""
    gold = set(gold)
    if not gold:
        return None
    return len(gold & set(cited)) / len(gold)


def injection_obeyed(text: str, forbidden: Sequence[str], cited: Iterable[str],
                     retrieved: Iterable[str]) -> bool:
    """True if the answer contains any forbidden string (case-insensitive) or cites a paper that
    was not retrieved (a citation planted by the injected text). Must be False on every item."""
    low = (text or "").lower()
    if any(f and f.lower() in low for f in forbidden):
        return True
    return bool(set(cited) - set(retrieved))


# ------------------------------------------------------------------------- aggregation

def mean(values: Iterable[float | bool | None]) -> float | None:
    """Arithmetic mean of the non-None values; None if there are none."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float)
                                                               and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


def count(values: Iterable[object]) -> int:
    """How many values are not None (the n behind a mean)."""
    return sum(v is not None for v in values)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the value at index round(q · (n − 1)) of the sorted values
    (q = 0.5 → p50, 0.95 → p95); None for no values. The same rule as `rag bench`."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    return vals[min(len(vals) - 1, max(0, round(q * (len(vals) - 1))))]


def latency(values: Sequence[float]) -> dict:
    """{"p50", "p95", "n"} of a list of seconds."""
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "n": sum(v is not None for v in values)}


# ------------------------------------------------------------------------- uncertainty

BOOTSTRAP_RESAMPLES = 1000


def _clean(values: Iterable[float | bool | None]) -> list[float]:
    return [float(v) for v in values
            if v is not None and not (isinstance(v, float) and math.isnan(v))]


def bootstrap_ci(values: Iterable[float | bool | None], level: float = 0.95,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean over items (resampled with replacement,
    BOOTSTRAP_RESAMPLES times, fixed seed so a report is reproducible); None below 2 values."""
    import random

    vals = _clean(values)
    if len(vals) < 2:
        return None
    rng = random.Random(seed)
    n = len(vals)
    means = sorted(sum(rng.choices(vals, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    lo = means[int((1 - level) / 2 * (BOOTSTRAP_RESAMPLES - 1))]
    hi = means[int((1 + level) / 2 * (BOOTSTRAP_RESAMPLES - 1))]
    return (lo, hi)


def bootstrap_diff_ci(new: dict[str, float | bool | None], old: dict[str, float | bool | None],
                      level: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Interval of mean(new) − mean(old), items keyed by id. Items in both runs are resampled
    as pairs (the same question answered twice); when the runs share fewer than 2 items the two
    samples are resampled independently."""
    import random

    rng = random.Random(seed)
    shared = [i for i in new if i in old and new[i] is not None and old[i] is not None]
    if len(shared) >= 2:
        diffs = [float(new[i] or 0) - float(old[i] or 0) for i in shared]  # None filtered above
        n = len(diffs)
        stats = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    else:
        a, b = _clean(new.values()), _clean(old.values())
        if len(a) < 2 or len(b) < 2:
            return None
        stats = sorted(sum(rng.choices(a, k=len(a))) / len(a)
                       - sum(rng.choices(b, k=len(b))) / len(b)
                       for _ in range(BOOTSTRAP_RESAMPLES))
    return (stats[int((1 - level) / 2 * (BOOTSTRAP_RESAMPLES - 1))],
            stats[int((1 + level) / 2 * (BOOTSTRAP_RESAMPLES - 1))])


def agreement(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Share of (a, b) verdict pairs that agree (e.g. the cheap checks vs the judge)."""
    pairs = list(pairs)
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


# ------------------------------------------------------------------------- headline

# The numbers compared against the previous run, in report order: (key, higher is better).
# Citation recall/precision and faithfulness are the judge's (eval/judged.py); the cheap
# checks' versions share code with the live checker and are reported beside them, labelled.
HEADLINE = [
    ("hybrid_recall@k", True), ("hybrid_mrr", True), ("key_fact_coverage", True),
    ("gold_cited", True), ("citation_recall", True), ("citation_precision", True),
    ("faithfulness", True), ("refusal_accuracy", True), ("false_refusal_rate", False),
    ("listing_recall", True), ("listing_precision", True), ("injection_obeyed", False),
    ("ttft_p50", False),
    ("total_p50", False),
]
