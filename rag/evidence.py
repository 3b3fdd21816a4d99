"""Evidence selection: the sentences of each retrieved paper that bear on the question.

On 2 CPU cores the local model reads the prompt at ~80 tokens/s, so every sentence of context
costs about a third of a second before the first token. Whole abstracts (or whole chunks) carry
many sentences that do not bear on the question. Here each candidate sentence is scored by
cosine similarity to the question (the same MiniLM model as retrieval; sentence vectors are
cached across questions) plus its share of the question's content words, and the prompt gets:

* first, the best-ranked paper nearly whole: its sentences, best first, up to
  ``RAG_EVIDENCE_TOP_SHARE`` of the budget (0.7: the abstract in full when it fits). Most
  questions are about one paper, and what they ask for is often a sentence that scores low on
  its own ("… achieves 74.65% accuracy" says nothing about the method's name; a paraphrased
  question resembles the problem a paper states, not the name it gives its method). On the
  dev split the key facts that reach the prompt rose from 0.72 to 0.89 on paraphrased
  questions at the same token budget, and the local model's answers followed (README Speed).
  On the test split (reported, not tuned on) they rose less (0.74 to 0.78), answer key facts
  did not move overall, and two comparisons lost a side. An earlier 52-question slice had
  shown no gain, and it was off until 2026-12-07;
* every other paper's best sentence (so no selected paper is silently dropped), then
* the best remaining sentences overall, while the token budget lasts,

each paper's sentences kept in their original order, with "…" marking gaps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from rag.citations import content_words, split_sentences
from rag.errors import RagError
from rag.query_encoder import get_encoder
from rag.retrieval import stored_sentence_vectors
from rag.settings import Settings
from rag.thresholds import EVIDENCE_LEXICAL_WEIGHT
from rag.tokens import token_len
from rag.types import Source

_CACHE_SIZE = 20_000
_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_lock = threading.Lock()


def _keep(model: str, texts: list[str], vectors) -> None:
    with _lock:
        for t, v in zip(texts, vectors):
            _cache[(model, t)] = np.asarray(v, dtype=np.float32)
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)


def _stored(settings: Settings) -> dict[str, np.ndarray]:
    try:
        return stored_sentence_vectors(settings)
    except RagError:  # no index (sources given directly): embed everything here
        return {}


def _vectors(texts: list[str], settings: Settings) -> np.ndarray:
    model = settings.embedder_id
    missing = [t for t in texts if (model, t) not in _cache]
    if missing:
        # Sentences of indexed abstracts were embedded at ingest (rag/sentences.py): reuse
        # those vectors, so only text the index does not hold is embedded here.
        stored = _stored(settings)
        known = [t for t in missing if t in stored]
        _keep(model, known, [stored[t] for t in known])
        missing = [t for t in missing if t not in stored]
    if missing:
        _keep(model, missing, get_encoder(settings).get_text_embedding_batch(missing))
    with _lock:
        return np.stack([_cache[(model, t)] for t in texts])


def select(question: str, sources: list[Source], settings: Settings, budget: int,
           focus: list[int] | None = None) -> dict[int, str]:
    """Source number -> the evidence text to show for it. ``focus``: the numbers of two or
    more papers to fill first (the sides of a comparison, or the top two when retrieval cannot
    tell them apart), each up to ``RAG_FOCUS_TOKENS``."""
    cands: list[tuple[int, int, str]] = []  # (source number, position, sentence)
    for s in sources:
        for i, sent in enumerate(split_sentences(s.abstract or s.text)):
            cands.append((s.number, i, sent))
    if not cands:
        return {}
    qvec = np.asarray(get_encoder(settings).get_query_embedding(question), dtype=np.float32)
    sims = _vectors([c[2] for c in cands], settings) @ qvec
    qwords = content_words(question)
    lex = np.array([len(qwords & content_words(c[2])) / max(1, len(qwords)) for c in cands])
    score = sims + EVIDENCE_LEXICAL_WEIGHT * lex

    order = [int(i) for i in np.argsort(-score)]
    cost = [token_len(c[2]) for c in cands]
    chosen: set[int] = set()
    used = 0

    def fill(limit: float, paper: int | None = None) -> None:
        """Add candidates (of ``paper`` only, if given) in score order while they fit."""
        nonlocal used
        for i in order:
            if i in chosen or paper is not None and cands[i][0] != paper:
                continue
            if used + cost[i] <= limit:
                chosen.add(i)
                used += cost[i]

    side = settings.focus_tokens
    if focus and len(focus) > 1 and side:
        # Each paper in focus first, up to about a whole abstract, the budget growing to fit:
        # with the top paper's share a comparison's second side got the leftovers, and on the
        # dev comparisons 0.27 of the key facts asked for were not in the prompt at all.
        budget = max(budget, side * len(focus))
        for i, number in enumerate(focus, start=1):
            fill(side * i, paper=number)
    elif settings.evidence_top_share > 0:  # the best-ranked paper first, up to its share
        fill(settings.evidence_top_share * budget, paper=sources[0].number)
    for s in sources:  # then every paper's best sentence, if not in yet
        idx = next((i for i in order if cands[i][0] == s.number), None)
        if idx is not None and idx not in chosen:
            chosen.add(idx)
            used += cost[idx]
    fill(budget)

    out: dict[int, str] = {}
    for s in sources:
        picked = sorted((cands[i][1], cands[i][2]) for i in chosen if cands[i][0] == s.number)
        text, last = "", None
        for pos, sent in picked:
            if last is not None and pos != last + 1:
                text += " … "
            elif text:
                text += " "
            text += sent
            last = pos
        out[s.number] = text
    return out
