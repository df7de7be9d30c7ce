"""Child process for the kill -9 test: commits small transactions and acknowledges each."""

import sys
from pathlib import Path

from app import audit, queue
from app.identity import Session, open_with_key
from app.vault.keys import KeyEnvelope


def main() -> None:
    directory = Path(sys.argv[1])
    key = bytes.fromhex(sys.stdin.readline().strip())
    vault = open_with_key(directory, key, KeyEnvelope.load(directory / "vault.keys"))
    session = Session.system(vault, "crash-test")
    start = int(sys.argv[2])
    for i in range(start, start + 100000):
        queue.create_task(session, "pa_followup", f"crash:{i}", f"Task {i}", draft="x" * 200)
        with vault.write() as conn:
            audit.record(vault, conn, session, "crash.tick", "tick", i)
        print(i, flush=True)  # acknowledged only after COMMIT returned


if __name__ == "__main__":
    main()
