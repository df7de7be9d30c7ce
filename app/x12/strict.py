"""Optional strict validation with pyx12 (its implementation-guide maps: loops, element
lengths, code values). Slower than our parser and without 270/271 maps in pyx12 4.0, so
it is a second opinion, not the import path. Runs in memory: no temp files."""

from __future__ import annotations

import io
import logging

_LOG = logging.getLogger("pyx12")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # pyx12 error lines name the segment and element, not the values: no PHI.
        self.messages.append(record.getMessage()[:200])


def pyx12_validate(data: bytes | str) -> tuple[bool, list[str]]:
    """(valid, messages). An unsupported transaction (no pyx12 map) is (False, [why])."""
    import pyx12.errors
    import pyx12.params
    import pyx12.x12n_document

    text = data.decode("latin-1") if isinstance(data, bytes) else data
    text = text.removeprefix("\xef\xbb\xbf")
    handler = _Collect()
    level, propagate = _LOG.level, _LOG.propagate
    _LOG.addHandler(handler)
    _LOG.setLevel(logging.ERROR)
    _LOG.propagate = False
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None,
            fd_html=None, fd_xmldoc=None)
    except pyx12.errors.EngineError as exc:
        return False, [f"pyx12 cannot validate this file: {exc}"]
    finally:
        _LOG.removeHandler(handler)
        _LOG.setLevel(level)
        _LOG.propagate = propagate
    return bool(ok), handler.messages
