"""Corpus files -> `Paper` records.

Three input formats are accepted:

* listing pages (the bundled corpus): a title line followed by its abstract line, with page
  furniture ("Subscribe", "new", …) and a listing-date line ("Mar 11") mixed in;
* JSONL: one ``{"title": ..., "abstract": ...}`` object per line (optional ``date``);
* a directory of ``.txt``/``.md`` files, one paper per file: first line the title, the rest the
  abstract.

Papers are identified by a stable id derived from the normalised title, so the same paper listed
on two pages (or re-scraped with different spacing/case) merges into one record. Everything is
parsed and validated before anything touches the index: a malformed file raises
`CorpusFormatError` naming the file and line, and nothing is half-ingested.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

from rag.errors import CorpusFormatError
from rag.types import Paper

FURNITURE = {
    "new",
    "subscribe",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
    "byak and the research community",
}
# The page's "Subscribe" button text can be glued to the first title ("SubscribeIs Fast …").
_GLUED_PREFIX = re.compile(r"^Subscribe(?=[A-Z0-9\"'(\[μ])")
_DATE_LINE = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(, \d{4})?$"
)
# An abstract is prose; a title is short. Used to tell a listing page's lines apart and to
# catch files that are not listing pages at all.
_MIN_ABSTRACT_WORDS = 20
_MAX_TITLE_WORDS = 40


def normalise_title(title: str) -> str:
    t = unicodedata.normalize("NFKC", title).casefold()
    t = re.sub(r"[^\w]+", " ", t)
    return " ".join(t.split())


def paper_id(title: str) -> str:
    """Stable id: a slug of the title for readability plus a hash of its normalised form."""
    norm = normalise_title(title)
    slug = "-".join(norm.split()[:6])[:48].strip("-")
    digest = hashlib.sha1(norm.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}" if slug else digest


def _clean(text: str) -> str:
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorpusFormatError(f"{path}: cannot read file ({e.strerror or e}).") from None
    if not raw.strip():
        raise CorpusFormatError(f"{path}: file is empty.")
    if b"\x00" in raw[:8192]:
        raise CorpusFormatError(f"{path}: looks like a binary file, not text.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusFormatError(
            f"{path}:{line}: not valid UTF-8 (byte {e.start}); save the file as UTF-8."
        ) from None


def parse_listing_text(text: str, source: str = "<text>") -> list[Paper]:
    """Parse one listing page into papers (duplicates within the page are kept; see `merge`)."""
    date: str | None = None
    pending_title: tuple[int, str] | None = None
    papers: list[Paper] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _clean(raw)
        if not line:
            continue
        if line.casefold() in FURNITURE:
            continue
        if pending_title is None and _DATE_LINE.match(line):
            date = line
            continue
        line = _GLUED_PREFIX.sub("", line)
        if pending_title is None:
            if len(line.split()) > _MAX_TITLE_WORDS:
                raise CorpusFormatError(
                    f"{source}:{lineno}: expected a paper title but found a long paragraph — "
                    "is this a listing page (title line, then abstract line)?"
                )
            pending_title = (lineno, line)
            continue
        t_line, title = pending_title
        if len(line.split()) < _MIN_ABSTRACT_WORDS:
            raise CorpusFormatError(
                f"{source}:{lineno}: expected the abstract of {title!r} (line {t_line}) but found "
                f"a short line {line[:60]!r}."
            )
        papers.append(Paper(paper_id(title), title, line, date, (Path(source).name,)))
        pending_title = None
    if pending_title is not None:
        t_line, title = pending_title
        raise CorpusFormatError(f"{source}:{t_line}: title {title!r} has no abstract after it.")
    if not papers:
        raise CorpusFormatError(f"{source}: no papers found (expected title/abstract lines).")
    return papers


def parse_jsonl(path: Path) -> list[Paper]:
    papers = []
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise CorpusFormatError(f"{path}:{lineno}: not valid JSON ({e.msg}).") from None
        if not isinstance(rec, dict):
            raise CorpusFormatError(f"{path}:{lineno}: expected a JSON object.")
        missing = [k for k in ("title", "abstract") if not str(rec.get(k) or "").strip()]
        if missing:
            raise CorpusFormatError(
                f"{path}:{lineno}: missing or empty field(s): {', '.join(missing)}."
            )
        title, abstract = _clean(str(rec["title"])), _clean(str(rec["abstract"]))
        date = str(rec["date"]) if rec.get("date") else None
        papers.append(Paper(paper_id(title), title, abstract, date, (path.name,)))
    if not papers:
        raise CorpusFormatError(f"{path}: no records found.")
    return papers


def parse_text_file(path: Path) -> Paper:
    lines = _read_text(path).strip().splitlines()
    title = _clean(lines[0].lstrip("#"))
    abstract = _clean(" ".join(lines[1:]))
    if not abstract:
        raise CorpusFormatError(f"{path}:1: has a title but no text after the first line.")
    return Paper(paper_id(title), title, abstract, None, (path.name,))


def _looks_like_listing(text: str) -> bool:
    lines = [_clean(x) for x in text.splitlines() if x.strip()]
    return any(line.casefold() in FURNITURE for line in lines[:8]) or (
        len(lines) >= 4 and all(len(x.split()) <= _MAX_TITLE_WORDS for x in lines[0::2][:5])
    )


def merge(papers: list[Paper]) -> list[Paper]:
    """Merge duplicates by id, keeping first-seen order; remember every file a paper came from."""
    merged: dict[str, Paper] = {}
    for p in papers:
        if p.paper_id in merged:
            old = merged[p.paper_id]
            files = old.source_files + tuple(f for f in p.source_files if f not in old.source_files)
            merged[p.paper_id] = Paper(
                old.paper_id, old.title, old.abstract, old.listing_date or p.listing_date, files
            )
        else:
            merged[p.paper_id] = p
    return list(merged.values())


def load_corpus(path: str | Path) -> list[Paper]:
    """Load a corpus file or directory (format detected) into unique papers."""
    path = Path(path)
    if not path.exists():
        raise CorpusFormatError(f"{path}: no such file or directory.")
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            p for p in path.iterdir()
            if p.is_file() and p.suffix.lower() in {".txt", ".md", ".jsonl"}
            and p.name.lower() != "readme.md"
        )
        if not files:
            raise CorpusFormatError(f"{path}: no .txt, .md or .jsonl files in this directory.")
    papers: list[Paper] = []
    one_per_file: list[Path] = []
    for f in files:
        suffix = f.suffix.lower()
        if suffix == ".jsonl":
            papers.extend(parse_jsonl(f))
        elif suffix in {".txt", ".md"}:
            text = _read_text(f)
            if _looks_like_listing(text):
                papers.extend(parse_listing_text(text, str(f)))
            else:
                one_per_file.append(f)
        else:
            raise CorpusFormatError(
                f"{f}: unknown corpus format {suffix or '(no extension)'!r}; use listing-page "
                ".txt files, a .jsonl of {{title, abstract}}, or a folder of .txt/.md files."
            )
    papers.extend(parse_text_file(f) for f in one_per_file)
    return merge(papers)
