import json
import os
import subprocess
import sys

from conftest import ROOT, fake_env
from rag.cli import main


def run_cli(args, env):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_ask_prints_answer_and_numbered_references(fake_settings, capsys):
    assert main(["ask", "meta-learning with task interpolation"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out
    assert "[1] Meta-Learning with Fewer Tasks through Task Interpolation" in out


def test_ask_json(fake_settings, capsys):
    assert main(["ask", "--json", "meta-learning with task interpolation"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["citations"][0]["number"] == 1 and "sources" in data


def test_errors_are_one_line_and_nonzero(tmp_path):
    env = dict(os.environ, **fake_env(tmp_path))
    r = run_cli(["ask", "hello"], env)  # no index yet
    assert r.returncode == 1
    assert r.stderr.startswith("error: No index") and "Traceback" not in r.stderr
    r = run_cli(["ask", "  "], env)
    assert r.returncode == 1 and "empty" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["stats"], dict(env, RAG_TOP_K="-1"))
    assert r.returncode == 1 and "RAG_TOP_K" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    r = run_cli(["ingest", str(bad)], env)
    assert r.returncode == 1 and "bad.jsonl:1" in r.stderr and "Traceback" not in r.stderr


def test_ingest_summary_then_noop(tmp_path):
    env = dict(os.environ, **fake_env(tmp_path))
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"title": "A paper", "abstract": "Words about graphs. " * 10}) + "\n")
    r = run_cli(["ingest", str(f)], env)
    assert r.returncode == 0 and "1 papers" in r.stdout and "papers added 1" in r.stdout
    r = run_cli(["ingest", str(f)], env)
    assert "chunks embedded 0" in r.stdout


def test_printed_answer_keeps_its_lines():
    from rich.console import Console

    from rag.cli import _print_answer
    from rag.types import Answer

    console = Console(record=True, width=200)
    _print_answer(Answer(question="q", text="Two papers:\n- Alpha [1].\n- Beta [2]."), console)
    lines = [x.rstrip() for x in console.export_text().splitlines()]
    assert lines[:3] == ["Two papers:", "- Alpha [1].", "- Beta [2]."]


def test_printed_answer_dims_a_restated_question_and_flags_only_claims():
    from rich.console import Console

    from rag.cli import _print_answer
    from rag.types import Answer

    q = "Is there a paper that trains one optimizer on thousands of tasks?"
    restated = "Yes, there is a paper that trains one optimizer on thousands of tasks."
    console = Console(record=True, width=200, color_system="truecolor")
    _print_answer(Answer(question=q, text=f"{restated} [1]. VeLO does it [1].",
                         unsupported=[restated]), console)
    assert "not supported" not in console.export_text(clear=False)  # it only restates
    assert "\x1b[2;3m" in console.export_text(styles=True)  # dim italic
    console = Console(record=True, width=200)
    _print_answer(Answer(question=q, text="VeLO cures cancer [1].",
                         unsupported=["VeLO cures cancer."]), console)
    assert "not supported by the papers they cite" in console.export_text()
