"""`rag bench`: speed, memory and retrieval-quality numbers, written as JSON + a markdown table.

These are measurements, not assertions: the machines are noisy, so goals live here and in the
reports, never in timed tests. Sections:

* ingest    — cold ingest of the bundled corpus into a fresh temporary index, then an
              unchanged re-ingest;
* retrieval — latency p50/p95 and recall@k / MRR of gold papers for dense, BM25 and hybrid,
              on the eval set's answerable questions;
* answer    — the local model: cold server start, time to first token and total per question;
* memory    — peak RSS of this process and of the LLM server child.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from rag.corpus import paper_id
from rag.settings import Settings, get_settings

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "data" / "questions.jsonl"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def bench_ingest(settings: Settings) -> dict:
    from rag.ingestion import ingest

    with tempfile.TemporaryDirectory() as tmp:
        s = settings.with_overrides(chroma_path=Path(tmp) / "chroma")
        cold = ingest(settings.corpus_dir, settings=s)
        warm = ingest(settings.corpus_dir, settings=s)
    return {"papers": cold.papers, "chunks": cold.chunks, "cold_ingest_s": round(cold.seconds, 2),
            "reingest_s": round(warm.seconds, 3), "reingest_chunks_embedded": warm.chunks_added}


def bench_retrieval(settings: Settings, questions: list[dict], k: int = 5) -> dict:
    from rag.retrieval import retrieve

    items = [q for q in questions if q.get("gold_titles") and q.get("answerable", True)]
    out: dict = {"questions": len(items), "k": k}
    retrieve("warm-up", k=k, settings=settings)
    for mode in ("dense", "bm25", "hybrid"):
        lat, hits, rr, full = [], 0, 0.0, 0
        for q in items:
            gold = {paper_id(t) for t in q["gold_titles"]}
            t0 = time.perf_counter()
            got = [s.paper_id for s in retrieve(q["question"], k=k, mode=mode, settings=settings)]
            lat.append(time.perf_counter() - t0)
            found = gold & set(got)
            hits += len(found) / len(gold)
            full += found == gold
            rank = next((i for i, p in enumerate(got, 1) if p in gold), None)
            rr += 1 / rank if rank else 0
        n = max(1, len(items))
        out[mode] = {
            f"recall@{k}": round(hits / n, 3), f"all_gold@{k}": round(full / n, 3),
            "mrr": round(rr / n, 3), "p50_ms": round(_pct(lat, 0.5) * 1000, 1),
            "p95_ms": round(_pct(lat, 0.95) * 1000, 1),
        }
    by_kind: dict[str, list] = {}
    for q in items:
        gold = {paper_id(t) for t in q["gold_titles"]}
        got = {s.paper_id for s in retrieve(q["question"], k=k, settings=settings)}
        by_kind.setdefault(q.get("kind", "?"), []).append(len(gold & got) / len(gold))
    out["hybrid_recall_by_kind"] = {kd: round(sum(v) / len(v), 3) for kd, v in by_kind.items()}
    return out


def bench_answer(settings: Settings, questions: list[dict], n: int) -> dict:
    from rag.answer import ask_stream
    from rag.llm import local_server
    from rag.types import Answer

    out: dict = {"model": settings.model}
    if settings.uses_local_llm:
        srv = local_server(settings)
        t0 = time.perf_counter()
        was_up = srv.healthy()
        srv.ensure()
        out["server_start_s"] = None if was_up else round(time.perf_counter() - t0, 2)
    # Warm the prefix cache and the embedder once, as a running app would be.
    list(ask_stream("What is meta-learning?", settings=settings))
    picked = [q for q in questions if q.get("answerable", True)][:n]
    ttft, total, refused, cited_gold = [], [], 0, 0
    rows = []
    for q in picked:
        t0 = time.perf_counter()
        first = None
        answer = None
        for ev in ask_stream(q["question"], settings=settings):
            if isinstance(ev, str) and first is None:
                first = time.perf_counter() - t0
            elif isinstance(ev, Answer):
                answer = ev
        dt = time.perf_counter() - t0
        total.append(dt)
        ttft.append(first if first is not None else dt)
        refused += answer.refused
        gold = {paper_id(t) for t in q.get("gold_titles", [])}
        cited_gold += bool(gold & {c.paper_id for c in answer.citations})
        rows.append({"question": q["question"], "ttft_s": round(ttft[-1], 2), "total_s": round(dt, 2),
                     "refused": answer.refused, "cited_gold": bool(gold & {c.paper_id for c in answer.citations})})
    out.update({
        "questions": len(picked),
        "ttft_p50_s": round(_pct(ttft, 0.5), 2), "ttft_p95_s": round(_pct(ttft, 0.95), 2),
        "total_p50_s": round(_pct(total, 0.5), 2), "total_p95_s": round(_pct(total, 0.95), 2),
        "refused": refused, "cited_gold_paper": cited_gold, "items": rows,
    })
    return out


def peak_rss_mb() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"process_peak_rss_mb": round(me, 1)}
    try:
        from rag.llm import _servers

        for srv in _servers.values():
            if srv.proc and srv.proc.poll() is None:
                status = Path(f"/proc/{srv.proc.pid}/status").read_text()
                hwm = next(l for l in status.splitlines() if l.startswith("VmHWM"))
                out["llm_server_peak_rss_mb"] = round(int(hwm.split()[1]) / 1024, 1)
    except Exception:
        pass
    return out


def to_markdown(results: dict) -> str:
    lines = ["# rag bench", "", f"_{results['when']}, {results['machine']}_", ""]
    if "ingest" in results:
        i = results["ingest"]
        lines += ["## Ingest", "", "| papers | chunks | cold ingest (s) | re-ingest (s) |",
                  "|---|---|---|---|",
                  f"| {i['papers']} | {i['chunks']} | {i['cold_ingest_s']} | {i['reingest_s']} |", ""]
    if "retrieval" in results:
        r = results["retrieval"]
        k = r["k"]
        lines += [f"## Retrieval ({r['questions']} answerable questions)", "",
                  f"| mode | recall@{k} | all gold@{k} | MRR | p50 ms | p95 ms |",
                  "|---|---|---|---|---|---|"]
        for m in ("dense", "bm25", "hybrid"):
            x = r[m]
            lines.append(f"| {m} | {x[f'recall@{k}']} | {x[f'all_gold@{k}']} | {x['mrr']} | "
                         f"{x['p50_ms']} | {x['p95_ms']} |")
        lines += ["", "Hybrid recall by kind: " + ", ".join(
            f"{kd} {v}" for kd, v in r["hybrid_recall_by_kind"].items()), ""]
    if "answer" in results:
        a = results["answer"]
        lines += ["## Answers (local model)", "",
                  "| questions | server start (s) | TTFT p50 | TTFT p95 | total p50 | total p95 | refused | cited gold |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {a['questions']} | {a.get('server_start_s')} | {a['ttft_p50_s']} | "
                  f"{a['ttft_p95_s']} | {a['total_p50_s']} | {a['total_p95_s']} | {a['refused']} | "
                  f"{a['cited_gold_paper']} |", ""]
    if "memory" in results:
        lines += ["## Memory", "", "| " + " | ".join(results["memory"]) + " |",
                  "|" + "---|" * len(results["memory"]),
                  "| " + " | ".join(str(v) for v in results["memory"].values()) + " |", ""]
    return "\n".join(lines)


def run(sections: list[str], out_dir: Path, questions_path: Path, n_answers: int,
        settings: Settings | None = None) -> dict:
    import os
    import platform

    settings = settings or get_settings()
    questions = load_questions(questions_path) if questions_path.exists() else []
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M"),
                     "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
                                f"{platform.python_version()}"}
    if "ingest" in sections:
        results["ingest"] = bench_ingest(settings)
    if "retrieval" in sections:
        results["retrieval"] = bench_retrieval(settings, questions)
    if "answer" in sections:
        results["answer"] = bench_answer(settings, questions, n_answers)
    results["memory"] = peak_rss_mb()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2))
    (out_dir / "bench.md").write_text(to_markdown(results))
    return results
