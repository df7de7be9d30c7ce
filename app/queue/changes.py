"""What an operation changed, so the faces refresh only that: the tasks, their kinds and
their patients. Queue operations return the tasks they touched; `Changes.of` turns any
such result into a Changes. `EVERYTHING` stands for changes whose extent is unknown (made
by another process, seen through the audit head)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain import Task


@dataclass(frozen=True)
class Changes:
    task_ids: frozenset[int] = frozenset()
    kinds: frozenset[str] = frozenset()
    patient_ids: frozenset[int] = frozenset()
    everything: bool = False

    @classmethod
    def of_tasks(cls, tasks: Iterable[Task]) -> Changes:
        items = list(tasks)
        return cls(task_ids=frozenset(t.id for t in items),
                   kinds=frozenset(t.kind for t in items),
                   patient_ids=frozenset(t.patient_id for t in items
                                         if t.patient_id is not None))

    @classmethod
    def of(cls, result: object) -> Changes:
        """From an operation's result: a Changes, a Task, or a list/tuple of Tasks;
        anything else changed nothing the queue tracks."""
        if isinstance(result, Changes):
            return result
        if isinstance(result, Task):
            return cls.of_tasks([result])
        if isinstance(result, (list, tuple)):
            return cls.of_tasks(t for t in result if isinstance(t, Task))
        return NOTHING

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.task_ids | other.task_ids, self.kinds | other.kinds,
                       self.patient_ids | other.patient_ids,
                       self.everything or other.everything)

    @property
    def empty(self) -> bool:
        return not (self.everything or self.task_ids or self.kinds or self.patient_ids)

    def touches_kinds(self, kinds: Iterable[str]) -> bool:
        return self.everything or not self.kinds.isdisjoint(kinds)

    def touches_patient(self, patient_id: int | None) -> bool:
        return patient_id is not None and (self.everything or patient_id in self.patient_ids)


NOTHING = Changes()
EVERYTHING = Changes(everything=True)
