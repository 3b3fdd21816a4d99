"""Soak: many questions through the UI's API against the real local model, with an ingest of a
changed corpus in the middle.

Usage: .venv/bin/python bench/soak.py [--questions 200] [--out bench/results/soak.json]

It copies the built index (`.index/chroma`, from `make run`) to a temporary home, so your index
is left alone, starts a fresh `rag ui` on a free port with its own llama.cpp server, and then
asks eval questions (every kind, dev split) through gradio_client: one at a time, in bursts of
three at once, and as follow-ups that send the previous turn as history. After a third of the
questions it runs `rag ingest` in another process on the corpus plus three new papers while the
questions keep coming, and afterwards asks about the new papers. Reports errors (must be 0),
latency p50/p95, the UI process's RSS (and the model server's) at start and end, and whether the
new papers were found. Writes JSON; prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEW_PAPERS = [
    ("Zorblat Networks: Quasi-Lattice Attention for Tide Forecasting",
     "We introduce Zorblat Networks, a quasi-lattice attention architecture for forecasting "
     "coastal tides from sparse buoy readings. On 212 coastal stations, Zorblat Networks reduce "
     "the mean absolute error of six-hour tide forecasts by 31% compared with a transformer "
     "baseline while using 40 times fewer parameters."),
    ("Quillfeather: Self-Correcting Handwriting Synthesis with Stroke Critics",
     "Quillfeather synthesizes handwriting stroke by stroke and corrects itself with a learned "
     "stroke critic. Human raters preferred Quillfeather samples over the previous best model "
     "in 78% of comparisons on a new dataset of 9,400 writers."),
    ("Marrowlight: Sparse Probing of Bone Density in Low-Dose CT",
     "Marrowlight estimates bone mineral density from low-dose CT scans with a sparse probing "
     "network. On 3,100 scans it matches dual-energy X-ray absorptiometry within 4.2% while "
     "cutting radiation exposure by half."),
]
NEW_QUESTIONS = [
    ("What do Zorblat Networks forecast, and how much do they reduce the error?", 0),
    ("How often did raters prefer Quillfeather samples?", 1),
    ("What does Marrowlight estimate from low-dose CT?", 2),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def server_pid(llm_port: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"llama_cpp.server" in cmd and str(llm_port).encode() in cmd:
                return int(entry.name)
    return None


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))], 2)


def plan(n: int, seed: int = 7) -> list[dict]:
    """Steps: single questions, bursts of 3 concurrent ones, follow-ups on the previous turn."""
    rows = [json.loads(line) for line in (ROOT / "eval/data/questions.jsonl").open()]
    rows = [r for r in rows if r.get("split", "dev") == "dev"]
    rng = random.Random(seed)
    rng.shuffle(rows)
    follow_ups = ["What data did they evaluate it on?", "How does that compare with the "
                  "baseline?", "Can you say more about the method?"]
    steps, i, asked = [], 0, 0
    while asked < n:
        r = rows[i % len(rows)]
        i += 1
        roll = rng.random()
        if roll < 0.15 and asked + 3 <= n:
            burst = [rows[(i + j) % len(rows)]["question"] for j in range(3)]
            i += 3
            steps.append({"kind": "burst", "questions": burst})
            asked += 3
        elif roll < 0.35 and asked + 2 <= n:
            steps.append({"kind": "follow-up", "questions": [r["question"],
                                                             rng.choice(follow_ups)]})
            asked += 2
        else:
            steps.append({"kind": "single", "questions": [r["question"]]})
            asked += 1
    return steps


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench/results/soak.json"))
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop starting new questions after this long (a slow machine); the "
                         "report says how many of --questions were asked")
    ap.add_argument("--fake-llm", action="store_true",
                    help="the fake LLM instead of the local model (fast: retrieval, Chroma, "
                         "the UI and memory under load without the model's minutes)")
    ap.add_argument("--ingest-after", type=int, default=None,
                    help="start the ingest after this many questions (default: a third)")
    args = ap.parse_args()
    from gradio_client import Client

    index = ROOT / ".index" / "chroma"
    if not (index / "chroma.sqlite3").exists():
        sys.exit("no built index at .index/chroma: run `make run` (or `rag ingest`) first")
    home = Path(tempfile.mkdtemp(prefix="rag-soak-"))
    shutil.copytree(index, home / "chroma")
    corpus = home / "corpus"
    shutil.copytree(ROOT / "data" / "corpus", corpus, ignore=shutil.ignore_patterns("*.md"))
    changed = home / "changed-corpus"
    shutil.copytree(corpus, changed)
    (changed / "004_soak_new_papers.txt").write_text(
        "".join(f"{t}\n{a}\n" for t, a in NEW_PAPERS), encoding="utf-8")

    ui_port, llm_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(home), RAG_CHROMA_PATH=str(home / "chroma"),
               RAG_CORPUS_PATH=str(corpus), RAG_UI_PORT=str(ui_port), RAG_LLM_PORT=str(llm_port),
               RAG_MODEL_PATH=str(ROOT / ".models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"))
    if args.fake_llm:
        env["RAG_PROVIDER"] = "fake"
    log = open(home / "ui.log", "w")
    ui = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui"], env=env, cwd=ROOT,
                          stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{ui_port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", ui_port)) == 0:
                break
        time.sleep(0.2)
    results: list[dict] = []
    rss_trace: list[tuple[int, float | None]] = []  # (questions done, UI RSS MB)
    lock = threading.Lock()
    t_start = time.time()

    def ask(question: str, history: list[dict] | None = None, phase: str = "") -> dict:
        t0 = time.perf_counter()
        row = {"question": question, "phase": phase, "follow_up": bool(history)}
        try:
            r = Client(url, verbose=False).predict(question, history or [], api_name="/ask")
            row.update(ok=True, refused=r["refused"], text=r["text"][:300],
                       titles=[s["title"] for s in r["sources"]])
            if "Could not answer" in r["text"] or "went wrong" in r["text"]:
                row.update(ok=False, error=r["text"][:300])
        except Exception as e:  # an error reaching the client is what the soak counts
            row.update(ok=False, error=f"{type(e).__name__}: {e}"[:300])
            r = None
        row["seconds"] = round(time.perf_counter() - t0, 2)
        with lock:
            results.append(row)
            done = len(results)
            if done % 10 == 0:
                rss_trace.append((done, rss_mb(ui.pid)))
        print(f"{done:4d} {row['seconds']:6.1f}s {'ok ' if row['ok'] else 'ERR'} "
              f"{question[:70]}", flush=True)
        return {"question": question, "text": r["text"] if r else ""}

    try:
        warm = ask("What does AutoClip choose automatically?", phase="warm-up")
        rss = {"ui_start_mb": rss_mb(ui.pid), "server_start_mb": rss_mb(server_pid(llm_port) or 0)}
        results.clear()
        steps = plan(args.questions)
        ingest_at = len(steps) // 3
        if args.ingest_after is not None:
            asked = 0
            for ingest_at, step in enumerate(steps):  # noqa: B007  (ingest_at is read after the loop)
                if asked >= args.ingest_after:
                    break
                asked += len(step["questions"])
        stop_at = time.monotonic() + args.minutes * 60 if args.minutes else None
        stopped_early = False
        ingest_proc = None
        ingest_row: dict = {}
        with ThreadPoolExecutor(3) as pool:
            for k, step in enumerate(steps):
                if stop_at and time.monotonic() > stop_at and k > ingest_at:
                    stopped_early = True
                    break
                if k == ingest_at:
                    ingest_row["started_s"] = round(time.time() - t_start, 1)
                    ingest_proc = subprocess.Popen(
                        [sys.executable, "-m", "rag.cli", "ingest", str(changed)], env=env,
                        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                phase = "during-ingest" if ingest_proc and ingest_proc.poll() is None else (
                    "after-ingest" if ingest_proc else "before-ingest")
                qs = step["questions"]
                if step["kind"] == "burst":
                    list(pool.map(partial(ask, phase=phase), qs))
                elif step["kind"] == "follow-up":
                    first = ask(qs[0], phase=phase)
                    ask(qs[1], [{"role": "user", "content": first["question"]},
                                {"role": "assistant", "content": first["text"]}], phase=phase)
                else:
                    ask(qs[0], phase=phase)
                if (ingest_proc and "finished_s" not in ingest_row
                        and ingest_proc.poll() is not None):
                    ingest_row.update(finished_s=round(time.time() - t_start, 1),
                                      returncode=ingest_proc.returncode,
                                      output=_read(ingest_proc.stdout))
        if ingest_proc and "finished_s" not in ingest_row:
            ingest_proc.wait()
            ingest_row.update(finished_s=round(time.time() - t_start, 1),
                              returncode=ingest_proc.returncode,
                              output=_read(ingest_proc.stdout))
        soak_rows = list(results)
        found = []
        for q, i in NEW_QUESTIONS:
            a = ask(q, phase="new-papers")
            found.append({"question": q, "paper": NEW_PAPERS[i][0],
                          "found": NEW_PAPERS[i][0] in results[-1].get("titles", []),
                          "answer": a["text"][:200]})
        rss.update(ui_end_mb=rss_mb(ui.pid), server_end_mb=rss_mb(server_pid(llm_port) or 0))
    finally:
        ui.send_signal(signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ui.kill()
        log.close()
    secs = [r["seconds"] for r in soak_rows]
    summary = {
        "questions": len(soak_rows),
        "questions_planned": args.questions,
        "stopped_by_time_limit": stopped_early,
        "errors": sum(not r["ok"] for r in soak_rows),
        "error_samples": [r["error"] for r in soak_rows if not r["ok"]][:5],
        "refused": sum(bool(r.get("refused")) for r in soak_rows),
        "follow_ups": sum(r["follow_up"] for r in soak_rows),
        "by_phase": {p: sum(r["phase"] == p for r in soak_rows)
                     for p in ("before-ingest", "during-ingest", "after-ingest")},
        "errors_by_phase": {p: sum(r["phase"] == p and not r["ok"] for r in soak_rows)
                            for p in ("before-ingest", "during-ingest", "after-ingest")},
        "seconds_p50": pct(secs, 50), "seconds_p95": pct(secs, 95), "seconds_max": max(secs),
        "wall_s": round(time.time() - t_start, 1),
        "rss": rss,
        "ui_rss_trace": rss_trace,
        "ui_rss_growth": _growth(rss.get("ui_start_mb"), rss.get("ui_end_mb")),
        "ingest": ingest_row,
        "new_papers_found": found,
        "warm_up_answer": warm["text"][:200],
        "cpu_flags": sorted({f for f in Path("/proc/cpuinfo").read_text().split()
                             if f in ("avx2", "avx512f", "avx512_vnni", "avx512bw")}),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "rows": soak_rows}, indent=2,
                              ensure_ascii=False))
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    shutil.rmtree(home, ignore_errors=True)
    return 0 if summary["errors"] == 0 and all(f["found"] for f in found) else 1


if __name__ == "__main__":
    sys.exit(main())


def _read(stream) -> str:
    """The tail of a finished child's output (its stdout is a pipe)."""
    return stream.read().strip()[-400:] if stream is not None else ""


def _growth(start: float | None, end: float | None) -> float | None:
    return round(end / start - 1, 3) if start and end else None
