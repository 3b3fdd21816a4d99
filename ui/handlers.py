"""What the UI does when something happens: each handler takes component values (and the
Settings) and returns the values to show, with no Gradio layout in sight.

ui/app.py builds the page and wires its events to these functions; keeping them apart lets the
tests call a handler with plain values (a question, a chat, a browser store) and read what the
user would see, without starting a server. Rendering is ui/format.py's job (pure functions);
handlers only move events from `rag.ask_stream` / `rag.ask` into component values.

Every error becomes a chat message (or, for the API, a `gr.Error` with the readable message):
no traceback reaches a user and the app keeps running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import gradio as gr

import rag
from rag.errors import RagError
from rag.memory import release_free_memory
from rag.settings import Settings, get_settings
from rag.types import Answer, Paper, Status
from ui import chats
from ui import format as fmt

log = logging.getLogger(__name__)

# The page re-renders the whole answer's Markdown on every update and the browser redraws; on a
# 2-core machine that competed with llama.cpp (a listing: 30 s from `rag ask`, 72 s in the page
# when every token was sent). Text is sent at most this often; the final answer always is.
# At ~25 tokens/s, 0.25 s is still a few words per update (bench/page_vs_cli.py records the
# page's generation speed against the CLI's).
STREAM_EVERY_S = 0.25

Outputs = tuple[Any, list[dict], str, list[dict], Answer | None]


# --- the chat turn and the API

def _history_for_rag(conv: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": fmt.plain_content(m.get("content"))}
            for m in conv or [] if m.get("role") in {"user", "assistant"}]


def respond(
    message: str,
    chat: list[dict] | None,
    conv: list[dict] | None,
    top_k: float | None = None,
    mode: str | None = None,
    show_uncited: bool = True,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Outputs]:
    """One chat turn. Yields (textbox, chat, sources panel, conversation, last answer).

    ``chat`` is what the Chatbot shows (marked-up answers); ``conv`` is the plain conversation
    (final `Answer.text` per turn) passed to `ask_stream` as history for follow-ups. Streamed
    text is batched: at most one update per STREAM_EVERY_S (the first token at once).
    """
    settings = settings or get_settings()
    message = message if isinstance(message, str) else ""
    chat = list(chat or [])
    conv = list(conv or [])
    busy = gr.update(value="", interactive=False)
    done = gr.update(value="", interactive=True)
    if message.strip():
        chat.append({"role": "user", "content": message})
    chat.append({"role": "assistant", "content": fmt.status_markdown("Starting…")})
    panel = fmt.progress_panel("Starting…")
    yield busy, list(chat), panel, conv, None

    text = ""
    sent_at: float | None = None
    try:
        for event in rag.ask_stream(
            message, history=_history_for_rag(conv), settings=settings,
            top_k=int(top_k) if top_k else None, mode=mode or None,
        ):
            if isinstance(event, Status):
                panel = fmt.progress_panel(event.message)
                # Once text has come, the status goes to the panel, and the text held back for
                # the next batch goes out now: a check after the text can take seconds.
                chat[-1] = {"role": "assistant",
                            "content": fmt.streaming_markdown(text) if text
                            else fmt.status_markdown(event.message)}
                yield busy, list(chat), panel, conv, None
            elif isinstance(event, str):
                text += event
                now = clock()
                if sent_at is not None and now - sent_at < STREAM_EVERY_S:
                    continue  # held back; the next batch or the final answer carries it
                sent_at = now
                chat[-1] = {"role": "assistant", "content": fmt.streaming_markdown(text)}
                yield busy, list(chat), panel, conv, None
            elif isinstance(event, Answer):
                # The final text is authoritative: it may carry citations attached after
                # generation and is the one the unsupported-sentence marks refer to.
                chat[-1] = {"role": "assistant", "content": fmt.answer_markdown(event)}
                conv += [{"role": "user", "content": event.question},
                         {"role": "assistant", "content": event.text}]
                panel = _panel(event, show_uncited)
                yield done, list(chat), panel, conv, event
                return
    except RagError as e:
        chat[-1] = {"role": "assistant", "content": fmt.error_markdown(str(e))}
    except Exception:  # a bug, not a user error: log it, show a short message, keep running
        log.exception("unexpected error while answering %r", message[:200])
        chat[-1] = {"role": "assistant", "content": fmt.error_markdown(
            "Something went wrong inside the app (details are in the server log). "
            "Try again or start a new chat.")}
    finally:
        release_free_memory()  # a long-running server: see rag/memory.py
    note = "\n\n*The last question got no answer; see the chat.*"
    yield done, list(chat), fmt.EMPTY_PANEL + note, conv, None


def _panel(answer: Answer | None, show_uncited: bool) -> str:
    panel = fmt.sources_markdown(answer, show_uncited)
    line = fmt.timing_line(answer) if answer else ""
    return panel + (f"\n\n{line}" if line else "")


def new_chat() -> Outputs:
    """Reset chat, conversation history and sources panel."""
    return gr.update(value="", interactive=True), [], fmt.EMPTY_PANEL, [], None


def start_over() -> tuple[Any, ...]:
    """What "New chat" (or the Chatbot's own trash button) resets: `new_chat`'s outputs, then no
    open chat, no answers, nothing picked in Past chats, an empty export, the feedback box shut."""
    return (*new_chat(), None, {}, gr.update(value=None), "", gr.update(visible=False))


def rerender_panel(show_uncited: bool, answer: Answer | None) -> str:
    return _panel(answer, show_uncited)


def api_ask(
    question: str,
    history: list[dict] | None = None,
    top_k: int | None = None,
    mode: str | None = None,
    settings: Settings | None = None,
) -> dict:
    """Answer ``question`` from the papers. Returns {text, sources (the cited papers: number,
    title, paper_id, snippet, score), refused, unsupported, flagged_numbers, ...}.
    ``history``: earlier turns as [{"role": "user"|"assistant", "content": str}]."""
    settings = settings or get_settings()
    try:
        answer = rag.ask(
            question, history=_history_for_rag(history or []), settings=settings,
            top_k=int(top_k) if top_k else None, mode=mode or None,
        )
    except RagError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception:
        log.exception("unexpected error in /ask")
        raise gr.Error("Something went wrong inside the app (details are in the server log).",
                       print_exception=False) from None
    finally:
        release_free_memory()  # a long-running server: see rag/memory.py
    return fmt.answer_json(answer)


# --- feedback and export

def record_feedback(data: gr.LikeData, answers: dict | None, settings: Settings
                    ) -> tuple[Any, str | None]:
    """A 👍/👎 on an answer: stored at once (rag/feedback.py); the comment box opens."""
    from rag.feedback import FeedbackStore, item_from_answer

    answer = chats.answer_at(answers, data.index)
    if answer is None or data.liked in (None, ""):
        return gr.update(visible=False), None
    rating = "up" if data.liked in (True, "Like") else "down"
    try:
        rec = FeedbackStore(settings.feedback_file).record(item_from_answer(answer), rating,
                                                           settings, client="ui")
    except (RagError, OSError) as e:
        return gr.update(visible=True, value=fmt.error_markdown(f"Feedback not saved: {e}")), None
    note = "👍 Thanks — recorded." if rating == "up" else (
        "👎 Recorded. What was wrong or missing? (optional: it goes into the eval drafts)")
    return gr.update(visible=True, value=note), rec["id"]


def add_comment(comment: str, feedback_id: str | None, settings: Settings) -> tuple[Any, Any]:
    from rag.feedback import FeedbackStore

    if not feedback_id or not (comment or "").strip():
        return gr.update(), gr.update()
    try:
        FeedbackStore(settings.feedback_file).add_comment(feedback_id, comment)
    except (RagError, OSError) as e:
        return gr.update(value=fmt.error_markdown(f"Comment not saved: {e}")), gr.update()
    return gr.update(value="Comment saved — thank you."), gr.update(value="")


def markdown_of(answer: Answer | None) -> str:
    from rag.render import answer_markdown

    return answer_markdown(answer) if answer is not None else ""


# --- past chats (ui/chats.py)

def save_chat(store, chat_id, chat, conv, answers, last: Answer | None):
    store, chat_id, answers = chats.save(store, chat_id, chat, conv, answers, last)
    return (store, chat_id, answers, gr.update(choices=chats.choices(store), value=chat_id),
            markdown_of(last))


def open_chat(store, chat_id, show_uncited: bool):
    record = chats.get(store, chat_id)
    if record is None:
        return ([], [], fmt.EMPTY_PANEL, None, None, {}, gr.update(choices=chats.choices(store)),
                "")
    last = chats.last_answer(record)
    return (record.get("chat") or [], record.get("conv") or [],
            _panel(last, show_uncited) if last else fmt.EMPTY_PANEL, last, chat_id,
            record.get("answers") or {}, gr.update(choices=chats.choices(store), value=chat_id),
            markdown_of(last))


def restore(store, show_uncited: bool):
    """Page load: reopen the chat that was open."""
    store = chats.valid(store)
    return open_chat(store, store.get("current"), show_uncited)


def delete_chat(store, chat_id):
    store = chats.delete(store, chat_id)
    return (store, [], [], fmt.EMPTY_PANEL, None, None, {},
            gr.update(choices=chats.choices(store), value=None), "")


# --- data for the header and the other tabs

def header(settings: Settings) -> str:
    rag.preload()  # a page load can arrive while the server is still importing (ui/app.launch)
    from rag.ingestion import index_stats
    from rag.llm import describe

    try:
        return fmt.header_markdown(describe(settings), index_stats(settings))
    except RagError as e:
        return fmt.header_markdown(describe(settings), None, str(e))
    except Exception:
        log.exception("could not read index stats")
        return fmt.header_markdown(describe(settings), None, "could not read the index")


def header_while_warming(settings: Settings, warm: Future) -> tuple[str, bool]:
    """(the header, whether to look again): polled by the page while the embedded model warms
    up, so the header drops its "warming up" note when the first answer will be quick."""
    from rag import warmup
    from rag.llm import describe

    if not warm.done() or warm.exception() is not None:
        return gr.skip(), True  # the index's own header is still loading, or says what failed
    state = warmup.model_state
    return fmt.header_markdown(describe(settings), warm.result(), model_state=state), \
        state == "loading"


def header_when_ready(settings: Settings, warm: Future) -> str:
    """The header on page load, once the index has opened (the first open of Chroma and the
    first read of its ids take seconds on 2 cores; until then the page says what is loading).
    The first page load uses the warm-up's count; later ones count again, so a re-ingest
    shows up without a restart."""
    from rag.llm import describe

    if not getattr(warm, "used", False):
        warm.used = True  # type: ignore[attr-defined]
        try:
            from rag import warmup

            return fmt.header_markdown(describe(settings), warm.result(timeout=120),
                                       model_state=warmup.model_state)
        except Exception:  # header() below reports it
            pass
    return header(settings)


def load_papers(settings: Settings) -> tuple[list[Paper], str]:
    from rag.corpus import load_corpus

    try:
        return load_corpus(settings.corpus_dir), ""
    except RagError as e:
        return [], str(e)
    except Exception:
        log.exception("could not load the corpus")
        return [], f"Could not read the corpus at {settings.corpus_dir}."


def eval_view(settings: Settings) -> tuple[str, list[tuple[str, str]]]:
    text, pngs = fmt.eval_report(settings.home)
    return text, [(str(p), p.stem.replace("_", " ")) for p in pngs]


def eval_tab(settings: Settings) -> tuple[str, Any]:
    """The Evaluation tab's report and its charts (hidden when the run drew none)."""
    text, images = eval_view(settings)
    return text, gr.update(value=images or None, visible=bool(images))


def paper_of_row(by_title: dict[str, Paper], evt: gr.SelectData) -> str:
    """A click on the papers table: that paper's abstract."""
    row = evt.row_value or []
    return fmt.paper_markdown(by_title.get(row[0]) if row else None)
