"""The web UI in a real browser: Playwright driving Debian's Chromium against the app served on
127.0.0.1 (fake LLM, fake-embedded index). Screenshots land in test-output/browser/ and tmp_path.

Playwright's own browser download is blocked on these machines, so the test uses
/usr/bin/chromium, installing it with apt-get when it is missing and we are root.
"""

from __future__ import annotations

import re
import shutil
import socket
from contextlib import contextmanager
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


@contextmanager
def _served(settings):
    """The app on settings.ui_port; ``restart()`` closes it and starts it again on that port."""
    from ui.app import launch

    apps = [launch(settings, prevent_thread_lock=True, quiet=True)]

    def restart():
        apps[-1].close()
        apps.append(launch(settings, prevent_thread_lock=True, quiet=True))

    try:
        yield f"http://127.0.0.1:{settings.ui_port}/", restart
    finally:
        apps[-1].close()


@pytest.fixture
def server(fake_settings):
    settings = fake_settings.with_overrides(ui_port=_free_port())
    with _served(settings) as (url, _):
        yield url, settings


@pytest.fixture
def fresh_server(fake_settings, tmp_path):
    """The app with its own feedback file; started again by ``restart`` on the same port."""
    settings = fake_settings.with_overrides(ui_port=_free_port(),
                                            feedback_path=tmp_path / "feedback.jsonl")
    with _served(settings) as (url, restart):
        yield url, settings, restart


@pytest.fixture
def browser(chromium):
    # Per test, not per module: a module-scoped browser would be set up before the function-
    # scoped server, so the app's first launch (llama-index imports, warm-up) would run with
    # Playwright's loop marked running in this thread, an order these tests never ran in. Here
    # the tests ask for the server first, so it starts before Chromium, as it always did.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(browser):
    """``open_page(url, clipboard=False)``: a new page at ``url`` (1400x1000, 30 s timeouts),
    optionally allowed to use the clipboard."""
    contexts = []

    def open_(url: str, clipboard: bool = False):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        if clipboard:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url[:-1])
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def shots(tmp_path):
    out = ROOT / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        shutil.copy(tmp_path / f"{name}.png", out / f"{name}.png")

    return save


def test_chat_streams_a_cited_answer_and_a_follow_up(server, open_page, shots, llm):
    from playwright.sync_api import expect

    url, settings = server
    # The fake LLM is deterministic: the in-process answer tells us which paper [1] must be.
    expected = rag.ask(QUESTION, settings=settings)
    assert expected.citations, "the fake pipeline should cite a paper"
    cited_title = expected.citations[0].title

    page = open_page(url)
    # The header says "loading — opening the index" until the count is known (seconds
    # on a loaded 2-core machine).
    expect(page.locator("#header-line")).to_contain_text("papers", timeout=30_000)
    box = page.locator("#question textarea")
    panel = page.locator("#sources-panel")
    chat = page.locator("#chat")
    # No animation runs in the page (ui/app.CSS): a pending answer's progress animations kept
    # the browser repainting, which took CPU from the model on the same 2 cores.
    assert page.evaluate("""() => {
        const style = document.createElement('style');
        style.textContent = '@keyframes spin-test { to { transform: rotate(1turn); } }';
        document.head.appendChild(style);
        const el = document.createElement('div');
        el.style.animation = 'spin-test 1s linear infinite';
        document.querySelector('#chat').appendChild(el);
        const name = getComputedStyle(el).animationName;
        el.remove();
        return name;
    }""") == "none"

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


def test_a_chat_survives_reload_and_restart_and_takes_feedback(fresh_server, open_page,
                                                               shots):
    from playwright.sync_api import expect

    from rag.feedback import FeedbackStore

    url, settings, restart = fresh_server
    expected = rag.ask(QUESTION, settings=settings)
    cited_title = expected.citations[0].title
    screenshots = ROOT / "docs" / "screenshots"

    page = open_page(url, clipboard=True)
    # The index size replaces "loading — opening the index" once it is known.
    expect(page.locator("#header-line")).to_contain_text("papers", timeout=60_000)
    box = page.locator("#question textarea")
    panel = page.locator("#sources-panel")
    chat = page.locator("#chat")
    box.fill(QUESTION)
    box.press("Enter")
    expect(panel).to_contain_text(f"[1] {cited_title}", timeout=60_000)
    expect(box).to_be_enabled()
    page.wait_for_timeout(500)  # the store is written after the answer

    # Reload the page, then restart the app: the chat and its sources come back.
    for step in ("reload", "restart"):
        if step == "restart":
            restart()
        page.reload()
        expect(chat).to_contain_text(QUESTION, timeout=30_000)
        expect(chat).to_contain_text("[1]")
        expect(panel).to_contain_text(f"[1] {cited_title}")
        expect(panel.locator("blockquote").first).to_be_visible()
    expect(page.get_by_role("combobox", name="Past chats")).to_have_value(
        re.compile(re.escape(QUESTION)))
    shots(page, "4-restored-chat")
    page.screenshot(path=str(screenshots / "restored-chat.png"))

    # 👎 with a comment on the restored answer.
    chat.get_by_role("button", name="Dislike").first.click()
    expect(page.locator("#feedback-note")).to_contain_text("Recorded")
    page.locator("#feedback-comment textarea").fill("It should also cite MetaModulation")
    page.locator("#feedback-send").click()
    expect(page.locator("#feedback-note")).to_contain_text("Comment saved")
    (item,) = FeedbackStore(settings.feedback_file).items()
    assert item["rating"] == "down" and item["question"] == QUESTION
    assert item["comment"] == "It should also cite MetaModulation"
    page.locator("#feedback-box").scroll_into_view_if_needed()
    shots(page, "5-feedback")
    page.screenshot(path=str(screenshots / "feedback.png"))

    # Copy as Markdown: the answer with its references.
    page.get_by_text("Copy as Markdown", exact=True).first.click()
    page.locator("#copy-markdown").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"**Q:** {QUESTION}")
    assert f"[1] {cited_title}" in copied

    # Delete the chat: it is gone from the list and does not come back on reload.
    page.locator("#delete-chat").click()
    expect(chat).not_to_contain_text(QUESTION)
    page.reload()
    expect(page.locator("#header-line")).to_contain_text("papers", timeout=60_000)
    expect(chat).not_to_contain_text(QUESTION)
