"""Keyword coverage: the share of required keywords an LLM's answer mentions.

A small, real evaluator plugin for LLM Test Bench, written to show plugin authors
everything the server expects (see README.md next to this package).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["KeywordCoverage"]


class KeywordCoverage:
    """Scores a text by the fraction of the given keywords it contains."""

    name = "keyword-coverage"
    version = "1.0.0"
    plugin_type = "evaluator"
    description = (
        "Scores a text (typically a model's answer) by the fraction of required "
        "keywords or phrases it mentions: 1.0 when all appear, 0.0 when none do. "
        "Matching ignores case unless case_sensitive is true, and matches whole "
        "words unless whole_words is false."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text", "keywords"],
        "properties": {
            "text": {
                "type": "string",
                "maxLength": 200_000,
                "description": "The text to score.",
            },
            "keywords": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "Words or phrases the text should mention.",
            },
            "case_sensitive": {"type": "boolean", "default": False},
            "whole_words": {"type": "boolean", "default": True},
        },
    }

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        """Score ``input["text"]``; the server has already checked input_schema."""
        text = input["text"]
        flags = 0 if input.get("case_sensitive", False) else re.IGNORECASE
        whole = input.get("whole_words", True)
        keywords = list(dict.fromkeys(input["keywords"]))  # duplicates count once

        found = [k for k in keywords if re.search(_pattern(k, whole), text, flags)]
        missing = [k for k in keywords if k not in found]
        return {
            "score": len(found) / len(keywords),
            "found": found,
            "missing": missing,
            "details": f"{len(found)} of {len(keywords)} keywords found",
        }


def _pattern(keyword: str, whole_words: bool) -> str:
    # Words are separated by any run of whitespace in the text ("New  York").
    escaped = r"\s+".join(re.escape(part) for part in keyword.split())
    if not whole_words:
        return escaped
    # \b fails next to punctuation ("C++"), so look for non-word neighbours instead.
    return rf"(?<!\w){escaped}(?!\w)"
