"""Benchmarks on top of the pipeline and the eval set: `rag bench`'s sections (perf), the speed
levers (levers), the evidence levers without the LLM (evidence), and scripts run directly
(soak.py, browser_ttft.py). Imports go one way: bench → eval → rag."""
