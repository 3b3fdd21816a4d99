"""Gradio web UI over `rag.ask_stream`: streamed, cited answers beside their sources.

Layout: a header line (model, index size); tabs Chat | Papers | Evaluation. The chat streams
the answer into the conversation while a panel beside it lists each cited paper under its [n]
with the quoted passage and retrieval score. All rendering lives in `ui/format.py` (pure
functions); the handlers here only move events from `ask_stream` into components.

Safety: binds settings.ui_host (127.0.0.1 by default), never `share`, optional login from
RAG_UI_AUTH=user:password. Every error becomes a chat message (or, for the API, a `gr.Error`
with the readable message): no traceback reaches a user and the app keeps running.

Past chats live in the browser (ui/chats.py, gr.BrowserState), so a chat and its sources come
back after a reload or a restart; 👍/👎 on an answer is stored by rag/feedback.py with an
optional comment; "Copy as Markdown" copies the last answer with its references.

API: `/ask` (gradio_client) takes question, history, top_k, mode and returns a JSON object
{text, sources: [{number, title, paper_id, snippet, score, similarity}], refused, ...}.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr

import rag
from rag import warmup
from rag.errors import RagError
from rag.memory import release_free_memory
from rag.settings import RETRIEVAL_MODES, Settings, get_settings
from rag.types import Answer, Paper, Status
from ui import chats
from ui import format as fmt

log = logging.getLogger(__name__)

TITLE = "Ask the ML papers"
EXAMPLES = [
    "What does AutoClip choose automatically, and based on what?",
    "Which paper interpolates tasks for meta-learning?",
    "Which papers study learned optimizers?",
    "How does AlphaFold predict protein structures?",  # not in the papers: shows a refusal
]
MODES = list(RETRIEVAL_MODES)
CONCURRENCY = 2  # the local model answers one request at a time; a second one may retrieve
# The page re-renders the whole answer's Markdown on every update and the browser redraws; on a
# 2-core machine that competed with llama.cpp (a listing: 30 s from `rag ask`, 72 s in the page
# when every token was sent). Text is sent at most this often; the final answer always is.
STREAM_EVERY_S = 0.1
CSS = """
mark { background: #fff3b0; color: inherit; padding: 0 2px; border-radius: 3px; }
#sources-panel blockquote { border-left: 3px solid #9ca3af; margin: 4px 0 10px; padding-left: 8px;
  color: #374151; font-size: 0.92em; }
#sources-panel details summary { cursor: pointer; font-weight: 600; }
"""

Outputs = tuple[Any, list[dict], str, list[dict], Answer | None]


# --- handlers (thin: events in, formatted values out)

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
                if not text:
                    chat[-1] = {"role": "assistant", "content": fmt.status_markdown(event.message)}
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
    from rag.ingestion import index_stats
    from rag.llm import describe

    try:
        return fmt.header_markdown(describe(settings), index_stats(settings))
    except RagError as e:
        return fmt.header_markdown(describe(settings), None, str(e))
    except Exception:
        log.exception("could not read index stats")
        return fmt.header_markdown(describe(settings), None, "could not read the index")


def header_when_ready(settings: Settings, warm: Future) -> str:
    """The header on page load, once the index has opened (the first open of Chroma and the
    first read of its ids take seconds on 2 cores; until then the page says what is loading).
    The first page load uses the warm-up's count; later ones count again, so a re-ingest
    shows up without a restart."""
    from rag.llm import describe

    if not getattr(warm, "used", False):
        warm.used = True  # type: ignore[attr-defined]
        try:
            return fmt.header_markdown(describe(settings), warm.result(timeout=120))
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


# --- the app

def build_app(settings: Settings | None = None) -> gr.Blocks:
    from rag.ingestion import index_stats
    from rag.llm import describe

    settings = settings or get_settings()
    # Open the index while the page loads, so the header shows its size as soon as it is known.
    warm = ThreadPoolExecutor(1, thread_name_prefix="warm-index").submit(index_stats, settings)
    papers, corpus_error = load_papers(settings)
    by_title = {p.title: p for p in papers}

    with gr.Blocks(title=TITLE, fill_width=True) as app:
        gr.Markdown(f"## {TITLE}\nAnswers come only from the papers in this collection and cite "
                    "them as [n]; the cited passages are listed beside the chat.")
        header_line = gr.Markdown(
            fmt.header_loading(describe(settings), "opening the index at "
                               f"{settings.chroma_host or settings.chroma_dir}…"),
            elem_id="header-line")
        last = gr.State(None)  # the last Answer, to re-render the panel when settings change
        conv = gr.State([])  # plain conversation (final answer texts) for follow-ups
        store = gr.BrowserState(chats.empty(), storage_key=chats.STORAGE_KEY,
                                secret=chats.secret(settings.home))
        chat_id = gr.State(None)  # the open chat's id in the store
        answers = gr.State({})  # the open chat's Answers by message index (feedback, export)
        feedback_id = gr.State(None)  # the last rating, for its comment

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Conversation", height=520, elem_id="chat",
                            feedback_options=("Like", "Dislike"), buttons=["copy"],
                            placeholder="Ask a question about the ML papers in the collection.",
                        )
                        with gr.Row():
                            msg = gr.Textbox(
                                placeholder="Ask about the papers… (Enter to send)",
                                show_label=False, scale=5, elem_id="question", max_lines=4,
                                autofocus=True,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                            clear = gr.Button("New chat", scale=1, min_width=80,
                                              elem_id="new-chat")
                        with gr.Column(visible=False, elem_id="feedback-box") as fb_box:
                            fb_note = gr.Markdown(elem_id="feedback-note")
                            with gr.Row():
                                fb_comment = gr.Textbox(
                                    placeholder="Optional comment: which paper should it have "
                                    "cited, what is wrong…", show_label=False, scale=5,
                                    elem_id="feedback-comment", max_lines=3)
                                fb_send = gr.Button("Send comment", scale=1, min_width=80,
                                                    elem_id="feedback-send")
                        with gr.Row():
                            past = gr.Dropdown([], value=None, label="Past chats",
                                               elem_id="past-chats", scale=4,
                                               allow_custom_value=False)
                            delete = gr.Button("Delete chat", size="sm", scale=1,
                                               min_width=80, elem_id="delete-chat")
                        with gr.Accordion("Copy as Markdown", open=False,
                                          elem_id="markdown-export"):
                            md_box = gr.Code("", language="markdown", interactive=False,
                                             elem_id="answer-markdown", lines=6,
                                             label="The last answer with its references")
                            copy_md = gr.Button("Copy as Markdown", size="sm",
                                                elem_id="copy-markdown")
                        gr.Markdown("**Try:**")
                        with gr.Row():
                            example_buttons = [gr.Button(q, size="sm") for q in EXAMPLES]
                        with gr.Accordion("Settings", open=False):
                            top_k = gr.Slider(1, 20, value=settings.top_k, step=1,
                                              label="Papers to retrieve (top-k)")
                            mode = gr.Radio(MODES, value=settings.retrieval_mode,
                                            label="Retrieval",
                                            info="hybrid = dense + BM25 fused (RRF)")
                            show_uncited = gr.Checkbox(True, label="Show retrieved papers that "
                                                       "were not cited")
                    with gr.Column(scale=2):
                        panel = gr.Markdown(fmt.EMPTY_PANEL, elem_id="sources-panel",
                                            container=True, min_height=200)

            with gr.Tab("Papers", id="papers"):
                gr.Markdown(corpus_error or f"{len(papers):,} papers in the collection. Click a "
                            "row to read its abstract.")
                search = gr.Textbox(placeholder="Filter by words in title or abstract…",
                                    show_label=False)
                with gr.Row(equal_height=False):
                    table = gr.Dataframe(
                        value=fmt.filter_papers(papers), headers=fmt.PAPER_COLUMNS,
                        datatype=["str", "str"], interactive=False, wrap=True, max_height=560,
                        scale=3, column_widths=["80%", "20%"], elem_id="papers-table",
                    )
                    abstract = gr.Markdown(fmt.paper_markdown(None), container=True, scale=2,
                                           elem_id="paper-abstract")

            with gr.Tab("Evaluation", id="evaluation"):
                refresh = gr.Button("Reload", size="sm")
                report = gr.Markdown(fmt.NO_EVAL, elem_id="eval-report")
                charts = gr.Gallery(label="Charts", columns=2, height=420, object_fit="contain",
                                    visible=False, allow_preview=True)

        # --- events
        def _respond(message, chat, conv_, k, mode_, show):
            yield from respond(message, chat, conv_, k, mode_, show, settings=settings)

        chat_inputs = [msg, chatbot, conv, top_k, mode, show_uncited]
        chat_outputs = [msg, chatbot, panel, conv, last]
        save_inputs = [store, chat_id, chatbot, conv, answers, last]
        save_outputs = [store, chat_id, answers, past, md_box]
        private: dict[str, Any] = {"api_visibility": "private"}
        runs = [msg.submit(_respond, chat_inputs, chat_outputs, **private),
                send.click(_respond, chat_inputs, chat_outputs, **private)]
        for button, question in zip(example_buttons, EXAMPLES):
            runs.append(button.click(lambda q=question: q, None, msg, queue=False, **private)
                        .then(_respond, chat_inputs, chat_outputs, **private))
        for run in list(runs):  # each finished turn is written to the browser's store
            run.then(save_chat, save_inputs, save_outputs, queue=False, **private)

        def _new_chat():
            return (*new_chat(), None, {}, gr.update(value=None), "", gr.update(visible=False))

        reset_outputs = chat_outputs + [chat_id, answers, past, md_box, fb_box]
        clear.click(_new_chat, None, reset_outputs, cancels=runs, queue=False, **private)
        # The Chatbot's own trash button clears the messages; reset the rest with them.
        chatbot.clear(_new_chat, None, reset_outputs, cancels=runs, queue=False, **private)

        opened = [chatbot, conv, panel, last, chat_id, answers, past, md_box]
        past.input(open_chat, [store, past, show_uncited], opened, queue=False, **private)
        delete.click(delete_chat, [store, chat_id], [store] + opened, cancels=runs,
                     queue=False, **private)
        app.load(restore, [store, show_uncited], opened, queue=False, **private)

        def _like(data: gr.LikeData, answers_):
            return record_feedback(data, answers_, settings)

        chatbot.like(_like, [answers], [fb_note, feedback_id], queue=False, **private
                     ).then(lambda: gr.update(visible=True), None, fb_box, queue=False,
                            **private)
        fb_send.click(lambda c, f: add_comment(c, f, settings), [fb_comment, feedback_id],
                      [fb_note, fb_comment], queue=False, **private)
        copy_md.click(None, [md_box], None, js="(md) => { navigator.clipboard && "
                      "navigator.clipboard.writeText(md); return []; }", **private)
        show_uncited.change(rerender_panel, [show_uncited, last], panel, queue=False,
                            api_visibility="private")

        def _filter(query):
            return fmt.filter_papers(papers, query or "")

        def _select(evt: gr.SelectData):
            row = evt.row_value or []
            return fmt.paper_markdown(by_title.get(row[0]) if row else None)

        search.change(_filter, search, table, queue=False, api_visibility="private")
        table.select(_select, None, abstract, queue=False, api_visibility="private")

        def _eval():
            text, images = eval_view(settings)
            return text, gr.update(value=images or None, visible=bool(images))

        # Header and report are read on each page load: a re-ingest or a new eval run shows up
        # without restarting the app.
        # Not queued behind the chat's workers: it only waits for the index to open.
        app.load(lambda: header_when_ready(settings, warm), None, header_line, queue=False,
                 **private)
        app.load(_eval, None, [report, charts], queue=False, api_visibility="private")
        refresh.click(_eval, None, [report, charts], queue=False, api_visibility="private")

        def ask(question: str, history: list[dict] | None = None, top_k: int | None = None,
                mode: str | None = None) -> dict:
            """Answer a question from the papers, with citations.

            Returns {text, sources: [{number, title, paper_id, snippet, score, similarity}],
            refused, unsupported, flagged_numbers, standalone_question, searched, model}."""
            return api_ask(question, history, top_k, mode, settings=settings)

        gr.api(ask, api_name="ask")
    return app


def _allowed_paths(settings: Settings) -> list[str]:
    # The Evaluation tab's charts are files under <home>/eval/runs/latest or eval/reports.
    return [str(fmt.eval_dir(settings.home)), str(Path(settings.home) / "eval" / "reports")]


def launch(settings: Settings | None = None, **kwargs) -> gr.Blocks:
    """Start the UI on settings.ui_host:ui_port (blocks unless prevent_thread_lock=True).

    Extra keyword arguments go to `Blocks.launch` (tests pass prevent_thread_lock, quiet)."""
    settings = settings or get_settings()
    auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
    warmup.prepare_server(settings)
    app = build_app(settings)
    app.queue(default_concurrency_limit=CONCURRENCY)
    options = dict(
        server_name=settings.ui_host, server_port=settings.ui_port, auth=auth,
        show_error=False,  # only our gr.Error messages reach API clients, never exceptions
        allowed_paths=_allowed_paths(settings), css=CSS, footer_links=["api"],
    )
    options.update(kwargs)
    options["share"] = False  # never: it would download a tunnel binary and expose the app
    app.launch(**options)
    return app
