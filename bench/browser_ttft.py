"""Time to first token as a person sees it: the real app and model, driven in Chromium.

Usage: .venv/bin/python bench/browser_ttft.py [URL]  (default http://127.0.0.1:7860/, start the
app first with `rag ui`). Prints, per question, the seconds from pressing Enter until answer text
(not a progress line) appears in the chat, and until the answer is complete.
"""

import json
import sys
import time

from playwright.sync_api import sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/"
QUESTIONS = [
    "What does AutoClip choose automatically, and based on what?",
    "How many datasets was MLTI evaluated on?",
    "Which paper turns data into noise with an SDE and reverses it to generate samples?",
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

rows = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(URL)
    page.locator("#question textarea").wait_for()
    for i, q in enumerate(QUESTIONS):
        page.locator("#new-chat").click()
        time.sleep(0.5)
        box = page.locator("#question textarea")
        box.fill(q)
        t0 = time.perf_counter()
        box.press("Enter")
        bot = page.locator("#chat .bot-row").last
        first = None
        while time.perf_counter() - t0 < 180:
            txt = bot.inner_text() if bot.count() else ""
            if first is None and txt.strip() and not txt.strip().startswith("…") and \
                    not any(w in txt for w in ("Searching", "Reading", "Writing", "Starting")):
                first = time.perf_counter() - t0
            if page.locator("#question textarea").is_enabled() and first is not None:
                break
            time.sleep(0.1)
        total = time.perf_counter() - t0
        page.screenshot(path=f"test-output/browser-real-{i}.png")
        rows.append({"question": q, "first_text_s": round(first or total, 2),
                     "complete_s": round(total, 2)})
        print(rows[-1], flush=True)
    browser.close()
print(json.dumps(rows))
