"""Desktop-facing benchmarks, each a ratio in one run:

- a queue page (`queue.list_tasks`, first page, limit 50, as the queue screen asks for it)
  at 100k tasks against the same query at 1k tasks (target <= 2);
- cold start to the login window (a fresh process that imports the app and shows the
  login dialog, offscreen) against a fresh process showing a bare PySide6 window
  (target <= 1.5).

Tasks are inserted in bulk (executemany in one vault.write()), with the mix of kinds,
states, priorities and due times a busy practice would have.
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `queue` (bench/<area>.py); when it runs
# as a script its folder leads sys.path, so move the folder last: `import queue` anywhere
# (llama-cpp, concurrent.futures, ...) must still mean the standard library.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import random
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import ROOT, best_of, report

from app import clock, queue
from app.identity import Session, init_vault
from app.queue.kinds import KINDS

PASSWORD = "bench-owner-password"
STATES = ["shadow"] * 2 + ["pending"] * 3 + ["failed"] + ["done"] * 10 + ["rejected"] * 2 + \
    ["snoozed"]


def fill(session: Session, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = clock.now()
    kinds = list(KINDS)
    stamp = clock.iso(now)
    rows = []
    for i in range(count):
        kind_name = kinds[i % len(kinds)]
        due = now + timedelta(days=rng.random() * 20 - 5)
        rows.append((kind_name, rng.choice(STATES), rng.choice([1, 2, 2, 3]), clock.iso(due),
                     KINDS[kind_name].role.value, f"Bench task {i}", "draft", "draft",
                     f"bench:{i}", stamp, stamp))
    with session.vault.write() as conn:
        conn.executemany(
            "INSERT INTO tasks (kind, state, priority, due_at, role, title, draft, "
            "original_draft, natural_key, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def page_time(session: Session) -> float:
    first = queue.list_tasks(session, limit=50)
    assert len(first) == 50
    return best_of(30, lambda: queue.list_tasks(session, limit=50))


def queue_pages(tmp: Path) -> None:
    times = {}
    for count in (1_000, 100_000):
        session, _ = init_vault(tmp / f"v{count}", "Bench", "owner", PASSWORD)
        try:
            fill(session, count)
            times[count] = page_time(session)
        finally:
            session.vault.close()
    ratio = times[100_000] / times[1_000]
    report("queue_page_100k_vs_1k", ratio, "<=", 2,
           f"{times[1_000] * 1000:.2f} ms at 1k, {times[100_000] * 1000:.2f} ms at 100k")


BARE = """
import time, sys
t0 = float(sys.argv[1])
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget(); w.setWindowTitle("bare"); w.show(); app.processEvents()
print(time.time() - t0)
"""

LOGIN = """
import time, sys
t0 = float(sys.argv[1])
from pathlib import Path
from PySide6.QtWidgets import QApplication
from ui.desktop.login import LoginDialog
from ui.desktop.messages import MessageBridge
from ui.desktop.style import apply_style
from ui.desktop.worker import Worker
app = QApplication([])
apply_style(app)
bridge = MessageBridge()
d = LoginDialog(Path(sys.argv[2]), Worker(bridge), bridge)
d.show(); app.processEvents()
assert d.isVisible()
print(time.time() - t0)
"""


def spawn(code: str, *args: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, str(time.time()), *args], env=env,
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def cold_start(tmp: Path) -> None:
    bare, login = [], []
    spawn(BARE)  # warm the OS file cache for both sides alike
    spawn(LOGIN, str(tmp))
    for _ in range(9):  # interleaved pairs, so machine load hits both sides alike
        bare.append(spawn(BARE))
        login.append(spawn(LOGIN, str(tmp)))
    # The median of the per-pair ratios: robust to a burst of load hitting one run.
    ratio = statistics.median(b_login / b_bare for b_bare, b_login in zip(bare, login))
    report("gui_cold_start_vs_bare", ratio, "<=", 1.5,
           f"median of 9 interleaved pairs; best {min(bare) * 1000:.0f} ms bare, "
           f"{min(login) * 1000:.0f} ms to the login window")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="offhold-bench-") as tmp:
        queue_pages(Path(tmp))
        cold_start(Path(tmp))


if __name__ == "__main__":
    main()
