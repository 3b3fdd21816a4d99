"""Start-up latency of the three commands a user types, from the shell, interleaved A/B.

* ``retrieve``: `rag retrieve "What does STEP achieve?"` until its first printed line;
* ``ask``: `rag ask …` with the fake LLM (so the model does not count) until its first status
  line — run under a pseudo-terminal, because the CLI shows status lines only on a terminal;
* ``answer``: `rag ask --json …` with the fake LLM until the whole answer is printed (the
  status line above comes before retrieval, so it does not show the embedder's load);
* ``ui``: `rag ui` until the page answers HTTP 200 on its port.

Each variant is a ``PYTHONPATH`` (a checkout of the code), so the same index and environment
serve both: ``python -m bench.startup --a /work/main --b /work/onnx --runs 3``. Runs alternate
a, b, a, b … so a machine whose load changes affects both alike. Wall time and the child's CPU
time (user + sys) are both recorded: on a loaded machine CPU time is the steadier measure.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import resource
import select
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.timing import free_port

QUESTION = "What does STEP achieve?"


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _first_output(cmd: list[str], env: dict, tty: bool, timeout: float = 600) -> float:
    cwd = env["PYTHONPATH"]  # `python -m` puts the cwd first on sys.path, before PYTHONPATH
    """Seconds from spawn until the child writes its first non-blank output."""
    t0 = time.perf_counter()
    if tty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(cmd, env=env, stdout=slave, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, cwd=cwd)
        os.close(slave)
        fd = master
    else:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                cwd=cwd)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
    first = None
    while time.perf_counter() - t0 < timeout:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            # Terminal control codes (cursor hiding) are not output a person reads.
            if first is None and any(c.isalnum() for c in data.decode(errors="ignore")):
                first = time.perf_counter() - t0
                break
    proc.kill()
    proc.wait()
    if tty:
        os.close(master)
    if first is None:
        raise RuntimeError(f"{cmd} printed nothing")
    return first


def _ui_ready(cmd: list[str], env: dict, port: int, timeout: float = 600) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=dict(env, RAG_UI_PORT=str(port)), cwd=env["PYTHONPATH"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.1)
            if proc.poll() is not None:
                raise RuntimeError("rag ui exited before serving")
        raise RuntimeError("rag ui did not serve in time")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(what: str, pythonpath: str, base_env: dict) -> dict:
    env = dict(base_env, PYTHONPATH=pythonpath)
    py = [sys.executable, "-m", "rag.cli"]
    cpu0 = _cpu_of_children()
    if what == "retrieve":
        wall = _first_output(py + ["retrieve", QUESTION], env, tty=False)
    elif what == "ask":
        wall = _first_output(py + ["ask", QUESTION], dict(env, RAG_PROVIDER="fake"), tty=True)
    elif what == "answer":  # the whole answer (retrieval, evidence, fake LLM), as JSON
        wall = _first_output(py + ["ask", "--json", QUESTION], dict(env, RAG_PROVIDER="fake"),
                             tty=False)
    else:
        wall = _ui_ready(py + ["ui"], dict(env, RAG_PROVIDER="fake"), free_port())
    return {"wall_s": round(wall, 2), "cpu_s": round(_cpu_of_children() - cpu0, 2)}


def run(a: str, b: str, runs: int, whats: list[str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base.setdefault("HF_HUB_OFFLINE", "1")
    base.setdefault("ANONYMIZED_TELEMETRY", "False")
    out: dict = {"a": a, "b": b, "runs": runs, "load_before": os.getloadavg(),
                 "cpus": os.cpu_count(), "results": {}}
    for what in whats:
        rows: dict[str, list[dict]] = {"a": [], "b": []}
        for _ in range(runs):
            for label, path in (("a", a), ("b", b)):
                rows[label].append(measure(what, path, base))
                print(what, label, rows[label][-1], flush=True)
        summary = {label: {"wall_median_s": statistics.median(r["wall_s"] for r in rs),
                           "cpu_median_s": statistics.median(r["cpu_s"] for r in rs),
                           "runs": rs} for label, rs in rows.items()}
        summary["wall_ratio_a_over_b"] = round(
            summary["a"]["wall_median_s"] / max(summary["b"]["wall_median_s"], 1e-9), 1)
        out["results"][what] = summary
    out["load_after"] = os.getloadavg()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="start-up latency, interleaved A/B")
    p.add_argument("--a", required=True, help="PYTHONPATH of variant a (e.g. the old checkout)")
    p.add_argument("--b", required=True, help="PYTHONPATH of variant b")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", action="append", choices=["retrieve", "ask", "answer", "ui"])
    p.add_argument("--out", default="bench/results/startup.json")
    args = p.parse_args()
    result = run(args.a, args.b, args.runs, args.only or ["retrieve", "ask", "ui"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {x: v[x] for x in ("a", "b") if x in v} | {
        "ratio": v["wall_ratio_a_over_b"]} for k, v in result["results"].items()}, default=str))


if __name__ == "__main__":
    main()
