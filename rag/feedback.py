"""👍/👎 feedback on answers, stored locally, and 👎 items turned into draft eval records.

Storage is one JSONL file (`RAG_FEEDBACK_PATH`, default <home>/.feedback/feedback.jsonl) that is
only ever appended to: each record is written with a single ``write`` on a file opened with
O_APPEND under an exclusive ``flock`` and fsynced, so two processes (the UI and `rag serve`)
can record at once and a crash loses at most the line being written, never an earlier one. A
torn last line is skipped on reading. A comment added after the rating is another line with
the same ``id``; reading merges lines by id, later fields winning.

Each item keeps what a person needs to turn it into an eval question: the question, the answer,
the papers it cited, the model, and a fingerprint of every setting and prompt that shapes an
answer, so feedback on an old configuration can be told from feedback on the current one.
`export_drafts` writes 👎 items as eval records in eval/data's format, marked as drafts, in the
dev split (never the held-out test split), with the papers that should have been cited left
for a person to fill in.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rag.errors import BadInput
from rag.settings import Settings
from rag.types import Answer

RATINGS = {"up": "up", "down": "down", "+1": "up", "-1": "down", "like": "up",
           "dislike": "down", "👍": "up", "👎": "down"}
MAX_COMMENT_CHARS = 2000
# Settings that change what an answer says; paths, ports and UI options do not.
_NOT_ANSWER_SHAPING = {
    "home", "corpus_path", "chroma_path", "chroma_host", "chroma_port", "openai_api_key",
    "judge_api_key", "llm_host", "llm_port", "llm_threads", "llm_timeout", "llm_retries",
    "model_path", "ui_host", "ui_port", "ui_auth", "serve_host", "serve_port", "serve_model",
    "api_key", "serve_threads", "feedback_path", "embed_batch_size",
}
_write_lock = threading.Lock()


def settings_fingerprint(settings: Settings) -> str:
    """A short hash of the answer-shaping settings and the prompt files."""
    import prompts

    data = {k: str(v) for k, v in settings.model_dump().items() if k not in _NOT_ANSWER_SHAPING}
    h = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
    for f in sorted(Path(prompts.__file__).parent.glob("*.md")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]


def normalise_rating(rating: Any) -> str:
    if isinstance(rating, bool):
        return "up" if rating else "down"
    r = RATINGS.get(str(rating).strip().lower()) if rating is not None else None
    if r is None:
        raise BadInput("rating must be 'up' or 'down'.")
    return r


def _comment(comment: Any) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise BadInput("comment must be text.")
    comment = " ".join(comment.split())
    if len(comment) > MAX_COMMENT_CHARS:
        raise BadInput(f"The comment is longer than {MAX_COMMENT_CHARS} characters; shorten it.")
    return comment


def item_from_answer(answer: Answer) -> dict:
    """What feedback keeps of an answer (no abstracts, no scores)."""
    by_num = {s.number: s for s in answer.sources}
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.text,
        "refused": answer.refused,
        "cited": [{"number": c.number, "title": c.title, "paper_id": c.paper_id,
                   "listing_date": getattr(by_num.get(c.source_number), "listing_date", None)}
                  for c in answer.citations],
        "model": answer.model,
    }


class FeedbackStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _write_lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # after a torn line (a crash mid-write): start afresh
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def record(self, item: dict, rating: Any, settings: Settings, *, comment: Any = None,
               client: str = "ui", completion_id: str | None = None) -> dict:
        """Store one rating of an answer (``item``: `item_from_answer`); returns the record."""
        record = {
            "id": f"fb-{uuid.uuid4().hex[:16]}",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rating": normalise_rating(rating),
            "comment": _comment(comment),
            **{k: item.get(k) for k in ("question", "standalone_question", "answer", "refused",
                                         "cited", "model")},
            "settings": settings_fingerprint(settings),
            "client": client,
            "completion_id": completion_id,
        }
        self._append(record)
        return record

    def add_comment(self, feedback_id: str, comment: Any) -> None:
        if not isinstance(feedback_id, str) or not feedback_id.startswith("fb-"):
            raise BadInput("Unknown feedback id.")
        self._append({"id": feedback_id, "comment": _comment(comment),
                      "time_commented": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def items(self) -> list[dict]:
        """Every feedback item, oldest first, comments merged in."""
        merged: dict[str, dict] = {}
        try:
            raw = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        for line in raw.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash mid-write
            if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                merged.setdefault(rec["id"], {}).update(rec)
        return [r for r in merged.values() if "rating" in r]


def export_drafts(items: Iterable[dict], known_questions: Iterable[str] = ()) -> list[dict]:
    """👎 items as draft eval records (eval/data/README.md's format), one per question.

    ``gold_titles`` and ``key_facts`` are left empty for a person to fill in (the papers the
    answer should have cited); what it did cite is in ``notes``. Drafts go to the dev split
    only: the test split is frozen and never grows automatically."""
    known = {" ".join(q.split()).lower() for q in known_questions}
    out: list[dict] = []
    for it in items:
        q = " ".join(str(it.get("question") or "").split())
        if it.get("rating") != "down" or not q or q.lower() in known:
            continue
        known.add(q.lower())
        cited = "; ".join(c.get("title", "") for c in it.get("cited") or []) or "none"
        note = (f"DRAFT from 👎 feedback {it.get('id')} ({it.get('time')}, model "
                f"{it.get('model')}, settings {it.get('settings')}). It cited: {cited}."
                + (f" Comment: {it['comment']}" if it.get("comment") else "")
                + (" It refused." if it.get("refused") else ""))
        out.append({
            "id": f"draft-{it.get('id', '')[3:]}", "kind": "", "question": q,
            "answerable": None, "gold_titles": [], "key_facts": [], "split": "dev",
            "draft": True, "notes": note, "answer_given": it.get("answer") or "",
        })
    return out
