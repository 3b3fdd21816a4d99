"""Gradio web UI: a thin client of rag.ask_stream."""
