"""`rag bench`: speed, memory and retrieval-quality numbers, written as JSON + a markdown table.

These are measurements, not assertions: the machines are noisy, so goals live here and in the
reports, never in timed tests. Sections:

* ingest    — cold ingest of the bundled corpus into a fresh temporary index, then an
              unchanged re-ingest;
* retrieval — latency p50/p95 and recall@k / MRR of gold papers for dense, BM25 and hybrid,
              on the eval set's answerable questions;
* answer    — the local model: cold server start, time to first token and total per question;
* naive     — the same cold ingest done with llama-index defaults (VectorStoreIndex over
              ChromaVectorStore, default splitter), and what re-running it does (duplicates);
* scale     — ingest of a synthetic corpus ×N (varied copies), and retrieval on a synthetic
              collection (--vectors, 100k by default; 1M fits in ~6 GB): Chroma's HNSW versus
              exact numpy search (build time, RSS, latency and recall@10 per ef_search);
* memory    — peak RSS of this process and of the LLM server child.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import cast

from bench.timing import server_start_s, timed_answer
from eval.metrics import percentile
from eval.runner import load_questions as eval_questions
from rag.corpus import paper_id
from rag.settings import Settings, get_settings

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "data" / "questions.jsonl"


def _pct(values: list[float], q: float) -> float:
    """`eval.metrics.percentile` (nearest rank), NaN rather than None for no values."""
    p = percentile(values, q)
    return float("nan") if p is None else p


def load_questions(path: Path) -> list[dict]:
    """The questions benches run on: the eval set's dev split. Benchmarks are for choosing
    levers and defaults, i.e. tuning, so they never read the frozen test split (a set without
    split fields is used whole)."""
    return eval_questions(path, split="dev")


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
        lat: list[float] = []
        hits, rr, full = 0.0, 0.0, 0
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
        top = {s.paper_id for s in retrieve(q["question"], k=k, settings=settings)}
        by_kind.setdefault(q.get("kind", "?"), []).append(len(gold & top) / len(gold))
    out["hybrid_recall_by_kind"] = {kd: round(sum(v) / len(v), 3) for kd, v in by_kind.items()}
    return out


def bench_answer(settings: Settings, questions: list[dict], n: int) -> dict:
    from rag.answer import ask_stream

    out: dict = {"model": settings.model}
    if settings.uses_local_llm:
        out["server_start_s"] = server_start_s(settings)
    # Warm the prefix cache and the embedder once, as a running app would be.
    list(ask_stream("What is meta-learning?", settings=settings))
    picked = [q for q in questions if q.get("answerable", True)][:n]
    ttft, total, refused, cited_gold = [], [], 0, 0
    rows = []
    for q in picked:
        answer, first, dt = timed_answer(q["question"], settings)
        total.append(dt)
        ttft.append(first if first is not None else dt)
        refused += answer.refused
        gold = {paper_id(t) for t in q.get("gold_titles", [])}
        cited_gold += bool(gold & {c.paper_id for c in answer.citations})
        rows.append({"question": q["question"], "ttft_s": round(ttft[-1], 2),
                     "total_s": round(dt, 2), "refused": answer.refused,
                     "cited_gold": bool(gold & {c.paper_id for c in answer.citations})})
    out.update({
        "questions": len(picked),
        "ttft_p50_s": round(_pct(ttft, 0.5), 2), "ttft_p95_s": round(_pct(ttft, 0.95), 2),
        "total_p50_s": round(_pct(total, 0.5), 2), "total_p95_s": round(_pct(total, 0.95), 2),
        "refused": refused, "cited_gold_paper": cited_gold, "items": rows,
    })
    return out


def bench_naive(settings: Settings) -> dict:
    """llama-index defaults: what a first prototype would do."""
    import chromadb
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.corpus import load_corpus
    from rag.embeddings import get_embedder

    papers = load_corpus(settings.corpus_dir)
    docs = [Document(text=p.abstract, metadata={"title": p.title}) for p in papers]
    embed = get_embedder(settings)
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(path=tmp)
        coll = client.get_or_create_collection("naive", embedding_function=None)
        ctx = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=coll))
        t0 = time.perf_counter()
        VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=embed)
        cold = time.perf_counter() - t0
        first = coll.count()
        t0 = time.perf_counter()
        VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=embed)
        rerun = time.perf_counter() - t0
        return {"cold_ingest_s": round(cold, 2), "rerun_s": round(rerun, 2), "chunks": first,
                "chunks_after_rerun": coll.count()}


def _variant(text: str, i: int) -> str:
    """A deterministic variation of a text: rotated sentences and a marker word."""
    from rag.citations import split_sentences

    sents = split_sentences(text)
    k = i % max(1, len(sents))
    return " ".join(sents[k:] + sents[:k]) + f" Variant {i}."


def bench_scale(settings: Settings, copies: int, vectors: int = 100_000) -> dict:

    from rag.corpus import load_corpus
    from rag.ingestion import ingest

    out: dict = {}
    papers = load_corpus(settings.corpus_dir)
    if copies > 1:
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "big.jsonl"
            with f.open("w") as fh:
                for i in range(copies):
                    for p in papers:
                        fh.write(json.dumps({"title": f"{p.title} (copy {i})",
                                             "abstract": _variant(p.abstract, i)}) + "\n")
            s = settings.with_overrides(chroma_path=Path(tmp) / "chroma")
            r = ingest(f, settings=s)
            out["ingest_xN"] = {"copies": copies, "papers": r.papers, "chunks": r.chunks,
                                "seconds": round(r.seconds, 1),
                                "chunks_per_s": round(r.chunks / r.seconds, 1)}

    out["synthetic"] = bench_vectors(vectors)
    return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _synthetic_vectors(n: int, n_queries: int, dim: int = 384, seed: int = 0):
    """``n`` clustered unit vectors and ``n_queries`` queries near them, float32, plus the
    topic count.

    Clustered like text embeddings (topics), not uniform noise: in 384 dimensions uniform random
    points are all nearly equidistant and "nearest" means nothing. Queries are perturbed data
    points, as a question is close to the passages it is about. The noise scale is a Python
    float: a NumPy float64 scalar would promote the queries to float64 (NEP 50), and exact
    search would then convert the whole float32 matrix to float64 on every query."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_topics, block = max(2000, n // 50), 100_000
    noise = float(0.8 / np.sqrt(dim))
    centers = rng.standard_normal((n_topics, dim), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    data = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, block):  # in blocks: a 1M x 384 temporary would double the peak
        m = min(block, n - start)
        x = centers[rng.integers(0, n_topics, m)]
        x += rng.standard_normal((m, dim), dtype=np.float32) * noise
        data[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    picks = rng.choice(n, n_queries, replace=False)
    queries = data[picks] + rng.standard_normal((n_queries, dim), dtype=np.float32) * noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    assert data.dtype == queries.dtype == np.float32
    return data, queries, n_topics


def bench_vectors(n: int, n_queries: int = 50,
                  ef_values: tuple[int, ...] = (10, 50, 100, 200, 400, 800),
                  ef_construction: int = 100, max_neighbors: int = 16) -> dict:
    """Chroma's HNSW against exact numpy search on ``n`` synthetic vectors: build time, RSS the
    index adds, query p50/p95 and recall@10 against exact at several ef_search values.

    How ef_search is set: chromadb (1.5.x, Rust core) passes ``ef_search`` to the HNSW index
    only when it loads the index into its in-process index cache. `coll.modify(configuration=
    {"hnsw": {"ef_search": ef}})` stores the new value (the configuration reads it back) but the
    loaded index keeps searching with the old one until the client is closed and the collection
    opened again. So: the collection is created with its HNSW configuration (space,
    ef_construction, max_neighbors, the first ef_search), built once, and for each ef_search the
    value is stored with `modify`, the client closed and a new one opened, so the first query
    loads the index with that ef. ``ef_check`` records the read-back values and, as a control,
    the recall of a `modify` without re-opening (it stays at the creation ef's recall)."""
    import gc
    import shutil

    import chromadb
    import numpy as np
    from chromadb.api.client import Client
    from chromadb.config import Settings as ChromaSettings

    data, queries, n_topics = _synthetic_vectors(n, n_queries)
    dim = data.shape[1]

    exact_lat, exact_ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        exact_ids.append({int(x) for x in np.argpartition(-(data @ q), 10)[:10]})
        exact_lat.append(time.perf_counter() - t0)

    def run_queries(coll) -> tuple[list[float], float]:
        lat, recall = [], []
        for q, exact in zip(queries, exact_ids):
            t0 = time.perf_counter()
            got = coll.query(query_embeddings=[q], n_results=10, include=[])["ids"][0]
            lat.append(time.perf_counter() - t0)
            recall.append(len({int(x) for x in got} & exact) / 10)
        return lat, round(sum(recall) / len(recall), 3)

    def read_back(coll) -> dict:
        return dict(coll.configuration.get("hnsw") or {})

    def open_client(path: str) -> Client:  # a Client (it has close()), typed as ClientAPI
        return cast(Client, chromadb.PersistentClient(
            path=path, settings=ChromaSettings(anonymized_telemetry=False)))

    tmp = tempfile.mkdtemp(prefix="rag-bench-vectors-")
    try:
        client = open_client(tmp)
        coll = client.create_collection(
            "synthetic", embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_construction": ef_construction,
                                    "max_neighbors": max_neighbors,
                                    "ef_search": ef_values[0]}})
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        batch = 5000
        for start in range(0, n, batch):
            coll.add(ids=[str(i) for i in range(start, min(n, start + batch))],
                     embeddings=data[start:start + batch])
        build_s = time.perf_counter() - t0
        rss_added = _rss_mb() - rss0
        disk_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
        built_with = read_back(coll)

        # Control: modify on the open collection. The configuration reads the new value back,
        # but the loaded index still searches with the creation ef (ef_values[0]).
        coll.modify(configuration={"hnsw": {"ef_search": ef_values[-1]}})
        _, stale_recall = run_queries(coll)
        control = {"ef_search_created": ef_values[0], "ef_search_modified_to": ef_values[-1],
                   "ef_search_read_back": read_back(coll).get("ef_search"),
                   "recall@10_without_reopen": stale_recall}

        by_ef = []
        for ef in ef_values:
            coll.modify(configuration={"hnsw": {"ef_search": ef}})
            client.close()  # stops this path's Chroma system: drops its loaded index
            del coll, client
            gc.collect()
            client = open_client(tmp)
            coll = client.get_collection("synthetic", embedding_function=None)
            ef_read = read_back(coll).get("ef_search")
            if ef_read != ef:
                raise RuntimeError(f"ef_search {ef} did not persist: read back {ef_read}")
            t0 = time.perf_counter()
            coll.query(query_embeddings=[queries[0]], n_results=10, include=[])  # loads index
            load_s = time.perf_counter() - t0
            lat, recall = run_queries(coll)
            by_ef.append({"ef_search": ef, "p50_ms": round(_pct(lat, 0.5) * 1000, 2),
                          "p95_ms": round(_pct(lat, 0.95) * 1000, 2),
                          "recall@10": recall,
                          "speedup_p50": round(_pct(exact_lat, 0.5)
                                               / max(1e-9, _pct(lat, 0.5)), 1),
                          "ef_search_read_back": ef_read, "load_s": round(load_s, 2),
                          "rss_mb": round(_rss_mb())})
        client.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    first = by_ef[0]["recall@10"]
    control["recall@10_reopened_at_created_ef"] = first
    control["recall@10_reopened_at_modified_ef"] = by_ef[-1]["recall@10"]
    return {"vectors": n, "dim": dim, "topics": n_topics, "queries": n_queries,
            "build_s": round(build_s, 1), "vectors_per_s": round(n / build_s),
            "rss_added_mb": round(rss_added), "disk_mb": round(disk_mb),
            "exact_numpy_p50_ms": round(_pct(exact_lat, 0.5) * 1000, 2),
            "exact_numpy_p95_ms": round(_pct(exact_lat, 0.95) * 1000, 2),
            "hnsw": by_ef,
            "chromadb": chromadb.__version__,
            "hnsw_config_at_build": built_with,
            "ef_search_set_by": (
                "create_collection(configuration={'hnsw': {...}}) with ef_construction and "
                "max_neighbors, built once; per ef_search: coll.modify(configuration={'hnsw': "
                "{'ef_search': ef}}), client.close(), a new PersistentClient and get_collection, "
                "so the index is loaded again with the stored ef_search (a modify alone is "
                "stored but not used by the already loaded index)"),
            "ef_check": {"read_back_matches": all(h["ef_search_read_back"] == h["ef_search"]
                                                  for h in by_ef),
                         "recall_varies_with_ef": len({h["recall@10"] for h in by_ef}) > 1,
                         "modify_without_reopen": control}}


def peak_rss_mb() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"process_peak_rss_mb": round(me, 1)}
    try:
        from rag.llm import _servers

        for srv in _servers.values():
            if srv.proc and srv.proc.poll() is None:
                status = Path(f"/proc/{srv.proc.pid}/status").read_text()
                hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
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
                  f"| {i['papers']} | {i['chunks']} | {i['cold_ingest_s']} | "
                  f"{i['reingest_s']} |", ""]
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
                  "| questions | server start (s) | TTFT p50 | TTFT p95 | total p50 | total p95 "
                  "| refused | cited gold |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {a['questions']} | {a.get('server_start_s')} | {a['ttft_p50_s']} | "
                  f"{a['ttft_p95_s']} | {a['total_p50_s']} | {a['total_p95_s']} | {a['refused']} | "
                  f"{a['cited_gold_paper']} |", ""]
    if "naive" in results:
        n = results["naive"]
        ours = results.get("ingest", {}).get("cold_ingest_s")
        ratio = f"{n['cold_ingest_s'] / ours:.2f}×" if ours else "n/a"
        lines += ["## Naive llama-index ingest (defaults)", "",
                  "| cold (s) | chunks | re-run (s) | chunks after re-run | naive / ours (cold) |",
                  "|---|---|---|---|---|",
                  f"| {n['cold_ingest_s']} | {n['chunks']} | {n['rerun_s']} | "
                  f"{n['chunks_after_rerun']} | {ratio} |", ""]
    if "scale" in results:
        sc = results["scale"]
        if "ingest_xN" in sc:
            x = sc["ingest_xN"]
            lines += [f"## Ingest of the corpus ×{x['copies']}", "",
                      "| papers | chunks | seconds | chunks/s |", "|---|---|---|---|",
                      f"| {x['papers']} | {x['chunks']} | {x['seconds']} | "
                      f"{x['chunks_per_s']} |", ""]
        y = sc["synthetic"]
        lines += [f"## HNSW vs exact search, {y['vectors']:,} synthetic vectors", "",
                  f"Build {y['build_s']} s ({y['vectors_per_s']:,} vectors/s), "
                  f"+{y['rss_added_mb']} MB RSS, {y['disk_mb']} MB on disk; exact numpy "
                  f"p50 {y['exact_numpy_p50_ms']} ms, p95 {y['exact_numpy_p95_ms']} ms.", "",
                  "| ef_search | HNSW p50 ms | HNSW p95 ms | speed-up (p50) | recall@10 |",
                  "|---|---|---|---|---|"]
        lines += [f"| {h['ef_search']} | {h['p50_ms']} | {h['p95_ms']} | {h['speedup_p50']} | "
                  f"{h['recall@10']} |" for h in y["hnsw"]]
        if "ef_check" in y:
            c, m = y["ef_check"], y["ef_check"]["modify_without_reopen"]
            lines += ["", f"ef_search applied by re-opening the collection after `modify` "
                      f"(chromadb {y['chromadb']}); read back matches: "
                      f"{c['read_back_matches']}, recall varies with ef: "
                      f"{c['recall_varies_with_ef']}. Control, `modify` to "
                      f"{m['ef_search_modified_to']} without re-opening: recall@10 "
                      f"{m['recall@10_without_reopen']} (as at ef {m['ef_search_created']})."]
        lines.append("")
    if "evidence" in results:
        from bench.evidence import to_markdown as evidence_markdown

        lines += evidence_markdown(results["evidence"])
    if "levers" in results:
        from bench.levers import to_markdown as levers_markdown

        lines += levers_markdown(results["levers"])
    if "memory" in results:
        lines += ["## Memory", "", "| " + " | ".join(results["memory"]) + " |",
                  "|" + "---|" * len(results["memory"]),
                  "| " + " | ".join(str(v) for v in results["memory"].values()) + " |", ""]
    return "\n".join(lines)


def run(sections: list[str], out_dir: Path, questions_path: Path, n_answers: int,
        settings: Settings | None = None, copies: int = 20,
        levers: list[str] | None = None, per_kind: int = 4, vectors: int = 100_000) -> dict:
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
    if "naive" in sections:
        results["naive"] = bench_naive(settings)
    if "scale" in sections:
        results["scale"] = bench_scale(settings, copies, vectors)
    if "evidence" in sections:
        from bench.evidence import bench_evidence

        results["evidence"] = bench_evidence(settings, questions)
    if "levers" in sections:
        from bench.levers import bench_levers

        results["levers"] = bench_levers(settings, questions, per_kind=per_kind,
                                         unanswerable_per_kind=max(1, per_kind // 2),
                                         only=levers)
    results["memory"] = peak_rss_mb()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2))
    (out_dir / "bench.md").write_text(to_markdown(results))
    return results
