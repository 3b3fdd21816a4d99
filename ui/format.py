"""Pure formatting for the web UI: `Answer` -> chat message, sources panel, API payload.

Kept apart from the Gradio wiring so each piece is a plain function of typed values (no
re-parsing of answer text beyond finding sentence boundaries) and can be unit-tested alone.

Numbering rule: the answer's markers are `Citation.number` (1..m in order of first use); the
sources panel lists cited papers under exactly those numbers. Retrieved papers that were not
cited are listed without a bracketed number ("rank 4"), so no "[n]" on screen can point at the
wrong paper.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rag import render
from rag.citations import sentence_lines, strip_markers
from rag.identify import restatements
from rag.refusals import PREMISE_DENIED
from rag.types import Answer, Paper, Source

# Symbols from fonts every system has (emoji fonts are missing on many Linux desktops).
UNSUPPORTED_MARK = "⚠"
# "Yes, there is a paper that …": the question said back, not a claim drawn from a paper. Marked
# apart, so a ⚠ means a claim the papers do not back, not a right answer's opening words.
RESTATED_MARK = "↺"
WORKING = "…"
EMPTY_PANEL = (
    "### Sources\n\nAsk a question: the papers the answer cites appear here, each with the "
    "passage it was drawn from."
)
NO_EVAL = "No evaluation run yet — run `rag eval` to create one."


def md_escape(text: str) -> str:
    """Text shown literally inside Markdown: no HTML, no emphasis/links from stray symbols."""
    return re.sub(r"([\\`*_\[\]#|<>])", r"\\\1", text)


def plain_content(content: Any) -> str:
    """A Gradio message's content as text (Gradio 6 passes a list of {"type": "text"} parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(plain_content(c) for c in content)
    return ""


def _norm(sentence: str) -> str:
    return re.sub(r"[\s.!?]+$", "", " ".join(strip_markers(sentence).split())).lower()


def mark_unsupported(text: str, unsupported: Iterable[str], question: str = ""
                     ) -> tuple[str, list[str]]:
    """Wrap each answer sentence the checks could not support in ⚠ + <mark>; one that only
    restates ``question`` (`rag.identify.restatements`) in ↺ + a muted <mark> instead.

    Returns (marked text as Markdown, unsupported sentences not found in the text). `Answer.
    unsupported` holds sentences without their markers, so sentences are compared marker-free.
    """
    wanted = {_norm(u): u for u in unsupported if u.strip()}
    restated = {_norm(u) for u in restatements(list(wanted.values()), question)}
    found: set[str] = set()
    lines = []
    for sentences in sentence_lines(text):
        parts = []
        for sentence in sentences:
            key = _norm(sentence)
            shown = md_escape(sentence)
            # The markers themselves must stay clickable-looking "[1]", not "\[1\]".
            shown = re.sub(r"\\\[(\d+)\\\]", r"[\1]", shown)
            if key in wanted:
                found.add(key)
                shown = (f'{RESTATED_MARK} <mark class="restated" title="restates your question; '
                         f'not evidence">{shown}</mark>' if key in restated else
                         f'{UNSUPPORTED_MARK} <mark title="not supported by the cited papers">'
                         f"{shown}</mark>")
            parts.append(shown)
        lines.append(" ".join(parts))
    missing = [u for k, u in wanted.items() if k not in found]
    return "\n".join(lines), missing


def answer_markdown(answer: Answer) -> str:
    """The final chat message for an answer (or a refusal)."""
    if answer.refused and not answer.citations:
        n = len(answer.sources)
        searched = (f" I searched {n} paper{'s' if n != 1 else ''}; they are listed under "
                    "*Sources*." if n else "")
        return f"**Not in these papers.** {md_escape(answer.text)}{searched}"
    if answer.refused:  # "not given", with what the closest paper does say, cited
        body = mark_unsupported(answer.text, answer.unsupported)[0]
        # A denied premise is not missing from the papers: the paper says the opposite.
        label = ("The paper says otherwise." if answer.text.startswith(PREMISE_DENIED)
                 else "Not in these papers.")
        return f"**{label}** {body}\n\n{_cited_line(answer)}"
    question = answer.standalone_question or answer.question
    body, missing = mark_unsupported(answer.text, answer.unsupported, question)
    restated = restatements(answer.unsupported, question)
    notes = []
    if len(restated) < len(answer.unsupported):
        notes.append(f"{UNSUPPORTED_MARK} *Marked sentences are not supported by the papers they "
                     "cite (or cite none): treat them with care.*")
    if restated:
        notes.append(f"{RESTATED_MARK} *Muted sentences only restate your question; they are "
                     "not evidence.*")
    for sentence in missing:
        notes.append(f"{UNSUPPORTED_MARK} *Not supported:* {md_escape(sentence)}")
    if answer.flagged_numbers:
        notes.append("*Numbers not found in the cited papers:* "
                     + ", ".join(f"`{x}`" for x in answer.flagged_numbers))
    if answer.flagged_terms:
        notes.append("*Names not found in the cited papers:* "
                     + ", ".join(f"`{x}`" for x in answer.flagged_terms))
    if answer.citations:
        notes.append(_cited_line(answer))
    return body + ("\n\n" + "\n\n".join(notes) if notes else "")


def _cited_line(answer: Answer) -> str:
    return "*Sources:* " + " · ".join(f"[{c.number}] {md_escape(c.title)}"
                                      for c in answer.citations)


def streaming_markdown(text: str) -> str:
    """The answer while it streams: literal text, citation markers kept as [n]."""
    return re.sub(r"\\([\[\]])", r"\1", md_escape(text))


def status_markdown(message: str) -> str:
    return f"{WORKING} *{md_escape(message)}*"


def error_markdown(message: str) -> str:
    return f"{UNSUPPORTED_MARK} **Could not answer.** {md_escape(message)}"


def _scores(s: Source) -> str:
    return f"score {s.score:.3f} · similarity {s.similarity:.2f}"


def _quote(text: str) -> str:
    return "> " + md_escape(" ".join(text.split()))


def _uncited_block(sources: list[Source], heading: str, open_: bool = False) -> str:
    if not sources:
        return ""
    items = "\n".join(
        f"- {md_escape(s.title)} — rank {s.number}, {_scores(s)}"
        + ("" if s.shown_to_llm else " (below the relevance floor)")
        for s in sources
    )
    return (f"<details{' open' if open_ else ''}><summary>{heading} ({len(sources)})</summary>"
            f"\n\n{items}\n\n</details>")


def sources_markdown(answer: Answer | None, show_uncited: bool = True) -> str:
    """The sources panel: cited papers under their [n], with quoted passages and scores; the
    other retrieved papers collapsed underneath."""
    if answer is None:
        return EMPTY_PANEL
    out = ["### Sources"]
    if answer.standalone_question:
        out.append(f"*Searched for:* {md_escape(answer.standalone_question)}")
    if answer.refused and not answer.citations:
        out.append("**Not in these papers.** No retrieved paper supports an answer, so none is "
                   "cited.")
        if answer.sources:
            out.append(_uncited_block(answer.sources, "Papers searched", open_=True))
        else:
            out.append("*The index returned no papers.*")
        return "\n\n".join(out)

    by_num = {s.number: s for s in answer.sources}
    cited_numbers = {c.source_number for c in answer.citations}
    for c in answer.citations:
        s = by_num.get(c.source_number)
        head = f"**[{c.number}] {md_escape(c.title)}**"
        meta = f"<small>{_scores(s)} · {md_escape(c.paper_id)}</small>" if s else ""
        evidence = _evidence_for(answer, c.number)
        shown = " ".join(q for q, _ in evidence) if evidence else c.snippet
        block = [head + ("  \n" + meta if meta else "")]
        block += ([f"{_quote(q)}  \n<small>supports: “{md_escape(sent)}”</small>"
                   for q, sent in evidence] if evidence else [_quote(c.snippet)])
        others = [p for p in (s.passages if s else []) if " ".join(p.split()) not in
                  " ".join(shown.split())]
        if others:
            block.append("<details><summary>Passages given to the model</summary>\n\n"
                         + "\n\n".join(_quote(p) for p in others) + "\n\n</details>")
        out.append("\n\n".join(block))
    if not answer.citations:
        out.append("*The answer cites no paper.*")
    uncited = [s for s in answer.sources if s.number not in cited_numbers]
    if show_uncited and uncited:
        out.append(_uncited_block(uncited, "Retrieved but not cited"))
    return "\n\n".join(out)


def _evidence_for(answer: Answer, number: int) -> list[tuple[str, str]]:
    return render.evidence_for(answer, number)


def progress_panel(message: str) -> str:
    return f"### Sources\n\n{status_markdown(message)}"


def timing_line(answer: Answer) -> str:
    t = answer.timings
    parts = []
    if "total" in t:
        parts.append(f"answered in {t['total']:.1f} s")
    if "first_token" in t:
        parts.append(f"first token {t['first_token']:.1f} s")
    if answer.model:
        parts.append(md_escape(answer.model))
    return f"<small>{' · '.join(parts)}</small>" if parts else ""


def sources_json(answer: Answer) -> list[dict]:
    """Cited sources as plain data (for the API): one entry per [n] in the answer text."""
    return render.sources_payload(answer)


def answer_json(answer: Answer) -> dict:
    """The API payload (rag/render.py: the same one the OpenAI-compatible server sends)."""
    return render.answer_payload(answer)


def header_loading(model: str, what: str) -> str:
    """The header while the index opens: what is loading, never "not available"."""
    return f"**Model:** {md_escape(model)} &nbsp;·&nbsp; **Index:** loading — {md_escape(what)}"


def header_markdown(model: str, stats: dict | None, error: str | None = None,
                    model_state: str = "") -> str:
    """``model_state`` is `rag.warmup.model_state`: while the embedded model loads, the header
    says the first answer waits for it (on a 2-core laptop, ~10 s of loading and reading the
    system prompt), so a slow first answer is not a surprise."""
    if stats is not None:
        index = f"{stats['papers']:,} papers, {stats['chunks']:,} chunks"
    else:
        index = f"not available — {md_escape(error or 'run `rag ingest`')}"
    state = (" — *warming up: the first answer waits for it*" if model_state == "loading"
             else "")
    return f"**Model:** {md_escape(model)}{state} &nbsp;·&nbsp; **Index:** {index}"


# --- Papers tab

PAPER_COLUMNS = ["Title", "Listing date"]


def filter_papers(papers: list[Paper], query: str = "") -> list[list[str]]:
    """Rows of the papers table: every word of ``query`` must occur in title or abstract."""
    words = query.lower().split()
    rows = []
    for p in papers:
        hay = f"{p.title} {p.abstract}".lower()
        if all(w in hay for w in words):
            rows.append([p.title, p.listing_date or ""])
    return rows


def paper_markdown(paper: Paper | None) -> str:
    if paper is None:
        return "*Select a paper to read its abstract.*"
    date = f" · listed {md_escape(paper.listing_date)}" if paper.listing_date else ""
    return (f"### {md_escape(paper.title)}\n\n<small>{md_escape(paper.paper_id)}{date}</small>"
            f"\n\n{md_escape(paper.abstract)}")


# --- Evaluation tab

def eval_dir(home: Path) -> Path:
    """The latest local `rag eval` run; on a fresh clone, the best run recorded in
    eval/reports/ (so the tab shows real numbers before anyone has run the benchmark): a judged
    run on the held-out test split first (a complete one before a partial one), then any
    test-split run, then the largest, newest."""
    latest = Path(home) / "eval" / "runs" / "latest"
    if (latest / "report.md").is_file():
        return latest
    recorded = []
    for report in (Path(home) / "eval" / "reports").glob("*/report.md"):
        try:
            summary = json.loads((report.parent / "summary.json").read_text())
            n = summary["overall"]["n"]
            meta = summary.get("meta") or {}
        except (OSError, ValueError, KeyError, TypeError):
            n, meta = 0, {}
        test = meta.get("split") == "test"
        recorded.append((test and bool(meta.get("judge")), not meta.get("partial"), test, n,
                         report.parent.name, report.parent))
    return max(recorded)[-1] if recorded else latest


def eval_report(home: Path) -> tuple[str, list[Path]]:
    """(report Markdown, PNG charts) of the latest `rag eval` run, or the 'no run yet' note.

    Local image links are dropped from the Markdown: the charts are shown in a gallery below."""
    folder = eval_dir(home)
    report = folder / "report.md"
    if not report.is_file():
        return NO_EVAL, []
    text = report.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"!\[[^\]]*\]\((?!https?:)[^)]*\)", "", text)
    return text, sorted(folder.glob("*.png"))
