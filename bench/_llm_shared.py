"""What bench/llm.py and its raw baseline (bench/_raw_llm.py) generate, kept in one place."""

from __future__ import annotations

MAX_TOKENS = 96
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Count from 1 to 60, separated by commas."}]


def decode_tps(first: float, end: float, tokens: int) -> float:
    """Tokens/s after the first token (the prompt's evaluation is not decoding)."""
    return (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
