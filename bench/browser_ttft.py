"""Time to first token as a person sees it: the real app and model, driven in Chromium.

Usage: .venv/bin/python bench/browser_ttft.py [URL]  (default http://127.0.0.1:7860/, start the
app first with `rag ui`). Prints, per question, the seconds from pressing Enter until answer text
(not a progress line) appears in the chat, and until the answer is complete.
"""

import json
import sys
import time

from playwright.sync_api import sync_playwright

DEFAULT_URL = "http://127.0.0.1:7860/"
QUESTIONS = [
    "What is meta-learning?",  # warm-up: loads the embedder and the model; not counted
    "What does AutoClip choose automatically, and based on what?",
    "How many datasets was MLTI evaluated on?",
    "Which paper turns data into noise with an SDE and reverses it to generate samples?",
    "Which papers in the collection distill diffusion models into fewer sampling steps?",
    "How does AlphaFold predict protein structures?",
]
FOLLOW_UP = "What data did they evaluate it on?"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

def open_page(p, url: str):
    """Chromium on ``url`` with the chat ready for typing; returns (browser, page)."""
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator("#question textarea").wait_for()
    time.sleep(3)  # let Gradio's client connect before typing (it keeps a stream open: no idle)
    return browser, page


# Watches the chat in the page itself: a MutationObserver stamps (performance.now) the first
# answer text (not a progress line) and the last change to the answer, so the times do not depend
# on how often Python looks, and looking rarely leaves the CPU to the model.
_WATCH = """([nBots, busyWords]) => {
  const w = {t0: performance.now(), first: null, last: null};
  window.__ragWatch = w;
  const chat = document.querySelector('#chat');
  const look = () => {
    const bots = chat.querySelectorAll('.bot-row');
    if (bots.length <= nBots) return;
    const txt = bots[bots.length - 1].innerText.trim();
    if (!txt) return;
    const now = performance.now();
    if (w.first === null && !txt.startsWith('\u2026') && !busyWords.some(b => txt.includes(b)))
      w.first = now;
    if (w.first !== null && txt !== w.text) { w.last = now; w.text = txt; }
  };
  w.obs = new MutationObserver(look);
  w.obs.observe(chat, {subtree: true, childList: true, characterData: true});
}"""
BUSY_WORDS = ["Searching", "Reading", "Writing", "Starting", "Checking"]


def ask_in_page(page, q: str, new_chat: bool, shot: str | None = None, poll_s: float = 0.5
                ) -> dict:
    """Type ``q`` and press Enter; seconds until answer text (not a progress line) shows and
    until the answer's last change, stamped in the page (see _WATCH). Python only checks every
    ``poll_s`` whether the box is enabled again (the turn is over)."""
    if new_chat:
        page.locator("#new-chat").click()
        page.wait_for_function("document.querySelectorAll('#chat .bot-row').length === 0")
    n_bots = page.locator("#chat .bot-row").count()
    box = page.locator("#question textarea")
    box.fill(q)
    page.evaluate(_WATCH, [n_bots, BUSY_WORDS])
    box.press("Enter")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 180:
        time.sleep(poll_s)
        if box.is_enabled() and page.evaluate("window.__ragWatch.last !== null"):
            break
    w = page.evaluate("(() => { const w = window.__ragWatch; w.obs.disconnect();"
                      " return {t0: w.t0, first: w.first, last: w.last}; })()")
    if shot:
        page.screenshot(path=shot)
    total = (w["last"] - w["t0"]) / 1000 if w["last"] is not None else time.perf_counter() - t0
    first = (w["first"] - w["t0"]) / 1000 if w["first"] is not None else total
    return {"question": q, "first_text_s": round(first, 2), "complete_s": round(total, 2)}


def main(url: str) -> int:
    """Drive the app at ``url`` (this module does nothing on import: bench/ is a package)."""
    rows = []
    with sync_playwright() as p:
        browser, page = open_page(p, url)

        def ask(q: str, i: int, new_chat: bool) -> dict:
            return ask_in_page(page, q, new_chat, shot=f"test-output/browser-real-{i}.png")

        for i, q in enumerate(QUESTIONS):
            rows.append(ask(q, i, new_chat=True))
            print(rows[-1], flush=True)
            if i == 1:  # a follow-up in the same chat, after a question that was answered
                rows.append({**ask(FOLLOW_UP, 100 + i, new_chat=False), "follow_up": True})
                print(rows[-1], flush=True)
        browser.close()
    timed = [r for r in rows[1:] if not r.get("follow_up")]
    first = sorted(r["first_text_s"] for r in timed)
    print(json.dumps({"rows": rows, "first_text_p50_s": first[len(first) // 2],
                      "follow_up_first_text_s": [r["first_text_s"] for r in rows
                                                 if r.get("follow_up")]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL))
