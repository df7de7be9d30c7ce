"""Demo seed: the watched import folder. The demo practice's EHR export lands in
`watched-imports/` beside the demo vault; last night's file arrived cut short (an 837 that
stops mid-claim). The scheduler's watched-folder job (`run_watched_folder`, as the
`import-watch` job runs it) refuses it, moves it to `failed/` and opens an
`automation_failure` task saying why; nothing from it is imported. Drop an export there
while the demo runs to see a good one go in."""

from __future__ import annotations

import os
import random
import time

from app.identity import Session
from app.services import practice
from automations.workflows.watched_folder import SYSTEM_ACTOR, run_watched_folder

ORDER = 65
FOLDER = "watched-imports"
# Synthetic, no patient in it: the interchange stops after the billing provider's loop.
CUT_SHORT = (
    "ISA*00*          *00*          *ZZ*MAPLEFM        *ZZ*CLEARPATH      *261130*2215*^*"
    "00501*000000731*0*P*:~GS*HC*MAPLEFM*CLEARPATH*20261130*2215*731*X*005010X222A1~"
    "ST*837*0001*005010X222A1~BHT*0019*00*731*20261130*2215*CH~"
    "NM1*41*2*MAPLE STREET FAMILY MEDICINE*****46*MFM0417~PER*IC*BILLING*TE*5550100~"
    "NM1*40*2*CLEARPATH*****46*CLEARPATH~HL*1**20*1~NM1*85*2*MAPLE STREET FAMILY MEDICINE"
    "*****XX*1999999984~N3*12 MAPLE ST~N4*SPRINGFIELD*IL*62701~REF*EI*990000417~HL*2*1*22*0~")


def seed(session: Session, rng: random.Random) -> None:
    del rng
    folder = session.vault.directory / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    practice.set_setting(session, "import_watch_dir", str(folder))
    export = folder / "ehr_claims_export.837"
    export.write_text(CUT_SHORT, encoding="ascii")
    an_hour_ago = time.time() - 3600  # settled: written by last night's export, not now
    os.utime(export, (an_hour_ago, an_hour_ago))
    run_watched_folder(Session.system(session.vault, SYSTEM_ACTOR))
