"""Post-generation citation handling: parse, validate, attach, renumber, check numbers.

A small model often drops or invents citation markers, so what it writes is not trusted as is.
`check` runs four named steps over one `Sentence` record per sentence — `parse` (1), `attach`
(2), `supports` (4, 5), `render` (3):

1. Markers ([1], [2, 3], [1][2], "Source 2") are parsed per sentence and mapped to sources.
   Markers that point at no source are removed.
2. A sentence with no marker gets the source whose text covers most of its content words,
   when that coverage is high enough (otherwise it stays uncited and is reported); a marker
   pointing at a paper that shares little of the sentence, while another source holds nearly
   all of it, is re-pointed to that source.
3. Citations are renumbered 1..m — the model's own markers in order of first use (the numbers
   already shown while streaming), then attached ones — so the numbers the user sees match the
   reference list exactly.
4. Every number (counts, percentages, years…) and every name-like term (acronyms, CamelCase,
   letter+digit such as WMT14) in a sentence must appear in the sources it cites, and most of
   its content words must too (words repeated from the question are not counted as its
   claims); otherwise the sentence is reported as unsupported.
5. Sentences that only say what the sources lack ("The sources do not report…") are kept
   but are not claims. If no claim is supported, the draft is withheld and the answer is a
   refusal: an answer whose every statement failed the checks is not shown as an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag import quantities
from rag.markers import LEADING_CITATION, name_markers, tidy
from rag.names import names_in, singular_name, source_names
from rag.thresholds import ATTACH_COVERAGE, MIN_COVERAGE, REPOINT_MARGIN
from rag.types import Citation, Source

MARKER = re.compile(r"\[(?:sources?\s*)?(\d+(?:\s*[,;]\s*(?:sources?\s*)?\d+)*)\]", re.I)
_SOURCE_WORD = re.compile(r"\(?\b[Ss]ource\s+(\d+)\)?")
# Labels of the prompt's layout that a small model sometimes writes back ("Sources:" before a
# list of titles, "Answer: …"); an echoed question line is not part of the answer at all.
_LAYOUT_LABEL = re.compile(r"^(?:sources?|answer)\s*:\s*", re.I)
_ECHOED_QUESTION = re.compile(r"^(?:(?:earlier |follow-up )?question)\s*:", re.I)
# A sentence ends at . ! ? before a capital, digit, quote or bracket — or before a coined name
# that starts lower-case ("… threshold [1]. diffGrad, on the other hand, …"), or any word when
# the period follows a citation marker.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[]|[^\W\d_]+[A-Z])|(?<=\]\.)\s+(?=\w)|\n+")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(\s*%|x\b|×)?")
_WORD = re.compile(r"[a-z][a-z0-9\-]+")
_STOP = set(
    "the a an and or of to in on for with by from as at is are was were be been this that these "
    "those it its their they we our which who whom what when where how why than then also can "
    "such into over under using use used based paper papers propose proposes proposed method "
    "approach show shows results new model models not no more most both each other".split()
)
REFUSAL = "The papers in this collection don't say."
_NOT_REPORTED = re.compile(
    r"\b(sources?|papers?|abstracts?|collection)\b[^.]{0,40}\b(do|does|did)\s+not\b|"
    r"\bnot (reported|given|described|discussed|available)\b|\bno (details?|data) (on|about)\b",
    re.I,
)
# Acronyms (BLEU), CamelCase (ImageNet), letters with digits (WMT14, GPT-4).
_TERM = re.compile(r"\b(?=[A-Za-z0-9\-]*[A-Z][A-Za-z0-9\-]*[A-Z0-9])"
                   r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]\b")
_REFUSAL_PATTERNS = re.compile(
    r"(don['’]t|do not|does not|doesn['’]t) (say|mention|contain|provide|address|specify|state)"
    r"|no (information|mention)|not (mentioned|specified|stated|provided|addressed)"
    r"|cannot (answer|be answered|determine)|can['’]t (answer|determine)|unable to answer",
    re.I,
)


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    unsupported: list[str] = field(default_factory=list)
    flagged_numbers: list[str] = field(default_factory=list)
    flagged_terms: list[str] = field(default_factory=list)
    closest: int | None = None  # the source a withheld draft's own markers cite first


# A period that ends an abbreviation, not a sentence: "(vs. CLIP-L/14)", "e.g. ImageNet".
_ABBREVIATION = re.compile(r"(?:\b(?:vs|e\.g|i\.e|cf|al|approx|resp|Fig|Figs|Eq|Eqs|Sec)\.)$",
                           re.I)


# A name's initial before the name's possessive ("neuroscientist H. Barlow's principle") is no
# sentence end. Only that shape is read: "… on model C. Then we …" ends a sentence, and no
# list of sentence-opening words separates the two in general.
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")
_POSSESSIVE = re.compile(r"[A-Z][a-z]+'s\b")


def split_sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in _SENTENCE.split(text.strip()):
        piece = (piece or "").strip()
        if not piece:
            continue
        if out and (_ABBREVIATION.search(out[-1])
                    or _INITIAL.search(out[-1]) and _POSSESSIVE.match(piece)):
            out[-1] = f"{out[-1]} {piece}"  # the split was at an abbreviation's period
        else:
            out.append(piece)
    return out


def sentence_lines(text: str) -> list[list[str]]:
    """The sentences of each non-empty line: a list or a paragraph break the model wrote stays
    a line of its own when the answer is rebuilt and shown."""
    return [sents for line in text.splitlines() if (sents := split_sentences(line))]


def strip_markers(text: str) -> str:
    """A sentence without its citation markers: "Foo [1][2]." -> "Foo." """
    out = MARKER.sub("", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def numbers_in(text: str) -> list[str]:
    out = []
    for m in _NUMBER.finditer(MARKER.sub(" ", text)):
        num = m.group(1).rstrip(".,")
        if num:
            out.append(num)
    return out


def _norm_num(n: str) -> str:
    return n.replace(",", "")


def _numbers_of(text: str) -> set[str]:
    return {_norm_num(n) for n in numbers_in(text)} | {
        _norm_num(m) for m in re.findall(r"\d+(?:[.,]\d+)*", text)
    }


def is_refusal(text: str) -> bool:
    t = text.strip()
    return not t or bool(_REFUSAL_PATTERNS.search(t)) and len(split_sentences(t)) <= 2


#: A sentence must add at least this many content words of its own for the question's words to
#: be set aside when its coverage is measured (see `word_coverage`).
_MIN_CLAIMED = 2


def word_coverage(sentence: str, text: str, question: str = "") -> float:
    """Share of a sentence's content words found in ``text``.

    With the question given, also the share of the words the sentence adds to the question,
    and the better of the two counts. A small model often restates a paraphrased question
    ("A simple remedy for the error signal blowing up … is gradient norm clipping"); those words
    are the user's, by design not the paper's, and made a right answer look unsupported and be
    withheld. The question can only help a sentence, never hurt it, and a sentence that adds
    fewer than `_MIN_CLAIMED` words of its own gains nothing from it (restating a false premise,
    "NEVIS'22 includes speech tasks", stays unsupported)."""
    words = content_words(MARKER.sub(" ", sentence))
    if not words:
        return 1.0
    src = content_words(text)
    cov = len(words & src) / len(words)
    own = words - content_words(question) if question else set()
    if len(own) >= _MIN_CLAIMED:
        cov = max(cov, len(own & src) / len(own))
    return cov


def _coverage(sentence: str, source: Source, question: str = "") -> float:
    if not content_words(MARKER.sub(" ", sentence)):
        return 0.0
    return word_coverage(sentence, source.title + " " + source.abstract, question)


def best_snippet(sentence: str, source: Source) -> str:
    """The passage of `source` that shares most content words with `sentence`."""
    words = content_words(sentence)
    candidates = split_sentences(source.abstract) or [source.abstract]
    return max(candidates, key=lambda s: len(words & content_words(s)))


def is_non_answer(sentence: str) -> bool:
    """"The sources do not report X." — says what is missing rather than claiming anything."""
    return bool(_REFUSAL_PATTERNS.search(sentence)) or bool(_NOT_REPORTED.search(sentence))


def terms_in(text: str) -> list[str]:
    """Names that must come from somewhere: acronyms, CamelCase, letter+digit (BLEU, WMT14)."""
    return list(dict.fromkeys(m.group(0) for m in _TERM.finditer(MARKER.sub(" ", text))))


def support(body: str, cited: list[Source], question: str = ""
            ) -> tuple[list[str], list[str], float]:
    """(numbers missing from the cited sources, names missing from them, word coverage of the
    words the sentence claims beyond the question). The live check and the eval's cheap checks
    (rag.verify) both use it, so they agree on what a source supports."""
    text = " ".join(s.title + " " + s.abstract for s in cited)
    allowed = _numbers_of(text)
    bad_nums = [x for x in numbers_in(body) if _norm_num(x) not in allowed]
    bad_nums += [x for x in quantities.missing(body, text) if x not in bad_nums]
    low = text.lower()
    bad_terms = [t for t in terms_in(body) if not _term_in(t, low)]
    return bad_nums, bad_terms, word_coverage(body, text, question)


def _term_in(term: str, low: str) -> bool:
    """Whether the lower-cased source text ``low`` writes ``term``, or its singular when the
    answer writes it in the plural: a paper about "a reverse-time SDE" backs "SDEs"."""
    if term.lower() in low:
        return True
    one = singular_name(term)
    return one is not None and re.search(rf"\b{re.escape(one.lower())}\b", low) is not None


def cited_numbers(text: str) -> list[int]:
    """The numbers of the [n] markers in ``text`` ("[1]", "[2, 3]", "[Source 4]"), in order of
    first use, each once."""
    nums: list[int] = []
    for m in MARKER.finditer(text):
        nums += [int(x) for x in re.findall(r"\d+", m.group(1))]
    return list(dict.fromkeys(nums))


@dataclass
class Sentence:
    """One sentence of the model's text on its way through `check`."""

    body: str  # without markers, tidied
    line: int  # the model's line it came from (lists and paragraphs are kept)
    claim: bool  # False for "The sources do not report …" sentences
    marked: list[int] = field(default_factory=list)  # valid sources the model's markers name
    trailing: list[int] = field(default_factory=list)  # …and the marker-only lines after it
    #: The sources the model cited (``marked``, re-pointed when it copied from a neighbour):
    #: the numbers already shown while streaming come first in the final numbering.
    explicit: list[int] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)  # explicit, or attached after generation
    supported: bool = False
    bad_numbers: list[str] = field(default_factory=list)
    bad_terms: list[str] = field(default_factory=list)


def check(text: str, sources: list[Source], attach_threshold: float = ATTACH_COVERAGE,
          min_coverage: float = MIN_COVERAGE, question: str = "") -> CheckedAnswer:
    """Turn the model's raw text into a checked answer (see module docstring): parse → attach →
    support → render. ``question``: its words do not count as the sentence's claims
    (`word_coverage`)."""
    raw = text.strip()
    if not raw:
        return CheckedAnswer(text=REFUSAL, refused=True)
    by_num = {s.number: s for s in sources}
    sentences = parse(raw, sources)
    names_of = source_names(sources)  # once per answer: every sentence is matched against it
    for sent in sentences:
        attach(sent, sources, question, attach_threshold, names_of)
    sentences = _without_repeats(sentences)
    flagged: list[str] = []
    flagged_terms: list[str] = []
    for sent in sentences:
        supports(sent, by_num, question, min_coverage)
        flagged += [x for x in sent.bad_numbers if x not in flagged]
        flagged_terms += [x for x in sent.bad_terms if x not in flagged_terms]
    unsupported = [s.body for s in sentences if s.claim and not s.supported]
    if not any(s.supported for s in sentences):
        # Nothing is backed: withhold it; rag.refusals quotes `closest` (`_first_pick`).
        return CheckedAnswer(text=REFUSAL, refused=True, unsupported=unsupported,
                             flagged_numbers=flagged, flagged_terms=flagged_terms,
                             closest=_first_pick(sentences))
    text, cites = render(sentences, by_num)
    # Opening with "The abstract does not report X; …" declines the question as asked.
    return CheckedAnswer(text=text, citations=cites, refused=not sentences[0].claim,
                         unsupported=unsupported, flagged_numbers=flagged,
                         flagged_terms=flagged_terms)


def _without_repeats(sentences: list[Sentence]) -> list[Sentence]:
    """The sentences but those repeating an earlier one: the same words and numbers, citing no
    paper the earlier one does not. A small model caught in a loop writes its last sentences
    again until the token limit (4 of 296 recorded dev answers); the first copy stays."""
    kept: list[Sentence] = []
    # (content words, numbers) -> the papers each earlier sentence with them cites
    seen: dict[tuple[frozenset[str], tuple[str, ...]], list[set[int]]] = {}
    for sent in sentences:
        key = (frozenset(content_words(sent.body)), tuple(sorted(numbers_in(sent.body))))
        cited = set(sent.cited)
        if sent.claim and key[0] and any(cited <= earlier for earlier in seen.get(key, [])):
            continue
        seen.setdefault(key, []).append(cited)
        kept.append(sent)
    return kept


def _first_pick(sentences: list[Sentence]) -> int | None:
    """The paper a withheld draft points at: the first the model's own markers cite, else the
    first cited at all. A name the sentence repeats from the question ("… against SGD
    experiments [1]") attaches the paper whose title writes it ("DoG is SGD's Best Friend"),
    and that is not where the model said its answer came from."""
    return next((n for s in sentences for n in s.explicit),
                next((n for s in sentences for n in s.cited), None))


def parse(raw: str, sources: list[Source]) -> list[Sentence]:
    """The model's sentences with the sources their markers name; prompt layout written back
    (an echoed question, "Answer:") dropped, markers used as names given their titles."""
    by_num = {s.number: s for s in sources}
    titles = [s.title for s in sources]
    out: list[Sentence] = []
    for line, sent in ((i, x) for i, sents in enumerate(sentence_lines(raw)) for x in sents):
        if _ECHOED_QUESTION.match(sent):
            continue
        lead = LEADING_CITATION.match(sent)
        if lead and out and out[-1].claim and not out[-1].marked and not out[-1].trailing:
            # "… a clipping threshold. [1] diffGrad, on the other hand, …": the model put its
            # citation after the period; it belongs to the sentence that has none.
            out[-1].trailing += [n for n in cited_numbers(lead.group(1)) if n in by_num]
            sent = sent[lead.end():]
        sent = name_markers(_LAYOUT_LABEL.sub("", sent), by_num)
        nums = cited_numbers(sent) + [int(m.group(1)) for m in _SOURCE_WORD.finditer(sent)]
        valid = [n for n in dict.fromkeys(nums) if n in by_num]
        body = tidy(strip_markers(_SOURCE_WORD.sub("", sent)), titles)
        if not body or not re.search(r"\w", body):
            # A line holding only markers ("[1][2]") cites for the sentence before it.
            if out and nums and out[-1].claim:
                out[-1].trailing += valid
            continue
        claim = not is_non_answer(body)
        out.append(Sentence(body, line, claim, marked=valid if claim else []))
    return out


def attach(sent: Sentence, sources: list[Source], question: str, threshold: float,
           names_of: dict[int, list[str]]) -> None:
    """Which sources a claim cites: its own markers, re-pointed when another source holds
    nearly all of it; an uncited sentence gets the source that covers it best, if any does.
    Markers on a line of their own after the sentence are added after that decision, never
    re-pointed (as before the steps were split; bench/behaviour_lock.py holds it)."""
    if not sent.claim:
        return
    explicit = list(sent.marked)
    cov = {s.number: _coverage(sent.body, s, question) for s in sources}
    best = max(cov, key=lambda n: cov[n]) if cov else None
    if explicit and best is not None and best not in explicit:
        # A small model often copies a fact from one source and cites its neighbour. When
        # the cited papers share little of the sentence and another paper holds nearly all
        # of it, the citation is re-pointed there (ALCE-style precision repair).
        cited_cov = max(cov[n] for n in explicit)
        if cov[best] >= threshold and cov[best] - cited_cov >= REPOINT_MARGIN:
            explicit = [best]
    cited = list(explicit)
    if not cited and best is not None and cov[best] >= threshold:
        cited = [best]
    # "RestoreFormer++ models …, while DifFace relies on …" cites both (rag.names.names_in).
    cited += [n for n in names_in(sent.body, names_of) if n not in cited]
    sent.explicit = list(dict.fromkeys(explicit + sent.trailing))
    sent.cited = list(dict.fromkeys(cited + sent.trailing))


def supports(sent: Sentence, by_num: dict[int, Source], question: str, min_coverage: float
             ) -> None:
    """Every number and name of a claim in the sources it cites, and most of its words."""
    if not sent.claim:
        return
    sent.bad_numbers, sent.bad_terms, coverage = support(
        sent.body, [by_num[n] for n in sent.cited], question)
    sent.supported = bool(sent.cited) and not (sent.bad_numbers or sent.bad_terms) \
        and coverage >= min_coverage


def render(sentences: list[Sentence], by_num: dict[int, Source]) -> tuple[str, list[Citation]]:
    """The answer text with display markers, and the reference list they point to."""
    # Display numbers: explicit markers first, in order of first use (exactly what the stream
    # showed), then sources attached after generation. Sequential, no gaps.
    order: dict[int, int] = {}  # source number -> display number
    for sent in sentences:
        for n in sent.explicit:
            order.setdefault(n, len(order) + 1)
    for sent in sentences:
        for n in sent.cited:
            order.setdefault(n, len(order) + 1)

    snippets: dict[int, str] = {}
    parts: list[str] = []
    for k, sent in enumerate(sentences):
        if k and sent.line != sentences[k - 1].line:
            parts.append("\n")
        for n in sent.cited:
            snippets.setdefault(n, best_snippet(sent.body, by_num[n]))
        markers = "".join(f"[{order[n]}]" for n in sorted(sent.cited, key=lambda n: order[n]))
        if markers:
            # Keep the sentence's final punctuation after the markers: "… cost [1]."
            end = re.match(r"^(.*?)([.!?]*)$", sent.body, re.S)
            assert end is not None  # the pattern matches any string
            parts.append(f"{end.group(1).rstrip()} {markers}{end.group(2)}")
        else:
            parts.append(sent.body)

    cites = [
        Citation(number=d, paper_id=by_num[n].paper_id, title=by_num[n].title,
                 snippet=snippets[n], source_number=n)
        for n, d in sorted(order.items(), key=lambda kv: kv[1])
    ]
    return " ".join(parts).replace(" \n ", "\n"), cites


class StreamRenumberer:
    """Rewrites citation markers in a token stream as they arrive, with the same numbering the
    final checked answer will use for explicit markers (first use → 1, 2, …); markers that point
    at no source are dropped. Text inside an unfinished "[…" is held back until it closes."""

    def __init__(self, valid_numbers: set[int]):
        self.valid = valid_numbers
        self.order: dict[int, int] = {}
        self.buf = ""

    def _render(self, marker: str) -> str:
        nums = [int(x) for x in re.findall(r"\d+", marker)]
        out = ""
        for n in nums:
            if n in self.valid:
                self.order.setdefault(n, len(self.order) + 1)
                out += f"[{self.order[n]}]"
        return out

    def feed(self, delta: str) -> str:
        self.buf += delta
        out = ""
        while self.buf:
            i = self.buf.find("[")
            if i < 0:
                out, self.buf = out + self.buf, ""
                break
            out, self.buf = out + self.buf[:i], self.buf[i:]
            j = self.buf.find("]")
            if j < 0:
                if len(self.buf) > 24:  # not a marker after all
                    out, self.buf = out + self.buf, ""
                break
            token = self.buf[: j + 1]
            m = MARKER.fullmatch(token)
            out += self._render(m.group(1)) if m else token
            self.buf = self.buf[j + 1 :]
        return out

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out
