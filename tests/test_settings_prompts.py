import subprocess
import sys
import zipfile

import pytest

import prompts
from conftest import ROOT
from rag.errors import SettingsError
from rag.settings import Settings, load_settings


def test_defaults_are_offline_and_local(monkeypatch):
    s = load_settings()
    assert s.uses_local_llm and s.llm_host == "127.0.0.1" and s.ui_host == "127.0.0.1"
    assert s.top_k == 5 and s.retrieval_mode == "hybrid"


@pytest.mark.parametrize("var,value,msg", [
    ("RAG_TOP_K", "-3", "RAG_TOP_K"),
    ("RAG_RETRIEVAL_MODE", "magic", "RAG_RETRIEVAL_MODE"),
    ("RAG_CHUNK_SIZE", "abc", "RAG_CHUNK_SIZE"),
    ("RAG_UI_AUTH", "nopassword", "RAG_UI_AUTH"),
    ("RAG_CONDENSE_MODE", "telepathy", "RAG_CONDENSE_MODE"),
    ("RAG_EVIDENCE", "everything", "RAG_EVIDENCE"),
    ("RAG_EVIDENCE_TOP_SHARE", "1.5", "RAG_EVIDENCE_TOP_SHARE"),
])
def test_bad_values_name_the_variable(monkeypatch, var, value, msg):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=msg):
        load_settings()


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RAG_MODEL", "gpt-x")
    s = load_settings()
    assert not s.uses_local_llm and s.model == "gpt-x"
    assert s.with_overrides(top_k=9).top_k == 9
    with pytest.raises(SettingsError):
        s.with_overrides(top_k=0)


@pytest.mark.parametrize("name,values", [
    ("answer_system", {"max_sentences": 4}),
    ("answer_user", {"sources": "[1] T\ntext", "question": "Q?"}),
    ("source", {"number": 1, "title": "T", "text": "x"}),
    ("condense", {"history": "User: a", "question": "b"}),
    ("answer_followup", {"sources": "[1] T\ntext", "earlier": "Q1?", "question": "Q2?"}),
])
def test_every_prompt_renders(name, values):
    out = prompts.render(name, **values)
    assert out and "{" not in out


def test_prompt_missing_value_fails_fast():
    with pytest.raises(KeyError):
        prompts.render("answer_user", sources="x")


def test_wheel_ships_prompts_and_console_script(tmp_path):
    """A non-editable install must find the prompt files (package data)."""
    import shutil

    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".models", ".index", ".git", "build", "*.egg-info", "test-output", "eval/runs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(src)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("rag_papers-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in ["prompts/answer_system.md", "prompts/condense.md", "rag/answer.py", "ui/app.py"]:
        assert f in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "rag = rag.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    # Import the prompts package from the wheel alone.
    out = subprocess.run(
        [sys.executable, "-c", "import prompts; print(prompts.render('source', number=1, "
         "title='T', text='x'))"], env={"PYTHONPATH": str(wheel)}, capture_output=True, text=True,
        cwd=tmp_path)
    assert out.stdout.startswith("[1] T"), out.stderr


def test_a_preset_sets_its_group_and_an_explicit_variable_wins(monkeypatch):
    monkeypatch.setenv("RAG_PRESET", "thorough")
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "500")
    s = load_settings()
    assert s.verify == "judge"  # from the preset
    assert s.context_tokens == 500  # set explicitly: wins over the preset's 700
    assert Settings(preset="fast", verify="judge").verify == "judge"  # keyword arguments too
    assert Settings(preset="fast", check_asked=True).check_asked is True
    # The fast preset skips the judge calls after the answer; the default makes them.
    assert Settings(preset="fast").recheck_paper is False
    assert Settings().recheck_paper is True
    monkeypatch.setenv("RAG_PRESET", "nonsense")
    with pytest.raises(SettingsError, match="RAG_PRESET"):
        load_settings()


def test_presets_name_real_fields_and_balanced_is_the_defaults():
    from rag.settings import PRESETS

    assert Settings(preset="balanced") == Settings()
    for name, values in PRESETS.items():
        assert set(values) <= set(Settings.model_fields), name
        s = Settings(preset=name)
        assert {k: getattr(s, k) for k in values} == values, name


def test_the_answer_prompt_has_no_example_facts_to_copy():
    # The old worked example ("SMM … reduces training cost by 40% by routing tokens to 8
    # experts") was copied into real answers: "What does STEP achieve?" came back with "40",
    # the checker withheld it and the answer became a refusal. The example shows the format only.
    import re

    import prompts

    system = prompts.render("answer_system", max_sentences=4)
    example = system[system.index("Sources:"):]
    outside = re.sub(r"<[^<>]*>|\[\d\]", "", example)  # placeholders and markers removed
    assert not re.search(r"\d", outside)
    for line in example.splitlines()[1:]:
        body = re.sub(r"^(\[\d\]|Question:|Answer:)\s*", "", line)
        assert re.fullmatch(r"(<[^<>]+>(\s*\[\d\])?\.?\s*)+", body), line
