"""Every setting explains itself twice: a ``Field(description=…)`` in rag/settings.py for anyone
reading the code, and a row in the README's settings table for anyone setting a variable. These
checks keep the two from drifting: a new field without either fails here, and so does a README
row left behind by a renamed or removed field."""

from __future__ import annotations

import re

from rag.cli import main
from rag.settings import PROJECT_ROOT, SECRET_FIELDS, Settings, env_name

# Environment variables the README's table may list although no Settings field reads them
# (something else in the project reads them directly). Empty today: everything the table
# names is a field; add a name here only together with the code that reads it.
NOT_SETTINGS: frozenset[str] = frozenset()

_VAR = re.compile(r"`((?:RAG|OPENAI)_[A-Z0-9_]+)`")


def _env_names() -> dict[str, str]:
    return {name: env_name(name) for name in Settings.model_fields}


def _readme_settings_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## Settings", 1)[1].split("\n## ", 1)[0]


def _table_variables() -> list[str]:
    # Only the first cell of each row names variables; the description may mention others.
    found = []
    for line in _readme_settings_section().splitlines():
        if line.startswith("| `"):
            found += _VAR.findall(line.split("|")[1])
    return found


def test_every_field_has_a_description():
    missing = [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert not missing, f"Settings fields without Field(description=...): {missing}"


def test_the_table_parses_into_rows():
    # Guards the checks below against passing vacuously when the table's layout changes.
    assert len(_table_variables()) >= len(Settings.model_fields) // 2


def test_every_field_is_a_row_in_the_readme_table():
    listed = set(_table_variables())
    missing = sorted(env for env in _env_names().values() if env not in listed)
    assert not missing, f"README ## Settings table lacks rows for {missing}"


def test_every_readme_row_names_a_real_setting():
    known = set(_env_names().values()) | NOT_SETTINGS
    stale = sorted(v for v in _table_variables() if v not in known)
    assert not stale, f"README ## Settings table lists variables no setting reads: {stale}"


def test_each_variable_has_one_row():
    rows = _table_variables()
    twice = sorted({v for v in rows if rows.count(v) > 1})
    assert not twice, f"README ## Settings table lists these more than once: {twice}"


def test_the_readme_mentions_no_unknown_rag_variable():
    # Prose elsewhere in the README ("set RAG_UI_AUTH=user:pass") goes stale the same way.
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    known = set(_env_names().values()) | NOT_SETTINGS
    # RAG_SERVE_HOST/PORT is the README's shorthand for the pair of variables.
    mentioned = set(re.findall(r"\bRAG_[A-Z0-9_]*[A-Z0-9]\b", readme))
    unknown = sorted(mentioned - known)
    assert not unknown, f"README mentions variables no setting reads: {unknown}"


def test_rag_settings_lists_every_variable_and_hides_secrets(monkeypatch, capsys):
    monkeypatch.setenv("RAG_API_KEY", "s3cret-key")
    monkeypatch.setenv("RAG_UI_AUTH", "alice:pa55word")
    monkeypatch.setenv("RAG_TOP_K", "7")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    variables = [line.split("=", 1)[0] for line in out.splitlines() if not line.startswith(" ")]
    assert variables == list(_env_names().values())
    assert "RAG_TOP_K=7\n    papers handed to the LLM at most" in out
    assert "RAG_API_KEY=(set)" in out and "RAG_CHROMA_HOST=(unset)" in out
    assert "s3cret" not in out and "pa55word" not in out


def test_every_key_like_field_is_kept_secret():
    key_like = {n for n in Settings.model_fields if n.endswith("key") or "auth" in n}
    assert key_like <= SECRET_FIELDS <= set(Settings.model_fields)
