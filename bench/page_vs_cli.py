"""What the chat page costs the model, and what the first question after start-up costs.

`python -m bench.page_vs_cli` starts `rag ui` twice, each time with its own fresh local model
server (a free `RAG_LLM_PORT`), and asks two questions in Chromium, swapping their order on the
second start, so each question is timed once as the first question after start-up ("cold") and
once after another one ("warm"): time to the first answer text, and to the complete answer. The
first question is asked when the page's header stops saying the model is warming up, as a user
who reads it would; the time from start until then is recorded (``model_ready_s``).
With the UI's model server still up and the page closed, it then asks the same questions from
Python (`rag.ask_stream`, what `rag ask` runs), timing the same two moments. At temperature 0
both write the same answer, so the page's generation speed against the CLI's is the page's
cost in tokens/s (the page re-renders Markdown and the browser redraws on the same 2 cores).
Speeds are read from the model server's own log (llama.cpp's prompt and generation tokens/s
for each request); the page's times are stamped in the page by a MutationObserver
(`bench.browser_ttft.ask_in_page`), so how often Python looks is not what is measured.

Writes bench/results/page_vs_cli.json; needs the prepared model and index (`make run`) and
Debian's chromium (`make browser-deps`).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.browser_ttft import ask_in_page, open_page
from bench.timing import free_port, timed_answer

QUESTIONS = [
    "What does AutoClip choose automatically, and based on what?",
    "Which paper turns data into noise with an SDE and reverses it to generate samples?",
]
# A question with a longer answer, asked warm, for generation speed: the short answers above
# finish in ~1 s, where the final check and render of the page weigh as much as the tokens.
LONG = "Compare how AutoClip and diffGrad use the history of gradients during training."
OUT = Path("bench/results/page_vs_cli.json")
ROUNDS = 3  # page/CLI pairs of the long question, for generation speed


def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


# A prompt read whole from the cache is logged as "0.00 ms / 1 tokens (…, inf tokens per second)".
_RATE = re.compile(r"(prompt eval|\s eval) time =.*?([0-9.]+|inf) tokens per second")


def _server_rates(log: Path, start: int) -> tuple[int, list[dict]]:
    """(new end offset, [{prompt_tps, gen_tps}] per request) from llama.cpp's log since
    ``start``."""
    data = log.read_bytes()
    rates: list[dict] = []
    for kind, tps in _RATE.findall(data[start:].decode("utf-8", "replace")):
        if kind == "prompt eval":
            rates.append({"prompt_tps": None if tps == "inf" else float(tps)})
        elif rates and "gen_tps" not in rates[-1]:
            rates[-1]["gen_tps"] = float(tps)
    return len(data), rates


def _cli(question: str, settings) -> dict:
    """Seconds to the first answer text and to the complete answer, as `rag ask` streams it."""
    _, first, total = timed_answer(question, settings)
    return {"question": question, "first_text_s": round(first or 0.0, 2),
            "complete_s": round(total, 2)}


def _ready(page) -> bool:
    """The header shows the index's size and no longer says the model is warming up."""
    text = page.locator("#header-line").inner_text()
    return "papers" in text and "warming up" not in text


def run() -> dict:
    from playwright.sync_api import sync_playwright

    from rag.settings import Settings

    llm_port = free_port()
    settings = Settings().with_overrides(llm_port=llm_port)  # the UI's model server
    log = settings.gguf_path.parent / "llm-server.log"
    rows: list[dict] = []
    cli: list[dict] = []
    pairs: list[dict] = []
    for order in (QUESTIONS, QUESTIONS[::-1]):
        port = free_port()
        env = dict(os.environ, RAG_UI_PORT=str(port), RAG_LLM_PORT=str(llm_port))
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        offset = log.stat().st_size if log.exists() else 0
        try:
            t0 = time.perf_counter()
            _wait_http(f"http://127.0.0.1:{port}/")
            page_s = time.perf_counter() - t0
            with sync_playwright() as p:
                browser, page = open_page(p, f"http://127.0.0.1:{port}/")
                # A user who asks once the header no longer says "warming up" (the model is
                # loaded and has the system prompt cached): the first question is timed from
                # there, and how long start-up took until then is recorded beside it.
                deadline = time.monotonic() + 180
                while not _ready(page) and time.monotonic() < deadline:
                    time.sleep(0.25)
                ready_s = round(time.perf_counter() - t0, 2)
                for i, q in enumerate(order + [LONG]):
                    row = ask_in_page(page, q, new_chat=True)
                    time.sleep(1)  # the server writes its timings after the reply
                    offset, rates = _server_rates(log, offset)
                    rows.append({**row, "cold": i == 0, "page_served_s": round(page_s, 2),
                                 "model_ready_s": ready_s,
                                 "server": [r for r in rates if r.get("gen_tps")][-1:]})
                    print(rows[-1], flush=True)
                if order is not QUESTIONS:
                    # Generation speed, paired: the long question from the page, then with the
                    # page closed from Python, ROUNDS times on the same warm server, so drift
                    # of a shared machine falls on both sides alike.
                    for _ in range(ROUNDS):
                        page.goto(f"http://127.0.0.1:{port}/")
                        page.locator("#question textarea").wait_for()
                        time.sleep(2)
                        pair: dict[str, Any] = {"page": ask_in_page(page, LONG, new_chat=True)}
                        time.sleep(1)
                        offset, rates = _server_rates(log, offset)
                        pair["page_server"] = [r for r in rates if r.get("gen_tps")][-1:]
                        page.goto("about:blank")
                        time.sleep(2)
                        pair["cli"] = _cli(LONG, settings)
                        time.sleep(1)
                        offset, rates = _server_rates(log, offset)
                        pair["cli_server"] = [r for r in rates if r.get("gen_tps")][-1:]
                        pairs.append(pair)
                        print(pair, flush=True)
                browser.close()
            if order is not QUESTIONS:  # the page is closed; the UI's model server is warm
                cli = []
                for q in QUESTIONS + [LONG]:
                    cli.append(_cli(q, settings))
                    time.sleep(1)
                    offset, rates = _server_rates(log, offset)
                    cli[-1]["server"] = [r for r in rates if r.get("gen_tps")][-1:]
                for r in cli:
                    print(r, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            time.sleep(2)  # its model server exits with it

    def gen(r: dict) -> float:
        return r["complete_s"] - r["first_text_s"]

    per_q = []
    for q, c in zip(QUESTIONS + [LONG], cli):
        if q == LONG:
            page_gen = statistics.median(gen(r) for r in rows if r["question"] == q)
            per_q.append({"question": q, "page_generate_s": round(page_gen, 2),
                          "cli_generate_s": round(gen(c), 2),
                          "page_tokens_per_s_over_cli": round(gen(c) / max(1e-9, page_gen), 2)})
            continue
        cold = next(r for r in rows if r["question"] == q and r["cold"])
        warm = next(r for r in rows if r["question"] == q and not r["cold"])
        per_q.append({
            "question": q, "cold_first_text_s": cold["first_text_s"],
            "warm_first_text_s": warm["first_text_s"],
            "cold_over_warm": round(cold["first_text_s"] / max(1e-9, warm["first_text_s"]), 2),
            "page_generate_s": round(statistics.median([gen(cold), gen(warm)]), 2),
            "cli_generate_s": round(gen(c), 2),
            "page_tokens_per_s_over_cli": round(gen(c) / max(1e-9, statistics.median(
                [gen(cold), gen(warm)])), 2)})
    def tps(rs: list[dict]) -> float | None:
        got = [r["server"][0]["gen_tps"] for r in rs if r.get("server")]
        return round(statistics.median(got), 2) if got else None

    warm_page = [r for r in rows if not r["cold"]]
    paired = [p["page_server"][0]["gen_tps"] / p["cli_server"][0]["gen_tps"] for p in pairs
              if p["page_server"] and p["cli_server"]]
    return {"when": time.strftime("%Y-%m-%d %H:%M"),
            "generation_tps_median": {"page_warm": tps(warm_page), "cli": tps(cli)},
            # The criterion: the page's generation speed over the CLI's, pair by pair.
            "paired_page_over_cli_tps": [round(x, 3) for x in paired],
            "paired_page_over_cli_tps_median": round(statistics.median(paired), 3)
            if paired else None,
            "pairs": pairs,
            "page": rows,
            "cli": cli,
            "per_question": per_q}


def main() -> int:
    res = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: res[k] for k in ("per_question", "generation_tps_median",
                                          "paired_page_over_cli_tps",
                                          "paired_page_over_cli_tps_median")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
