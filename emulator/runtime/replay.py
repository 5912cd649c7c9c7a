"""Replaying a site's call history on the clock: each call offered again when it started, to
the parties of a license plan, and what the plan would have done with it kept per call.

The history (emulator/smdr/history.py) gives each call's start and its segments in turn;
a segment rings (the call is offered unanswered), is answered, and ends, and the next
segment is offered at that same instant, so no other call can take what the first one
held in between. At equal times, ends come before answers, and answers before new calls:
SMDR counts whole seconds, and a call ending at 10:00:05 frees its channel for one
starting then, as on the real unit.

The replay keeps its own queue of ends and answers and asks the clock for one callback at
a time (the next due), so a month of calls costs a heap entry per call up, not a timer
per event. Calls go through the network like any others: the same admission, events and
counters.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Sequence

from emulator.runtime.clock import Clock
from emulator.runtime.network import Network
from emulator.smdr.history import CallHistory

INF = float("inf")
ADMITTED, REFUSED, SKIPPED, NOT_PLAYED = 0, 1, 2, 3
OUTCOME_NAMES = ("admitted", "refused", "skipped", "not_played")
_END, _ANSWER = 0, 1


class HistoryReplay:
    def __init__(self, clock: Clock, network: Network, unit: str, history: CallHistory,
                 parties: Sequence[str | None], *, offset_s: float, stop_at: float = INF, id_offset: int = 0,
                 name: str = "replay") -> None:
        """parties: the plan's party for each of the history's devices (None: not in the plan,
        and a call naming it is skipped). offset_s: added to each recorded start to give its
        time on the clock (the run starts at the first call)."""
        self.clock, self.network, self.unit = clock, network, unit
        self.history = history
        self.parties = list(parties)
        self.offset = offset_s
        self.stop_at = stop_at
        self.id_offset = id_offset
        self.name = name
        self.order = history.order()
        self.outcomes = array("b", [NOT_PLAYED]) * history.calls
        self.refusal_of = array("i", [-1]) * history.calls
        """Index into refusal_kinds of each refused call."""
        self.refusal_kinds: list[tuple[str, str, int]] = []
        """(reason, detail, segment) of refusals; segment 1 is the call's first."""
        self._kind_index: dict[tuple[str, str, int], int] = {}
        self.skipped_devices: Counter[str] = Counter()
        self.admitted = self.refused = self.skipped = 0
        self.up = 0
        """Admitted calls not yet ended (at the end of a run: still up when it stopped)."""
        self._next = 0  # position in self.order of the next call to start
        self._queue: list[tuple[float, int, int, int]] = []  # (time, _END or _ANSWER, call, segment)
        self._handle = None

    def start(self) -> None:
        self._schedule()

    # -- the clock's callback --------------------------------------------------------------

    def _schedule(self) -> None:
        due = self._due()
        self._handle = None if due == INF else self.clock.call_at(due, self._step)

    def _due(self) -> float:
        queue = self._queue
        arrival = (self.history.starts[self.order[self._next]] + self.offset
                   if self._next < len(self.order) else INF)
        if arrival > self.stop_at:
            arrival = INF
        return min(queue[0][0], arrival) if queue else arrival

    def _step(self) -> None:
        now = self.clock.time()
        queue, order, starts = self._queue, self.order, self.history.starts
        offset, calls = self.offset, len(self.order)
        pop = heapq.heappop
        while True:
            arrival = starts[order[self._next]] + offset if self._next < calls else INF
            if arrival > self.stop_at:
                arrival = INF
            if queue and queue[0][0] <= arrival and queue[0][0] <= now:
                at, kind, call, segment = pop(queue)
                if kind == _END:
                    self._segment_ended(at, call, segment)
                else:
                    self.network.connect_now(self.id_offset + call, self.unit)
            elif arrival <= now:
                self._next += 1
                self._arrive(arrival, order[self._next - 1])
            else:
                break
        self._schedule()

    # -- calls -------------------------------------------------------------------------------

    def _arrive(self, at: float, call: int) -> None:
        history, parties = self.history, self.parties
        for segment in history.segments(call):
            for device in (history.callers[segment], history.called[segment]):
                if parties[device] is None:
                    self.outcomes[call] = SKIPPED
                    self.skipped += 1
                    self.skipped_devices[history.devices[device]] += 1
                    return
            if parties[history.callers[segment]] == parties[history.called[segment]]:
                self.outcomes[call] = SKIPPED
                self.skipped += 1
                self.skipped_devices[f"{history.devices[history.callers[segment]]} (both parties)"] += 1
                return
        self._offer(at, call, history.first_segment[call])

    def _offer(self, at: float, call: int, segment: int) -> None:
        history = self.history
        ring, talk = history.rings[segment], history.talks[segment]
        call_id = self.id_offset + call
        decision, _ = self.network.offer_call_now(
            call_id, self.unit, self.parties[history.callers[segment]], self.unit,
            self.parties[history.called[segment]], answered=ring == 0)
        nth = segment - history.first_segment[call] + 1
        if not decision.accepted:
            if nth > 1:  # admitted at first, refused on the way: the call is cut short
                self.admitted -= 1
                self.up -= 1
            self.outcomes[call] = REFUSED
            self.refused += 1
            kind = (decision.reason.value, decision.detail, nth)
            index = self._kind_index.get(kind)
            if index is None:
                index = self._kind_index[kind] = len(self.refusal_kinds)
                self.refusal_kinds.append(kind)
            self.refusal_of[call] = index
            return
        if nth == 1:
            self.outcomes[call] = ADMITTED
            self.admitted += 1
            self.up += 1
        queue = self._queue
        if ring and talk:
            heapq.heappush(queue, (at + ring, _ANSWER, call, segment))
        heapq.heappush(queue, (at + ring + talk, _END, call, segment))

    def _segment_ended(self, at: float, call: int, segment: int) -> None:
        self.network.hang_up_now(self.id_offset + call, self.unit)
        history = self.history
        if segment + 1 < history.first_segment[call] + history.segment_count[call]:
            self._offer(at, call, segment + 1)  # the call goes on, to its next party
        else:
            self.up -= 1

    # -- what it found ---------------------------------------------------------------------

    def refusals(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter()
        kinds = self.refusal_kinds
        for index in self.refusal_of:
            if index >= 0:
                reason, detail, _ = kinds[index]
                counts[(reason, detail)] += 1
        return counts

    def cut_short(self) -> int:
        """Calls refused at a later segment (e.g. no voicemail port when sent to voicemail)."""
        kinds = self.refusal_kinds
        return sum(1 for index in self.refusal_of if index >= 0 and kinds[index][2] > 1)

    def not_started(self) -> int:
        return len(self.order) - self._next
