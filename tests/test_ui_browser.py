"""The web UI in a real browser: Playwright driving Debian's Chromium against the app served on
127.0.0.1 (fake LLM, fake-embedded index). Screenshots land in test-output/browser/ and tmp_path.

Playwright's own browser download is blocked on these machines, so the test uses
/usr/bin/chromium, installing it with apt-get when it is missing and we are root.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

import rag
from conftest import FLAGS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Which paper interpolates tasks for meta-learning?"
FOLLOW_UP = "How many tasks does it need?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(fake_settings):
    from ui.app import launch

    settings = fake_settings.with_overrides(ui_port=_free_port())
    app = launch(settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{settings.ui_port}/", settings
    finally:
        app.close()


@pytest.fixture
def shots(tmp_path):
    out = ROOT / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        shutil.copy(tmp_path / f"{name}.png", out / f"{name}.png")

    return save


def test_chat_streams_a_cited_answer_and_a_follow_up(chromium, server, shots, llm):
    from playwright.sync_api import expect, sync_playwright

    url, settings = server
    # The fake LLM is deterministic: the in-process answer tells us which paper [1] must be.
    expected = rag.ask(QUESTION, settings=settings)
    assert expected.citations, "the fake pipeline should cite a paper"
    cited_title = expected.citations[0].title

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(url)
            expect(page.locator("#header-line")).to_contain_text("papers")
            box = page.locator("#question textarea")
            panel = page.locator("#sources-panel")
            chat = page.locator("#chat")

            box.fill(QUESTION)
            box.press("Enter")
            expect(chat).to_contain_text(QUESTION)
            expect(panel).to_contain_text(f"[1] {cited_title}")
            expect(chat).to_contain_text("[1]")
            expect(chat).to_contain_text(expected.text.split(" [")[0][:60])
            expect(panel.locator("blockquote").first).to_be_visible()
            expect(box).to_be_enabled()
            shots(page, "1-answer")

            # The follow-up is answered from the previous turn's papers, searched together with
            # the first question; the panel shows what was searched for.
            # Its answer carries an invented figure, which must show up marked as unsupported.
            standalone = f"{QUESTION} {FOLLOW_UP}"
            base = rag.ask(QUESTION, settings=settings).text
            llm.enqueue(f"{base} It needs only 7 tasks on 412 benchmarks [1].")
            box.fill(FOLLOW_UP)
            page.get_by_role("button", name="Ask", exact=True).click()
            expect(chat).to_contain_text(FOLLOW_UP)
            expect(panel).to_contain_text(f"Searched for: {standalone}")
            expect(page.locator("#chat .bot-row")).to_have_count(2)
            expect(page.locator("#chat mark")).to_contain_text("412 benchmarks")
            expect(box).to_be_enabled()
            prompt = llm.history[-1][-1]["content"]  # the follow-up's answer prompt
            assert f"Earlier question: {QUESTION}" in prompt
            shots(page, "2-follow-up")

            page.get_by_role("tab", name="Papers").click()
            table = page.locator("#papers-table")
            page.get_by_placeholder("Filter by words").fill("MLTI")
            expect(table.get_by_role("row")).to_have_count(2)  # header + the one match
            table.get_by_test_id("cell-0-0").click()
            expect(table).to_contain_text("Meta-Learning with Fewer Tasks through Task")
            expect(page.locator("#paper-abstract")).to_contain_text("task interpolation (MLTI)")
            shots(page, "3-papers")
        finally:
            browser.close()
