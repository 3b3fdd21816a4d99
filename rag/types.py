"""Typed values that flow through the pipeline: Paper -> chunks -> Source -> Answer.

Clients (CLI, UI, eval, tests) read these fields; nobody re-parses answer text.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paper:
    paper_id: str
    title: str
    abstract: str
    listing_date: str | None = None  # e.g. "Mar 11": the listing page carries no year
    source_files: tuple[str, ...] = ()


@dataclass
class Source:
    """One retrieved paper, with the passages that matched the question."""

    number: int  # 1-based rank; the [n] the LLM sees
    paper_id: str
    title: str
    score: float  # fused (RRF) score used for ranking
    similarity: float  # best dense cosine similarity of its passages: the relevance signal
    passages: list[str] = field(default_factory=list)  # best first
    abstract: str = ""
    listing_date: str | None = None
    shown_to_llm: bool = False  # passed the relevance floor and went into the prompt

    @property
    def text(self) -> str:
        """The evidence shown to the LLM: the best passages, joined."""
        return " … ".join(self.passages)


@dataclass
class Citation:
    number: int  # as shown to the user: sequential 1..n in order of first use
    paper_id: str
    title: str
    snippet: str  # the passage of the paper that best supports the citing sentence(s)
    source_number: int  # the source's rank in retrieval ([n] the LLM saw)


@dataclass
class Quote:
    """A sentence of a cited paper, verbatim, that supports an answer sentence."""

    citation: int  # the [n] of the answer (display number)
    paper_id: str
    text: str


@dataclass
class Claim:
    """One sentence of the answer with its evidence (rag/quotes.py)."""

    sentence: str  # without citation markers
    quotes: list[Quote] = field(default_factory=list)
    supported: bool = False  # cited, and passed the checks (not in Answer.unsupported)


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    refused: bool = False
    standalone_question: str | None = None  # the condensed follow-up, when history was given
    unsupported: list[str] = field(default_factory=list)  # sentences the checks could not support
    flagged_numbers: list[str] = field(default_factory=list)  # numbers in no cited source
    flagged_terms: list[str] = field(default_factory=list)  # names/acronyms in no cited source
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    model: str = ""
    raw_text: str = ""  # what the model wrote, before citation checking
    claims: list[Claim] = field(default_factory=list)  # per sentence: the quotes supporting it

    @property
    def cited_sources(self) -> list[Source]:
        by_num = {s.number: s for s in self.sources}
        return [by_num[c.source_number] for c in self.citations if c.source_number in by_num]

    def references(self) -> str:
        """A plain-text numbered reference list, as the CLI prints it."""
        return "\n".join(f"[{c.number}] {c.title}" for c in self.citations)


@dataclass(frozen=True)
class Status:
    """A progress event from `ask_stream` (shown while the user waits)."""

    stage: str  # "condensing" | "retrieving" | "reading" | "answering" | "checking"
    message: str
