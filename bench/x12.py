"""835 parse speed against a bare split of the same file (10k claims, synthetic).

`parse` = the full import parse: read the separators from the ISA, tokenize, validate
the envelope and counts, build the Remittance with every claim, line, adjustment and
remark as Decimal amounts, and run the balancing checks (no database).
`split` = the bare segment split any X12 reader must do at least: decode, split into
segments on the terminator and each segment into elements (separators hard-coded).
The segment-only split (no element split) is printed for information.
pyx12's reader (pyx12.x12file.X12Reader, segment iteration only, no validation) runs on
a 1,000-claim slice and is scaled by claim count (it is too slow for 10k in a bench).
The parse pauses Python's cyclic GC while it builds its objects (see app.x12.tokenizer);
the bare split runs as anyone would write it, with the GC on."""

from __future__ import annotations

import gc
import io
import random
import time
from datetime import date

from _common import best_of, report

from app.x12.synth import build_835, bulk_claims
from app.x12.x835 import parse_835

CLAIMS = 10_000


def main() -> None:
    claims = bulk_claims(CLAIMS, random.Random(7))
    data = build_835(claims, payer_name="BENCH HEALTH PLAN", payer_id="99999",
                     trace="BENCH1", paid_on=date(2026, 11, 1))

    def parse() -> object:
        remits = parse_835(data)
        assert len(remits[0].claims) == CLAIMS and remits[0].balanced
        return remits

    def split() -> object:
        return [s.split("*") for s in data.decode("latin-1").split("~")]

    def split_segments_only() -> object:
        return data.decode("latin-1").split("~")

    parse()
    t_split = best_of(5, split)
    t_seg = best_of(5, split_segments_only)
    t_parse = best_of(5, parse)
    print(f"# {len(data) / 1e6:.1f} MB, {CLAIMS} claims: parse {t_parse * 1000:.1f} ms, "
          f"segment+element split {t_split * 1000:.1f} ms, segment-only split "
          f"{t_seg * 1000:.1f} ms (parse/segment-only ratio {t_seg / t_parse:.3f})")
    report("x12_parse_vs_split", t_split / t_parse, ">=", 0.5,
           "split time / parse time; split = segments and elements")
    gc.disable()
    try:
        t_split_nogc = best_of(5, split)
    finally:
        gc.enable()
    print(f"# for reference, the same split with the GC paused too: {t_split_nogc * 1000:.1f} "
          f"ms (ratio {t_split_nogc / t_parse:.3f})")
    try:
        from pyx12.x12file import X12Reader
    except ImportError:  # pragma: no cover - pyx12 is a dependency
        return
    slice_n = 1000
    small = build_835(claims[:slice_n], payer_name="BENCH HEALTH PLAN", payer_id="99999",
                      trace="BENCH1", paid_on=date(2026, 11, 1)).decode("latin-1")

    def pyx12_read() -> int:
        count = 0
        for _seg in X12Reader(io.StringIO(small)):
            count += 1
        return count

    start = time.perf_counter()
    pyx12_read()
    t_pyx = (time.perf_counter() - start) * CLAIMS / slice_n
    print(f"# pyx12 X12Reader on a {slice_n}-claim slice, scaled x{CLAIMS // slice_n}: "
          f"{t_pyx * 1000:.0f} ms for {CLAIMS} claims (ours {t_parse * 1000:.1f} ms, "
          f"{t_pyx / t_parse:.1f}x faster)")


if __name__ == "__main__":
    main()
