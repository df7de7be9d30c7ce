"""A demo build cut short (a seed failed, the process was killed) is built again on the next
`offhold demo`, never reused half-made: before, the next run found the vault and opened it
as if it were complete."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.identity import Session
from automations import demo
from automations.seeds import s10_practice


def _failing(session: Session, rng: random.Random) -> None:
    raise RuntimeError("seed stopped")


def test_a_demo_cut_short_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    directory = tmp_path / "demo"
    broken: list[Any] = [s10_practice, SimpleNamespace(seed=_failing, __name__="broken")]
    monkeypatch.setattr(demo, "seed_modules", lambda: broken)
    with pytest.raises(RuntimeError):
        demo.build_demo(directory)
    assert demo.is_demo_vault(directory)
    assert not (directory / demo.COMPLETE_MARKER).exists()

    monkeypatch.setattr(demo, "seed_modules", lambda: [s10_practice])
    again = demo.build_demo(directory)
    assert again.created and (directory / demo.COMPLETE_MARKER).exists()
    assert not demo.build_demo(directory).created  # finished: reused from now on
