"""A stored intake form's page rendered for the review pane (app.intake.render): in the
bounded worker, in memory only; a damaged or hostile file is a one-line refusal."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from app.errors import ImportRejected
from app.intake import render


def _png_pages(count: int = 1, size: tuple[int, int] = (850, 1100)) -> tuple[bytes, str]:
    from PIL import Image
    frames = [Image.new("L", size, 255 - 40 * i) for i in range(count)]
    out = io.BytesIO()
    if count == 1:
        frames[0].save(out, "PNG")
        return out.getvalue(), "image/png"
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue(), "image/tiff"


def _pdf(pages: int = 2) -> bytes:
    import pypdfium2 as pdfium
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(612, 792)  # US letter in points
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


def test_a_pdf_page_at_screen_resolution() -> None:
    png, count = render.render_page(_pdf(2), "application/pdf", 2)
    assert count == 2
    assert _size(png) == (round(612 * render.VIEW_DPI / 72), round(792 * render.VIEW_DPI / 72))


def test_a_faxed_tiffs_second_page_and_a_missing_page() -> None:
    data, mime = _png_pages(3)
    png, count = render.render_page(data, mime, 2)
    assert count == 3 and _size(png) == (850, 1100)
    with pytest.raises(ImportRejected, match="no page 4"):
        render.render_page(data, mime, 4)


def test_a_huge_photo_is_scaled_down_not_refused() -> None:
    data, mime = _png_pages(1, (4000, 4000))  # 16 M pixels, past MAX_VIEW_PIXELS
    png, _count = render.render_page(data, mime, 1)
    width, height = _size(png)
    assert width * height <= render.MAX_VIEW_PIXELS and width == height


def test_rendering_writes_no_file(private_tmp: Path, tmp_path: Path) -> None:
    data, mime = _png_pages(1)
    before = {p for p in tmp_path.rglob("*")}
    render.render_page(data, mime, 1)
    assert {p for p in tmp_path.rglob("*")} == before
    assert not any(private_tmp.iterdir())


def test_too_large_a_file_is_refused_before_any_work() -> None:
    with pytest.raises(ImportRejected, match="larger than 60 MB"):
        render.render_page(b"0" * (render.MAX_BYTES + 1), "image/png", 1)


def test_damaged_files_end_in_a_page_or_one_line() -> None:
    """A fuzz pass: mutated PDFs and images, and noise, through the bounded worker; each
    is a page or a one-line refusal, never a crash or a hang."""
    rng = random.Random(20261201)
    seeds = [_pdf(1), _png_pages(1, (200, 260))[0], _png_pages(2, (120, 160))[0]]
    cases: list[bytes] = [b"", b"%PDF-1.7\n%%EOF", bytes(rng.randrange(256) for _ in range(512))]
    for seed in seeds:
        for _ in range(3):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 12)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            cases.append(bytes(data[:rng.randint(len(data) // 2, len(data))]))
    for data in cases:
        for mime in ("application/pdf", "image/tiff"):
            try:
                png, count = render.render_page(data, mime, 1)
            except ImportRejected as exc:
                assert "\n" not in str(exc) and str(exc)
            else:
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and count >= 1
