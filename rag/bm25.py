"""BM25 over the index's chunks, with bm25s directly (and, optionally, the question's set
phrases): the lexical half of hybrid retrieval (`rag.retrieval`)."""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property

import numpy as np

# Set phrases (`_BM25.phrase_scores`, RAG_PHRASE_MATCH): a pair written by >= 2 papers and by
# >= 0.2 of those with its rarer word. Chosen on dev (2026-12-07) among 0.1/0.2/0.3, phrase
# score weighted 0.5/1/2 (1, a plain sum, kept): listing r@5/r@10 0.906/0.964 -> 0.917/0.971.
PHRASE_MIN_PAPERS = 2
PHRASE_STRENGTH = 0.2
_BREAKS = re.compile(r"[.,;:!?()\[\]{}\"]")


class BM25:
    """BM25 over the chunks with bm25s, built the way llama-index's BM25Retriever builds it
    (each chunk as "title: T\\n\\ntext", English stop words and Snowball stemmer, the same token
    pattern; tests/test_fusion.py checks the scores are the retriever's) but without importing
    `llama_index.core` on the query path (~1.3 s of a ~2.6 s `rag retrieve`)."""

    TOKENS = r"(?u)\b\w\w+\b"

    def __init__(self, chunks):
        import bm25s
        import Stemmer

        self.ids = [c.id for c in chunks]
        self.stemmer = Stemmer.Stemmer("english")
        # Kept for the phrase index (`pairs`), built from the same texts on first use.
        self._texts = [f"title: {c.title}\n\n{c.text}" for c in chunks]
        corpus = bm25s.tokenize(self._texts, stopwords="english", stemmer=self.stemmer,
                                token_pattern=self.TOKENS, show_progress=False)
        self.index = bm25s.BM25()
        self.index.index(corpus, show_progress=False)
        self.stop = set(bm25s.stopwords.STOPWORDS_EN)
        # Phrases (`phrase_scores`) are indexed on first use: off by default, and the second
        # index costs start-up time a `rag retrieve` would otherwise not pay.
        self._papers = list({c.paper_id: f"{c.title}. {c.abstract}" for c in chunks}.values())

    @cached_property
    def pairs(self):
        """A second BM25 index whose terms are adjacent word pairs."""
        import bm25s

        index = bm25s.BM25()
        index.index([self._pairs(t) for t in self._texts], show_progress=False)
        return index

    @cached_property
    def phrases(self) -> set[str]:
        words: Counter[str] = Counter()
        pairs: Counter[str] = Counter()
        for text in self._papers:
            pairs.update(set(self._pairs(text)))
            words.update(w for w in set(self._words(text)) if w)
        return {pair for pair, n in pairs.items() if n >= PHRASE_MIN_PAPERS
                and n >= PHRASE_STRENGTH * min(words[w] for w in pair.split())}

    def _words(self, text: str) -> list[str | None]:
        """Stemmed words in order, a stop word as None (it breaks a phrase)."""
        return [None if w in self.stop else self.stemmer.stemWord(w)
                for w in re.findall(self.TOKENS, text.lower())]

    def _pairs(self, text: str) -> list[str]:
        """Adjacent word pairs not broken by a stop word or punctuation ("gradient boost")."""
        out = []
        for part in _BREAKS.split(text):
            stems = self._words(part)
            out += [f"{a} {b}" for a, b in zip(stems, stems[1:]) if a and b]
        return out

    def scores(self, question: str, phrases: bool = False) -> dict[str, float]:
        import bm25s

        tokens = bm25s.tokenize(question, stemmer=self.stemmer, token_pattern=self.TOKENS,
                                return_ids=False, show_progress=False)[0]
        ids = self.index.get_tokens_ids(tokens)
        if not ids:
            return {}
        scores = self.index.get_scores_from_ids(ids)
        if phrases:
            scores = scores + self.phrase_scores(question)
        return {self.ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}

    def phrase_scores(self, question: str) -> np.ndarray | float:
        """BM25 over the question's set phrases: adjacent word pairs that at least
        ``PHRASE_MIN_PAPERS`` papers write and that make up ``PHRASE_STRENGTH`` of the rarer
        word's papers ("gradient boosting": most papers writing "boosting" write it so; "new
        model": a pair of common words met by chance). A paper naming the topic as a phrase in
        passing then outranks one that shares several of the question's other words."""
        ids = self.pairs.get_tokens_ids([p for p in self._pairs(question) if p in self.phrases])
        return self.pairs.get_scores_from_ids(ids) if ids else 0.0
