"""Prompt templates, kept as files so they can be read and changed without touching code.

`render(name, **values)` fills a template's ``{placeholders}``; a missing value raises KeyError,
so a typo in a template fails the prompt tests instead of silently reaching the model.
"""

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    return (files(__name__) / f"{name}.md").read_text(encoding="utf-8").strip()


def render(name: str, **values) -> str:
    return load(name).format(**values)
