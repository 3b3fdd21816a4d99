"""Past chats kept in the browser (gr.BrowserState → localStorage), so a chat and its sources
come back after a page reload or a restart of the app.

The store is plain JSON: ``{"version", "current", "chats": [{"id", "title", "updated", "chat",
"conv", "answers"}]}``, newest first. ``chat`` is what the Chatbot shows, ``conv`` the plain
conversation passed to `ask_stream` for follow-ups, ``answers`` each assistant message's
`Answer` (by message index, compact: no abstracts) so its sources panel, feedback and Markdown
export work after a reload. Pure functions of that dict; the Gradio wiring is in ui/app.py.
"""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from rag.render import answer_from_dict, answer_to_dict
from rag.types import Answer

VERSION = 1
STORAGE_KEY = "rag-papers-chats"
#: Chats kept per browser; the oldest go first. ~5 KB per answer, far below localStorage's 5 MB.
MAX_CHATS = 30
TITLE_CHARS = 60

Store = dict[str, Any]


def empty() -> Store:
    return {"version": VERSION, "current": None, "chats": []}


def valid(store: Any) -> Store:
    """A store read from the browser, or an empty one if it is not ours (old or tampered)."""
    if (isinstance(store, dict) and store.get("version") == VERSION
            and isinstance(store.get("chats"), list)):
        return store
    return empty()


def secret(home: Path) -> str:
    """BrowserState encrypts with this key; it must outlive the app process, or a restart
    would make every stored chat unreadable. Created once under <home>/.ui/."""
    path = Path(home) / ".ui" / "browser-state-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(24)
        path.write_text(value)
        path.chmod(0o600)
        return value


def _title(chat: list[dict]) -> str:
    from ui.format import plain_content

    first = next((plain_content(m.get("content")) for m in chat if m.get("role") == "user"), "")
    first = " ".join(first.split()) or "(empty chat)"
    return first if len(first) <= TITLE_CHARS else first[:TITLE_CHARS - 1] + "…"


def save(store: Any, chat_id: str | None, chat: list[dict], conv: list[dict],
         answers: dict[str, dict], last: Answer | None) -> tuple[Store, str | None, dict]:
    """Record the current chat after a turn; returns (store, chat id, answers by index)."""
    store = valid(store)
    if not chat:
        return store, chat_id, answers
    answers = dict(answers or {})
    if last is not None:
        answers[str(len(chat) - 1)] = answer_to_dict(last)
    chat_id = chat_id or uuid.uuid4().hex[:12]
    record = {"id": chat_id, "title": _title(chat), "updated": time.time(), "chat": chat,
              "conv": conv, "answers": answers}
    others = [c for c in store["chats"] if c.get("id") != chat_id]
    return ({"version": VERSION, "current": chat_id,
             "chats": ([record] + others)[:MAX_CHATS]}, chat_id, answers)


def get(store: Any, chat_id: str | None) -> dict | None:
    return next((c for c in valid(store)["chats"] if c.get("id") == chat_id), None)


def delete(store: Any, chat_id: str | None) -> Store:
    store = valid(store)
    chats = [c for c in store["chats"] if c.get("id") != chat_id]
    current = store["current"] if store["current"] != chat_id else None
    return {"version": VERSION, "current": current, "chats": chats}


def choices(store: Any) -> list[tuple[str, str]]:
    """(label, id) for the past-chats list, newest first."""
    out = []
    for c in valid(store)["chats"]:
        when = time.strftime("%b %d %H:%M", time.localtime(c.get("updated") or 0))
        out.append((f"{c.get('title', '')} · {when}", c["id"]))
    return out


def last_answer(record: dict | None) -> Answer | None:
    """The chat's latest answer, rebuilt for the sources panel."""
    answers = (record or {}).get("answers") or {}
    if not answers:
        return None
    return answer_from_dict(answers[max(answers, key=int)])


def answer_at(answers: dict[str, dict] | None, index: Any) -> Answer | None:
    """The answer shown as chat message ``index`` (Gradio's like event gives the index)."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    data = (answers or {}).get(str(index))
    return answer_from_dict(data) if data else None
