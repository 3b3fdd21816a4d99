"""`bench.perf.bench_vectors` (`rag bench scale --vectors N`): every ef_search it reports is the
one the HNSW index searched with.

chromadb stores `coll.modify(configuration={"hnsw": {"ef_search": ef}})` at once but applies it
only when it loads the index, so the bench re-opens the collection for each value. A small,
deliberately poor graph (few neighbours, low ef_construction) makes the ef visible in recall at a
few thousand vectors.
"""

from __future__ import annotations

from bench.perf import bench_vectors


def test_each_ef_search_is_used_and_read_back():
    r = bench_vectors(4000, n_queries=30, ef_values=(10, 200), ef_construction=10,
                      max_neighbors=4)
    low, high = r["hnsw"]
    assert [h["ef_search_read_back"] for h in r["hnsw"]] == [10, 200]
    assert r["hnsw_config_at_build"]["ef_construction"] == 10
    assert r["hnsw_config_at_build"]["max_neighbors"] == 4
    assert high["recall@10"] > low["recall@10"]
    assert r["ef_check"]["read_back_matches"] and r["ef_check"]["recall_varies_with_ef"]
    # The trap the bench avoids: modify alone reads back the new ef but searches with the old.
    control = r["ef_check"]["modify_without_reopen"]
    assert control["ef_search_read_back"] == 200
    assert control["recall@10_without_reopen"] == low["recall@10"]
    assert set(r) >= {"vectors", "dim", "topics", "queries", "build_s", "vectors_per_s",
                      "rss_added_mb", "disk_mb", "exact_numpy_p50_ms", "exact_numpy_p95_ms"}
