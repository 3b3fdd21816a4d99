"""Gradio web UI over `rag.ask_stream`: streamed, cited answers beside their sources.

Layout: a header line (model, index size); tabs Chat | Papers | Evaluation. The chat streams
the answer into the conversation while a panel beside it lists each cited paper under its [n]
with the quoted passage and retrieval score.

This file is the page and its plumbing, in three steps: `_layout` builds the components (in
the order they appear), the `_wire_*` functions connect their events to the handlers in
ui/handlers.py (what happens), and `launch` serves it. Rendering lives in ui/format.py.

Safety: binds settings.ui_host (127.0.0.1 by default), never `share`, optional login from
RAG_UI_AUTH=user:password.

Past chats live in the browser (ui/chats.py, gr.BrowserState), so a chat and its sources come
back after a reload or a restart; 👍/👎 on an answer is stored by rag/feedback.py with an
optional comment; "Copy as Markdown" copies the last answer with its references.

API: `/ask` (gradio_client) takes question, history, top_k, mode and returns a JSON object
{text, sources: [{number, title, paper_id, snippet, score, similarity}], refused, ...}.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

import rag
from rag import warmup
from rag.errors import PortInUse
from rag.memory import limit_arenas
from rag.settings import RETRIEVAL_MODES, Settings, get_settings
from rag.types import Paper
from ui import chats
from ui import format as fmt
from ui.handlers import (
    STREAM_EVERY_S,
    add_comment,
    api_ask,
    delete_chat,
    eval_tab,
    eval_view,
    header,
    header_when_ready,
    header_while_warming,
    load_papers,
    markdown_of,
    new_chat,
    open_chat,
    paper_of_row,
    record_feedback,
    rerender_panel,
    respond,
    restore,
    save_chat,
    start_over,
)

# The handlers used to live here; callers that import them from ui.app keep working.
__all__ = [
    "STREAM_EVERY_S", "add_comment", "api_ask", "build_app", "delete_chat",
    "eval_view", "header", "header_when_ready", "launch", "load_papers", "markdown_of",
    "new_chat", "open_chat", "record_feedback", "rerender_panel", "respond", "restore",
    "save_chat",
]

TITLE = "Ask the ML papers"
EXAMPLES = [
    "What does AutoClip choose automatically, and based on what?",
    "Which paper interpolates tasks for meta-learning?",
    "Which papers study learned optimizers?",
    "How does AlphaFold predict protein structures?",  # not in the papers: shows a refusal
]
MODES = list(RETRIEVAL_MODES)
CONCURRENCY = 2  # the local model answers one request at a time; a second one may retrieve
# No animations: while an answer is pending, Gradio's progress animations kept the browser
# repainting, and on a 2-core laptop that ran beside the model it took ~0.3 of a core from it
# (bench/page_vs_cli.py); the chat's own status lines ("Writing the answer…") show progress.
CSS = """
*, *::before, *::after { animation: none !important; }
mark { background: #fff3b0; color: inherit; padding: 0 2px; border-radius: 3px; }
mark.restated { background: none; color: #6b7280; font-style: italic; }
#sources-panel blockquote { border-left: 3px solid #9ca3af; margin: 4px 0 10px; padding-left: 8px;
  color: #374151; font-size: 0.92em; }
#sources-panel details summary { cursor: pointer; font-weight: 600; }
"""
# Page-internal events stay out of the API page and gradio_client; only /ask is public.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}


@dataclass
class Page:
    """The components the events read or write, as `_layout` built them."""

    header_line: gr.Markdown
    # state: the last Answer (to re-render the panel when settings change), the plain
    # conversation (final answer texts) for follow-ups, the browser's store of past chats, the
    # open chat's id in it, its Answers by message index (feedback, export), the last rating
    last: gr.State
    conv: gr.State
    store: gr.BrowserState
    chat_id: gr.State
    answers: gr.State
    feedback_id: gr.State
    # Chat tab
    chatbot: gr.Chatbot
    msg: gr.Textbox
    send: gr.Button
    clear: gr.Button
    fb_box: gr.Column
    fb_note: gr.Markdown
    fb_comment: gr.Textbox
    fb_send: gr.Button
    past: gr.Dropdown
    delete: gr.Button
    md_box: gr.Code
    copy_md: gr.Button
    example_buttons: list[gr.Button]
    top_k: gr.Slider
    mode: gr.Radio
    show_uncited: gr.Checkbox
    panel: gr.Markdown
    # Papers tab
    search: gr.Textbox
    table: gr.Dataframe
    abstract: gr.Markdown
    # Evaluation tab
    refresh: gr.Button
    report: gr.Markdown
    charts: gr.Gallery


# --- the page

def _layout(settings: Settings, papers: list[Paper], corpus_error: str) -> Page:
    """Every component, in page order; must run inside the app's `gr.Blocks` context."""
    from rag.llm import describe

    gr.Markdown(f"## {TITLE}\nAnswers come only from the papers in this collection and cite "
                "them as [n]; the cited passages are listed beside the chat.")
    header_line = gr.Markdown(
        fmt.header_loading(describe(settings), "opening the index at "
                           f"{settings.chroma_host or settings.chroma_dir}…"),
        elem_id="header-line")
    last = gr.State(None)
    conv = gr.State([])
    store = gr.BrowserState(chats.empty(), storage_key=chats.STORAGE_KEY,
                            secret=chats.secret(settings.home))
    chat_id = gr.State(None)
    answers = gr.State({})
    feedback_id = gr.State(None)

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

    return Page(
        header_line=header_line, last=last, conv=conv, store=store, chat_id=chat_id,
        answers=answers, feedback_id=feedback_id, chatbot=chatbot, msg=msg, send=send,
        clear=clear, fb_box=fb_box, fb_note=fb_note, fb_comment=fb_comment, fb_send=fb_send,
        past=past, delete=delete, md_box=md_box, copy_md=copy_md,
        example_buttons=example_buttons, top_k=top_k, mode=mode, show_uncited=show_uncited,
        panel=panel, search=search, table=table, abstract=abstract, refresh=refresh,
        report=report, charts=charts,
    )


# --- the events (what each one does is in ui/handlers.py)

def _wire_chat(app: gr.Blocks, p: Page, settings: Settings) -> None:
    def _respond(message, chat, conv_, k, mode_, show):
        yield from respond(message, chat, conv_, k, mode_, show, settings=settings)

    chat_inputs = [p.msg, p.chatbot, p.conv, p.top_k, p.mode, p.show_uncited]
    chat_outputs = [p.msg, p.chatbot, p.panel, p.conv, p.last]
    save_inputs = [p.store, p.chat_id, p.chatbot, p.conv, p.answers, p.last]
    save_outputs = [p.store, p.chat_id, p.answers, p.past, p.md_box]
    # The turn shows its own progress ("Searching the papers…" in the chat and the side panel);
    # Gradio's overlay on every output would only repeat it, with a running timer the browser
    # redraws while the model generates on the same cores.
    turn = {**PRIVATE, "show_progress": "hidden"}
    runs = [p.msg.submit(_respond, chat_inputs, chat_outputs, **turn),
            p.send.click(_respond, chat_inputs, chat_outputs, **turn)]
    for button, question in zip(p.example_buttons, EXAMPLES):
        runs.append(button.click(lambda q=question: q, None, p.msg, queue=False, **PRIVATE)
                    .then(_respond, chat_inputs, chat_outputs, **turn))
    for run in list(runs):  # each finished turn is written to the browser's store
        run.then(save_chat, save_inputs, save_outputs, queue=False, **PRIVATE)
    # What a reset or a delete stops. A Dependency is a dict; gradio's annotation wants a
    # list[dict], which a list[Dependency] is not to a type checker (lists are invariant).
    cancels: list[dict[str, Any]] = list(runs)

    reset_outputs = chat_outputs + [p.chat_id, p.answers, p.past, p.md_box, p.fb_box]
    p.clear.click(start_over, None, reset_outputs, cancels=cancels, queue=False, **PRIVATE)
    # The Chatbot's own trash button clears the messages; reset the rest with them.
    p.chatbot.clear(start_over, None, reset_outputs, cancels=cancels, queue=False, **PRIVATE)

    opened = [p.chatbot, p.conv, p.panel, p.last, p.chat_id, p.answers, p.past, p.md_box]
    p.past.input(open_chat, [p.store, p.past, p.show_uncited], opened, queue=False, **PRIVATE)
    p.delete.click(delete_chat, [p.store, p.chat_id], [p.store, *opened], cancels=cancels,
                   queue=False, **PRIVATE)
    app.load(restore, [p.store, p.show_uncited], opened, queue=False, **PRIVATE)

    def _like(data: gr.LikeData, answers_):
        return record_feedback(data, answers_, settings)

    p.chatbot.like(_like, [p.answers], [p.fb_note, p.feedback_id], queue=False, **PRIVATE
                   ).then(lambda: gr.update(visible=True), None, p.fb_box, queue=False,
                          **PRIVATE)
    p.fb_send.click(lambda c, f: add_comment(c, f, settings), [p.fb_comment, p.feedback_id],
                    [p.fb_note, p.fb_comment], queue=False, **PRIVATE)
    p.copy_md.click(None, [p.md_box], None, js="(md) => { navigator.clipboard && "
                    "navigator.clipboard.writeText(md); return []; }", **PRIVATE)
    p.show_uncited.change(rerender_panel, [p.show_uncited, p.last], p.panel, queue=False,
                          **PRIVATE)


def _wire_papers(p: Page, papers: list[Paper]) -> None:
    by_title = {paper.title: paper for paper in papers}

    def _filter(query):
        return fmt.filter_papers(papers, query or "")

    def _select(evt: gr.SelectData):
        return paper_of_row(by_title, evt)

    p.search.change(_filter, p.search, p.table, queue=False, **PRIVATE)
    p.table.select(_select, None, p.abstract, queue=False, **PRIVATE)


def _wire_header_and_eval(app: gr.Blocks, p: Page, settings: Settings, warm: Future) -> None:
    # Header and report are read on each page load: a re-ingest or a new eval run shows up
    # without restarting the app.
    # Not queued behind the chat's workers: it only waits for the index to open.
    app.load(lambda: header_when_ready(settings, warm), None, p.header_line, queue=False,
             **PRIVATE)
    # While the embedded model warms up, look again every 2 s; stop once it is ready.
    timer = gr.Timer(2.0, active=warmup.model_state == "loading")

    def _poll():
        text, again = header_while_warming(settings, warm)
        return text, gr.Timer(active=again)

    timer.tick(_poll, None, [p.header_line, timer], queue=False, **PRIVATE)
    def _eval():
        return eval_tab(settings)

    app.load(_eval, None, [p.report, p.charts], queue=False, **PRIVATE)
    p.refresh.click(_eval, None, [p.report, p.charts], queue=False, **PRIVATE)


def _index_stats(settings: Settings):
    rag.preload()  # this thread must not import llama-index while another one does
    from rag.ingestion import index_stats

    return index_stats(settings)


def _open_index(settings: Settings) -> Future:
    # Open the index while the page loads, so the header shows its size as soon as it is known.
    return ThreadPoolExecutor(1, thread_name_prefix="warm-index").submit(_index_stats, settings)


def build_app(settings: Settings | None = None, warm: Future | None = None) -> gr.Blocks:
    """The page. ``warm`` is the index count the first header shows once it resolves; by
    default the index is opened now (launch() passes one it fills after the page is served)."""
    settings = settings or get_settings()
    if warm is None:
        warm = _open_index(settings)
    papers, corpus_error = load_papers(settings)

    with gr.Blocks(title=TITLE, fill_width=True) as app:
        page = _layout(settings, papers, corpus_error)
        _wire_chat(app, page, settings)
        _wire_papers(page, papers)
        _wire_header_and_eval(app, page, settings, warm)

        def ask(question: str, history: list[dict] | None = None, top_k: int | None = None,
                mode: str | None = None) -> dict:
            """Answer a question from the papers, with citations.

            Returns {text, sources: [{number, title, paper_id, snippet, score, similarity}],
            refused, unsupported, flagged_numbers, standalone_question, searched, model}."""
            return api_ask(question, history, top_k, mode, settings=settings)

        gr.api(ask, api_name="ask")
    return app


# --- serving

def _allowed_paths(settings: Settings) -> list[str]:
    # The Evaluation tab's charts are files under <home>/eval/runs/latest or eval/reports.
    return [str(fmt.eval_dir(settings.home)), str(Path(settings.home) / "eval" / "reports")]


def launch(settings: Settings | None = None, **kwargs) -> gr.Blocks:
    """Start the UI on settings.ui_host:ui_port (blocks unless prevent_thread_lock=True).

    Extra keyword arguments go to `Blocks.launch` (tests pass prevent_thread_lock, quiet)."""
    settings = settings or get_settings()
    auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
    limit_arenas()  # before Gradio's threads exist (rag/memory.py)
    warm: Future = Future()
    app = build_app(settings, warm)
    app.queue(default_concurrency_limit=CONCURRENCY)
    options: dict[str, Any] = dict(
        server_name=settings.ui_host, server_port=settings.ui_port, auth=auth,
        show_error=False,  # only our gr.Error messages reach API clients, never exceptions
        allowed_paths=_allowed_paths(settings), css=CSS, footer_links=["api"],
    )
    options.update(kwargs)
    options["share"] = False  # never: it would download a tunnel binary and expose the app
    block = not options.pop("prevent_thread_lock", False)
    # Serve the page first, then import the answer path (~1.5 s on 2 cores, after Gradio's own
    # ~4 s): the page is up ≤5 s after start and its header says "loading" meanwhile; a request
    # that arrives before the imports finish waits for them in rag.preload(), never races them.
    # Gradio's own banner suggests `share=True`, which this app never does; say what is true.
    announce = not options.get("quiet", False)
    options["quiet"] = True
    try:
        app.launch(prevent_thread_lock=True, **options)
    except OSError as e:  # Gradio's "Cannot find empty port": say what to do, not a traceback
        raise PortInUse(
            f"Port {options['server_port']} on {options['server_name']} is taken (is another "
            "`rag ui` still running?). Stop it, or set RAG_UI_PORT to a free port.") from e
    if announce:
        where = ("this machine only" if settings.ui_host in {"127.0.0.1", "localhost"}
                 else f"listening on {settings.ui_host}")
        print(f"Chat page: {app.local_url or ''} ({where}; "
              f"{'password set' if auth else 'no password: set RAG_UI_AUTH=user:pass'}). "
              "Ctrl+C stops it.", flush=True)
    warmup.prepare_server(settings)
    _fill(warm, _open_index(settings))
    if block:
        app.block_thread()
    return app


def _fill(target: Future, source: Future) -> None:
    def copy(done: Future) -> None:
        error = done.exception()
        if error is not None:
            target.set_exception(error)
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
