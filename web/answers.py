"""Recent answers of `/api/whois`, kept so that a visitor can correct one without sending the picture again.

Each answer with faces gets a random id; the faces' evidence (crop, vector, box, what kaobot said:
`recognition.review.service.FaceEvidence`, no picture) is kept in memory under it for `ttl_s`
seconds. The store is bounded by the number of answers and by the bytes of their crops; the oldest
go first. It does not survive a restart: an expired or unknown id means "recognise the picture again".
The evidence comes from the server's own analysis, never from the client, so a suggestion cannot
carry a vector or crop the server did not compute.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from recognition.review.service import FaceEvidence

TTL_S = 900.0  # as long as "Correct a name" stays usable under a Discord answer
MAX_ANSWERS = 512
MAX_BYTES = 32 * 1024 * 1024  # of crops and vectors, all answers together


@dataclass(frozen=True)
class Answer:
    scope: str
    faces: list[FaceEvidence]
    expires: float
    size: int


class AnswerStore:
    """answer id → the faces of one answer, bounded and expiring (see the module docstring)."""

    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_answers: int = MAX_ANSWERS,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_answers, self.max_bytes, self.clock = float(ttl_s), int(max_answers), int(max_bytes), clock
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        self._expire()
        return len(self._answers)

    def put(self, scope: str, faces: list[FaceEvidence]) -> str:
        """Keep an answer's faces; returns its id."""
        self._expire()
        size = sum(len(f.crop) + f.vector.nbytes for f in faces)
        aid = secrets.token_urlsafe(12)
        self._answers[aid] = Answer(str(scope), list(faces), self.clock() + self.ttl_s, size)
        self._bytes += size
        while self._answers and (len(self._answers) > self.max_answers or self._bytes > self.max_bytes):
            self._drop(next(iter(self._answers)))
        return aid

    def face(self, scope: str, aid: str, number: int) -> FaceEvidence | None:
        """Face `number` (1-based) of answer `aid` in `scope`, or None (unknown, expired, other scope)."""
        self._expire()
        answer = self._answers.get(str(aid))
        if answer is None or answer.scope != str(scope):
            return None
        return next((f for f in answer.faces if f.number == number), None)

    def faces(self, scope: str, aid: str) -> list[FaceEvidence] | None:
        self._expire()
        answer = self._answers.get(str(aid))
        return None if answer is None or answer.scope != str(scope) else answer.faces

    def _drop(self, aid: str) -> None:
        answer = self._answers.pop(aid)
        self._bytes -= answer.size

    def _expire(self) -> None:
        now = self.clock()
        while self._answers:
            aid, answer = next(iter(self._answers.items()))
            if answer.expires > now:
                break
            self._drop(aid)
