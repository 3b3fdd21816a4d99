"""An `Answer` as data other programs read: the JSON payload (UI API, OpenAI-compatible server),
plain text with its numbered references, and Markdown for copying into notes.

Kept in rag/ so the web UI and the HTTP server (both clients of `rag.ask`) describe an answer the
same way; every function reads typed fields, none re-parses answer text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from typing import Any

from rag.types import Answer, Citation, Claim, Quote, Source

# The numbered references appended to an answer's text (the CLI's and the server's format).
_REFERENCE_LINE = re.compile(r"^\[\d+\] \S.*$")


def evidence_for(answer: Answer, number: int) -> list[tuple[str, str]]:
    """(quote, the answer sentence it supports) for citation [number], each quote once."""
    out: dict[str, str] = {}
    for claim in answer.claims:
        for q in claim.quotes:
            if q.citation == number and q.text not in out:
                out[q.text] = claim.sentence
    return list(out.items())


def _listing_date(answer: Answer, source_number: int) -> str | None:
    return next((s.listing_date for s in answer.sources if s.number == source_number), None)


def sources_payload(answer: Answer) -> list[dict]:
    """Cited sources as plain data: one entry per [n] in the answer text."""
    by_num = {s.number: s for s in answer.sources}
    rows = []
    for c in answer.citations:
        s = by_num.get(c.source_number)
        rows.append({
            "number": c.number, "title": c.title, "paper_id": c.paper_id, "snippet": c.snippet,
            "listing_date": s.listing_date if s else None,
            "quotes": [{"text": q, "supports": sent} for q, sent in evidence_for(answer, c.number)],
            "score": round(s.score, 6) if s else None,
            "similarity": round(s.similarity, 4) if s else None,
        })
    return rows


def answer_payload(answer: Answer) -> dict:
    """Text, cited sources, refusal flag and what the checks found, as JSON-ready data."""
    cited = {c.source_number for c in answer.citations}
    return {
        "text": answer.text,
        "sources": sources_payload(answer),
        "refused": answer.refused,
        "unsupported": list(answer.unsupported),
        "flagged_numbers": list(answer.flagged_numbers),
        "flagged_terms": list(answer.flagged_terms),
        "claims": [{"sentence": c.sentence, "supported": c.supported,
                    "quotes": [{"citation": q.citation, "text": q.text} for q in c.quotes]}
                   for c in answer.claims],
        "standalone_question": answer.standalone_question,
        "searched": [{"title": s.title, "paper_id": s.paper_id, "score": round(s.score, 6)}
                     for s in answer.sources if s.number not in cited],
        "model": answer.model,
    }


def references_text(answer: Answer) -> str:
    """The numbered reference list, one "[n] Title" line per citation (as `rag ask` prints)."""
    return answer.references()


def text_with_references(answer: Answer) -> str:
    """What a plain-text client shows: the answer with its [n] markers, then the references."""
    refs = references_text(answer)
    return f"{answer.text}\n\n{refs}" if refs else answer.text


def strip_references(text: str) -> str:
    """An assistant turn as a client sends it back (text + references) -> the answer text alone,
    as the UI keeps it for follow-ups."""
    parts = text.rstrip().split("\n\n")
    if len(parts) > 1 and all(_REFERENCE_LINE.match(line) for line in parts[-1].splitlines()):
        return "\n\n".join(parts[:-1])
    return text


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown to paste into notes: question, text with [n], then a numbered
    reference list with each paper's title and listing date."""
    out = [f"**Q:** {answer.question}", "", answer.text]
    if answer.citations:
        out += ["", "**References**", ""]
        for c in answer.citations:
            date = _listing_date(answer, c.source_number)
            out.append(f"[{c.number}] {c.title}" + (f" (listed {date})" if date else ""))
    if answer.unsupported:
        out += ["", "*Not supported by the cited papers:* "
                + " · ".join(f"“{u}”" for u in answer.unsupported)]
    return "\n".join(out).strip() + "\n"


# --- an Answer through JSON and back (the UI keeps past chats in the browser)

def answer_to_dict(answer: Answer, *, compact: bool = True) -> dict[str, Any]:
    """`Answer` as plain data; ``compact`` drops whole abstracts and the raw draft (what a
    stored chat needs is the text, citations, passages and checks)."""
    data = asdict(answer)
    if compact:
        data["raw_text"] = ""
        for s in data["sources"]:
            s["abstract"] = ""
    return data


def _build(cls, data: dict) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The inverse of `answer_to_dict` (unknown keys ignored, so old stored chats still load)."""
    answer = _build(Answer, data)
    answer.citations = [_build(Citation, c) for c in data.get("citations") or []]
    answer.sources = [_build(Source, s) for s in data.get("sources") or []]
    answer.claims = []
    for c in data.get("claims") or []:
        claim = _build(Claim, c)
        claim.quotes = [_build(Quote, q) for q in c.get("quotes") or []]
        answer.claims.append(claim)
    return answer
