"""One size-capped reader for files to import (app.imports.files), used by the CLI's
import commands, the 835/271/277 commands and the desktop's import dialog."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ImportRejected, ValidationError
from app.imports.common import LIMITS
from app.imports.files import import_cap, read_capped, read_import_file
from app.x12.tokenizer import MAX_X12_BYTES


def test_caps_by_kind() -> None:
    assert [import_cap(k) for k in ("837", "x12", "csv", "fhir")] == [
        MAX_X12_BYTES, MAX_X12_BYTES, LIMITS.max_csv_bytes, LIMITS.max_ndjson_bytes]


def test_an_oversized_file_is_refused_by_its_size_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.837"
    with big.open("wb") as handle:  # sparse: 17 MB on paper, nothing on disk
        handle.truncate(MAX_X12_BYTES + 1024 * 1024)

    def never(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the file was opened")
    monkeypatch.setattr(Path, "open", never)
    with pytest.raises(ImportRejected, match="limited to 16 MB"):
        read_import_file(big, "837")


def test_a_file_that_grew_after_its_size_was_checked_is_still_capped(tmp_path: Path,
                                                                      monkeypatch:
                                                                      pytest.MonkeyPatch
                                                                      ) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"x" * 3000)
    real_stat = Path.stat

    def small_stat(self: Path, **kwargs: object) -> object:
        result = real_stat(self)
        return type("S", (), {"st_size": 10, "st_mode": result.st_mode})()
    monkeypatch.setattr(Path, "stat", small_stat)
    with pytest.raises(ImportRejected, match="limited to"):
        read_capped(path, 2048)


def test_an_unreadable_file_names_itself_not_its_folder(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^cannot read smith_john\.csv: No such file"):
        read_import_file(tmp_path / "smith_john.csv", "csv")
    (tmp_path / "ok.csv").write_bytes(b"a,b\n1,2\n")
    assert read_import_file(tmp_path / "ok.csv", "csv") == b"a,b\n1,2\n"
