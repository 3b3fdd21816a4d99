"""The test double stays out of the production model module, and tests choose the model."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, subprocess_env
from rag import llm as llm_mod
from rag.fake_llm import FakeChat, shared_fake
from rag.settings import Settings


def test_an_injected_model_answers_whatever_the_settings_say(llm):
    mine = FakeChat()
    mine.enqueue("Scripted.")
    llm_mod.use_model(mine)
    try:
        got = llm_mod.get_model(Settings(provider="openai", openai_base_url="http://x/v1"))
        assert got is mine
        assert got.complete([{"role": "user", "content": "q"}], max_tokens=8) == "Scripted."
    finally:
        llm_mod.use_model(llm)


def test_rag_provider_fake_selects_the_shared_double_when_nothing_is_injected():
    llm_mod.use_model(None)
    assert llm_mod.get_model(Settings(provider="fake")) is shared_fake()


def test_the_production_path_never_loads_the_test_double():
    code = ("import sys; from rag.llm import get_model; from rag.settings import Settings; "
            "m = get_model(Settings(openai_base_url='http://127.0.0.1:9/v1')); "
            "print(type(m).__name__, 'rag.fake_llm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=subprocess_env(PYTHONPATH=str(ROOT)), timeout=120)
    assert out.stdout.split() == ["OpenAIChat", "False"], out.stderr
