"""The runtime self-test's verdict: does this model, on this build of llama.cpp and this
processor, write readable text fast enough to be worth waiting for?

healthy: readable text at or above the floor (tokens/s);
slow: readable text, below the floor;
broken: the worker crashed, the call timed out or failed, or the text is garbage.
The verdict is pure logic here; running the prompt and storing the verdict is the
automations layer's job.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from local_models.errors import GenerationTimeout, ModelError
from local_models.runtime import GenerationResult

DEFAULT_FLOOR_TPS = 5.0
_WORD = re.compile(r"[A-Za-z]{2,}")


class Health(str, Enum):
    HEALTHY = "healthy"
    SLOW = "slow"
    BROKEN = "broken"


@dataclass(frozen=True)
class SelfTestVerdict:
    health: Health
    reason: str  # one line, PHI-free (the prompt is fixed)
    tokens_per_s: float = 0.0
    completion_tokens: int = 0

    @property
    def usable(self) -> bool:
        return self.health is Health.HEALTHY


def garbage_reason(text: str) -> str | None:
    """Why a test answer is not readable text, or None when it is."""
    stripped = text.strip()
    if not stripped:
        return "it produced no text"
    if stripped.count("\ufffd") * 10 > len(stripped):
        return "its text is not valid characters"
    letters = sum(c.isalpha() or c.isspace() for c in stripped)
    if letters < 0.6 * len(stripped):
        return "its text is mostly symbols"
    words = _WORD.findall(stripped)
    if len(words) < 3:
        return "its text has fewer than three words"
    top_count = Counter(w.lower() for w in words).most_common(1)[0][1]
    if len(words) >= 6 and top_count > 0.6 * len(words):
        return "its text repeats one word"
    return None


def judge(result: GenerationResult | None, error: BaseException | None,
          floor_tps: float = DEFAULT_FLOOR_TPS) -> SelfTestVerdict:
    """The verdict from one self-test generation (or the error it raised)."""
    if error is not None:
        if isinstance(error, GenerationTimeout):
            return SelfTestVerdict(Health.BROKEN, f"the test generation timed out ({error})")
        message = str(error) if isinstance(error, ModelError) else type(error).__name__
        return SelfTestVerdict(Health.BROKEN, f"the model could not run: {message}")
    assert result is not None
    if result.finish_reason == "timeout":
        return SelfTestVerdict(Health.BROKEN, "the test generation timed out after "
                               f"{result.completion_tokens} tokens",
                               result.tokens_per_s, result.completion_tokens)
    garbage = garbage_reason(result.text)
    if garbage is not None:
        return SelfTestVerdict(Health.BROKEN, f"the model's test answer is unusable: {garbage}",
                               result.tokens_per_s, result.completion_tokens)
    tps = result.tokens_per_s
    if result.completion_tokens > 1 and tps < floor_tps:
        return SelfTestVerdict(Health.SLOW, f"{tps:.1f} tokens/s, under the floor of "
                               f"{floor_tps:g} tokens/s", tps, result.completion_tokens)
    return SelfTestVerdict(Health.HEALTHY, f"{tps:.0f} tokens/s", tps,
                           result.completion_tokens)
