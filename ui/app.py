"""Minimal Gradio chat over `rag.ask_stream`: streamed answers with their cited sources.

Binds 127.0.0.1 by default, never shares, optional login via RAG_UI_AUTH=user:password.
Every `RagError` becomes a readable chat message; the app keeps running.
"""

from __future__ import annotations

import html

import gradio as gr

import rag
from rag.errors import RagError
from rag.settings import Settings, get_settings
from rag.types import Answer, Status


def sources_markdown(answer: Answer) -> str:
    if answer.refused:
        searched = "; ".join(s.title for s in answer.sources[:5])
        return f"**Not in these papers.** Searched: {searched}" if searched else ""
    lines = []
    by_num = {s.number: s for s in answer.sources}
    for c in answer.citations:
        s = by_num.get(c.source_number)
        score = f" — score {s.score:.3f}, similarity {s.similarity:.2f}" if s else ""
        lines.append(f"**[{c.number}] {html.escape(c.title)}**{score}\n\n> {html.escape(c.snippet)}")
    if answer.unsupported:
        lines.append("⚠ **Not supported by the cited papers:** " + " / ".join(
            html.escape(u) for u in answer.unsupported))
    return "\n\n".join(lines)


def respond(message: str, history: list[dict], settings: Settings | None = None):
    settings = settings or get_settings()
    text = ""
    try:
        for ev in rag.ask_stream(message, history=history, settings=settings):
            if isinstance(ev, Status):
                if not text:
                    yield f"_{ev.message}_"
            elif isinstance(ev, str):
                text += ev
                yield text
            elif isinstance(ev, Answer):
                panel = sources_markdown(ev)
                yield ev.text + (f"\n\n---\n{panel}" if panel else "")
    except RagError as e:
        yield f"⚠ {e}"


def build_app(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or get_settings()
    from rag.llm import describe

    return gr.ChatInterface(
        fn=lambda m, h: (yield from respond(m, h, settings)),
        title="Ask the ML papers",
        description=f"Answers cite the papers they use. Model: {describe(settings)}",
        api_name="ask",
    )


def launch(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
    app = build_app(settings)
    app.queue(default_concurrency_limit=2).launch(
        server_name=settings.ui_host, server_port=settings.ui_port, share=False, auth=auth,
        show_error=False,
    )
