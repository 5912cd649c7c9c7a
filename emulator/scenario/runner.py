"""Playing a scenario: build the units, schedule its events and traffic, run, and judge it."""

from __future__ import annotations

import asyncio
import gc
import contextlib
import itertools
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from emulator.config import MOBILITY_FEATURES
from emulator.licensing import utc_text
from emulator.runtime import ControlUnit, Network, VirtualClock, WallClock
from emulator.runtime.clock import Clock, percentiles_ms
from emulator.runtime.control_unit import worth_reporting
from emulator.runtime.network import split_party
from emulator.runtime.replay import HistoryReplay
from emulator.scenario.replay_input import device_parties
from emulator.runtime.traffic import CallSource
from emulator.scenario.loader import LoadedScenario, license_keys_for
from emulator.scenario.timeline import Timeline
from emulator.scenario.invariants import check as check_invariants
from emulator.scenario.judging import ExpectationResult, judge_all
from emulator.scenario.schema import Event, Replay, Traffic
from emulator.scenario.sizing import channels_for
from emulator.smdr.output import SmdrOutput
from emulator.telemetry import EventSink
from emulator.telemetry.events import fields_dict
from emulator.telemetry.event_batches import encode_lines
from emulator.rules.unit_core import APPEARANCE_POOL

WARM_UP_FRACTION = 0.05  # attempts discarded before judging blocking against Erlang-B


DEFAULT_MAX_LAG_S = 0.25
SAMPLED_UNITS = 24
TIMELINE_POINTS = 200
"""Points of the whole-run timeline (--html), at most, besides the last: each sums every unit."""
"""Units whose pools are sampled over time for --plot (a fleet's would not fit on a page)."""


@dataclass
class RunOptions:
    realtime: bool = False
    speed: float = 1.0
    seed: int | None = None
    events_path: Path | None = None
    """Where to write every event as JSON lines; Path("-") is standard output."""
    progress: Callable[[float], None] | None = None
    """Called with the fraction of the scenario done, about a hundred times a run."""
    console: Callable[[ScenarioRunner, float], None] | None = None
    """Called with the runner and the fraction done, twenty times a run (ipo-emu load's live rows)."""
    max_lag_s: float = DEFAULT_MAX_LAG_S
    """Wall clock: a callback running later than this (real seconds) means the run fell behind."""
    handle_signals: bool = False
    """End the run cleanly on SIGINT/SIGTERM, keeping the report of the time simulated so far."""
    smdr_path: Path | None = None
    """Write each unit's SMDR records here ({unit} stands for the unit's name)."""
    pins: dict[str, dict[str, int]] = field(default_factory=dict)
    """unit -> pool -> limit: what if those pools had that many instances (sizing)."""
    timeline: bool = False
    """Keep whole-run figures over time (scenario/timeline.py): for the HTML report."""
    pool_samples: bool = True
    """Keep the first units' pools over time (`samples`): for --plot and the CSV history. The
    commands turn it off when neither is asked for: it costs as much as a light run itself."""


@dataclass
class RunResult:
    data: dict
    expectations: list[ExpectationResult] = field(default_factory=list)
    replays: list = field(default_factory=list)
    """The run's HistoryReplay objects (per-call outcomes, for ipo-emu replay --csv)."""

    @property
    def passed(self) -> bool:
        """Every expectation holds and no invariant was violated."""
        return all(e.ok for e in self.expectations) and not self.data.get("invariants", {}).get("violations")


class EventsWriteError(OSError):
    """--events could not be written (the message names the file and the cause)."""


class EventsFile:
    """--events (and the service's --journal): one JSON object per line (docs/events.md).

    Events are kept as they come and written in batches of whole lines. Once a run has made
    a full batch, a writer process takes the file over (python -m
    emulator.telemetry.event_batches --write): this process only hands it the events, and
    turning them into JSON happens on another core. If a write fails (a full disk), the
    file is cut back to its last whole line and the run stops with the cause; so the file
    always ends on a complete line. Without the writer (standard output, a small run, or a
    writer that cannot start) the same encoding runs here.

    Given Event tuples, or (seq, Event) pairs for numbered events (the journal).
    """

    BATCH = 4096
    FLUSH_S = 0.25

    def __init__(self, path: Path, start: float, *, option: str = "--events", writer_process: bool = True) -> None:
        self.path = path
        self.option = option  # named in errors
        self.start = start
        self._to_stdout = str(path) == "-"
        try:
            self._fd = -1 if self._to_stdout else os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise EventsWriteError(exc.errno, f"{option} {path}: cannot open: {exc.strerror}") from None
        self._pending: list[tuple] = []
        self._written = 0  # bytes of whole lines on disk, written here
        self._flush_by = time.monotonic() + self.FLUSH_S
        self._writer: subprocess.Popen | None = None
        self._writer_wanted = writer_process and not self._to_stdout
        self.lines = 0

    def add(self, items: list[tuple]) -> None:
        """Events as the sink hands them on (in batches): kept as they came, and encoded when
        written. Written when a batch is full, or every FLUSH_S of real time (a live run's
        file grows)."""
        pending = self._pending
        pending.extend(items)
        self.lines += len(items)
        if len(pending) >= self.BATCH or time.monotonic() >= self._flush_by:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self._flush_by = time.monotonic() + self.FLUSH_S
        items, self._pending = self._pending, []
        if self._writer is None and self._writer_wanted and len(items) >= self.BATCH:
            self._start_writer()
        if self._writer is not None:
            self._hand_over(items)
            return
        data = encode_lines(self.start, items)
        if self._to_stdout:
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._written)
            raise EventsWriteError(exc.errno, f"{self.option} {self.path}: cannot write: {exc.strerror}") from None
        self._written += len(data)

    def _start_writer(self) -> None:
        try:
            self._writer = subprocess.Popen(
                [sys.executable, "-m", "emulator.telemetry.event_batches", "--write", str(self._fd), repr(self.start),
                 str(self._written)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=(self._fd,),
                bufsize=0)
        except OSError:
            self._writer_wanted = False  # written here, then

    def _hand_over(self, items: list[tuple]) -> None:
        # As plain tuples: pickling a named tuple calls back into Python for each one (4x the cost)
        plain = (list(map(tuple, items)) if len(items[0]) == 4
                 else [(seq, tuple(event)) for seq, event in items])
        frame = pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._writer.stdin.write(len(frame).to_bytes(8, "little"))
            view = memoryview(frame)
            while view:
                view = view[self._writer.stdin.write(view):]
        except BrokenPipeError:
            self._writer_failed()
        if self._writer.poll() is not None:  # it stopped: it said why
            self._writer_failed()

    def _writer_failed(self) -> None:
        writer, self._writer = self._writer, None
        writer.wait()
        status = writer.stdout.read().decode("utf-8", errors="replace").strip()
        code, _, reason = status.partition(" ")
        if not code.isdigit():
            code, reason = "5", f"the writer process ended ({status or 'no word'})"
        raise EventsWriteError(int(code), f"{self.option} {self.path}: cannot write: {reason}")

    def close(self) -> None:
        """Write what is left; the file ends on a complete line."""
        try:
            self._flush()
            if self._writer is not None:
                self._writer.stdin.close()
                if self._writer.wait() != 0:
                    self._writer_failed()
                self._writer.stdout.close()
                self._writer = None
        finally:
            if self._writer is not None:  # failed before its end: do not leave it behind
                self._writer.kill()
                self._writer.wait()
                self._writer = None
            if not self._to_stdout:
                os.close(self._fd)


class EventCounter:
    """Counts the events that expectations ask about (and keeps nothing else)."""

    def __init__(self, selectors: list[tuple[int, Any]], default_unit: str,
                 units_named: Callable[[str], list[str]] = lambda name: [name]) -> None:
        self.selectors = [(index, sel, frozenset(units_named(sel.unit or default_unit))) for index, sel in selectors]
        self.counts: Counter[int] = Counter()

    def add(self, events: list[tuple]) -> None:
        """Events as the sink hands them on: (at, unit, name, fields) tuples."""
        for _, unit, name, fields in events:
            for index, sel, units in self.selectors:
                if name != sel.name or unit not in units:
                    continue
                data = fields_dict(fields)
                if all(_same(data.get(k), v) for k, v in sel.fields.items()):
                    self.counts[index] += 1


def _same(actual: object, wanted: object) -> bool:
    return actual == wanted or (actual is not None and str(actual) == str(wanted))


class ScenarioRunner:
    def __init__(self, loaded: LoadedScenario, options: RunOptions | None = None, *,
                 serve_for: float | None = None) -> None:
        """serve_for: a service (ipo-emu serve) runs this long, or until stopped when inf,
        instead of the scenario's duration (its traffic still stops at the duration)."""
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.options = options or RunOptions()
        self.start = self.scenario.start.timestamp()
        self.serving = serve_for is not None
        self.end = self.start + (self.scenario.duration if serve_for is None else serve_for)
        self.seed = self.options.seed if self.options.seed is not None else self.scenario.seed
        self.clock: Clock = (WallClock(self.start, speed=self.options.speed) if self.options.realtime
                             else VirtualClock(self.start))
        self.sink = EventSink()
        self.events_file: EventsFile | None = None
        self.counter: EventCounter | None = None
        self.sources: list[tuple[Traffic, CallSource]] = []
        self.replays: list[HistoryReplay] = []
        self.smdr: SmdrOutput | None = None
        self.samples: dict[str, list] = {"t": []}
        self.timeline: Timeline | None = None
        self._timeline_every = 1
        self._step_marks: dict[str, dict[int, list[int]]] = {}
        """A ramp's sources: name -> step -> [attempts, rejected, busy] of all its copies when
        that step began."""
        self._call_units: dict[object, str] = {}
        self.interrupted: str | None = None  # the signal that ended the run early

    async def run(self) -> RunResult:
        await self.open()
        started = time.perf_counter()
        try:
            await self.run_clock()
        finally:
            self.mark_reached()
        return await self.close(time.perf_counter() - started)

    async def open(self, *, sample: bool = True) -> None:
        """Build and start the units, and put the scenario's events and traffic on the clock.

        sample: keep the pools' in-use over time for --plot (a service that runs until
        stopped does not, as the series would grow without bound)."""
        scenario, clock = self.scenario, self.clock
        if self.options.events_path is not None:
            self.events_file = EventsFile(self.options.events_path, self.start)
            self.sink.subscribe_batches(self.events_file.add)
        live = isinstance(clock, WallClock)
        if self.options.smdr_path is not None or (live and any(u.smdr for u in self.loaded.units)):
            self.smdr = SmdrOutput(self.loaded.units, file_pattern=self.options.smdr_path, live=live)
            self.sink.subscribe_batches(self.smdr.add_events)
            self.smdr.start()
        selectors = [(i, e.events) for i, e in enumerate(scenario.expect) if e.events is not None]
        if selectors:
            self.counter = EventCounter(selectors, scenario.unit_name(None), self.loaded.units_named)
            self.sink.subscribe_batches(self.counter.add)
        self.network = Network(self.loaded.units, clock, authority=self.loaded.authority, sink=self.sink,
                               revoked=self.loaded.revoked)
        for unit_name, pins in self.options.pins.items():
            pools = self.network[unit_name].pools()
            for pool_id, limit in pins.items():
                pools[pool_id].pin(limit)
        await self.network.start()
        gc.freeze()  # the units live as long as the run: the collector need not walk them again (run_clock)
        for index, spec in enumerate(scenario.replay):
            await self._add_replay(index, spec)
        for index, event in enumerate(scenario.events):
            clock.call_at(self.start + event.at, self._play, index, event)
        for index, traffic in enumerate(scenario.traffic):
            self._add_traffic(index, traffic)
        if sample and (self.options.pool_samples or self.options.timeline):
            interval = scenario.sample_interval or scenario.duration / 500
            if self.options.timeline:
                self.timeline = Timeline(clock.open_window() if live else None)
                self._timeline_every = max(1, math.ceil(scenario.duration / interval / TIMELINE_POINTS))
            self._sample()
            clock.call_at(self.start + interval, self._sample_every, interval)
        if self.options.progress is not None:
            clock.call_at(self.start, self._progress_every, scenario.duration / 100)
        if self.options.console is not None:
            clock.call_at(self.start + scenario.duration / 20, self._console_every, scenario.duration / 20)

    def mark_reached(self) -> None:
        """The end of the run, or where an interrupt stopped it: read before anything asks
        the wall clock the time (which would move it on to the present)."""
        self.reached = min(self.clock.now, self.end)
        self.sink.flush()
        if self.events_file is not None:
            self.events_file.close()

    async def close(self, wall: float, *, judge: bool = True) -> RunResult:
        """Stop the units and report (judging the expectations unless told not to)."""
        self.sink.flush()
        if self.samples["t"]:
            self._sample(self.reached)
        if self.smdr is not None:
            await self.smdr.close()
        await self.network.stop()
        data = self._results(wall)
        violations = check_invariants(self.network, data)
        data["invariants"] = {"units_checked": len(self.network.units), "violations": violations}
        expectations = judge_all(self.scenario, self.loaded.units_named, data) if judge else []
        data["expectations"] = [{"text": r.text, "ok": r.ok, "actual": r.actual, "expected": r.expected}
                                for r in expectations]
        data["passed"] = all(r.ok for r in expectations) and not violations
        if violations:
            data["warnings"].append(f"{len(violations)} invariant{'s' if len(violations) > 1 else ''} violated: "
                                    + "; ".join(violations[:5]) + (" …" if len(violations) > 5 else ""))
        return RunResult(data, expectations, self.replays)

    async def run_clock(self) -> None:
        """Run the clock to the end, or until SIGINT/SIGTERM (then the run so far is reported).
        A listener that fails while the sink hands events on (a full disk under --events)
        ends the run with its error, as if it had failed in the callback that made them."""
        until = None if self.end == float("inf") else self.end
        if self.sink.failure is not None:  # (while the units started)
            raise self.sink.failure
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(self.clock.run(until=until))
        self.sink.on_failure = lambda _: task.cancel()

        def interrupt(signum: signal.Signals) -> None:
            if self.interrupted is None:
                self.interrupted = signum.name
                task.cancel()  # lands between two callbacks: the state stays consistent

        signals = (signal.SIGINT, signal.SIGTERM) if self.options.handle_signals else ()
        for signum in signals:
            loop.add_signal_handler(signum, interrupt, signum)
        # What was built for the run (units, pools, sources) lives as long as it does: out of
        # the garbage collector's reach, a fleet's run does not pay for the collector walking
        # it again and again (a fifth of a run of 1,000 units; open() froze the units as soon
        # as they were built, for the same reason). Calls made during the run are collected
        # as usual; unfreeze() at the end hands it all back.
        gc.freeze()
        try:
            await task
        except asyncio.CancelledError:
            if self.sink.failure is not None:
                raise self.sink.failure from None
            if self.interrupted is None:
                raise
        finally:
            gc.unfreeze()
            self.sink.on_failure = None
            for signum in signals:
                loop.remove_signal_handler(signum)

    # -- the timeline --------------------------------------------------------------------------

    async def _play(self, index: int, event: Event) -> None:
        name = self.scenario.unit_name(event.unit)
        names = [n for n in self.loaded.units_named(name) if n in self.network.units]  # (this shard's)
        for unit_name in names:  # a fleet's event happens on every copy
            await self._play_on(index, event, unit_name, "" if unit_name == name else f"@{unit_name}")

    async def _play_on(self, index: int, event: Event, unit_name: str, suffix: str) -> None:
        """suffix: on a fleet's copy, its call ids end with @<copy> (each copy has its own calls)."""
        unit: ControlUnit = self.network[unit_name]
        action = event.action
        if action == "call":
            call = event.call
            from_unit, a = split_party(call.from_, unit_name)
            to_unit, b = split_party(call.to, unit_name)
            call_id = (call.id or f"event-{index}") + suffix
            answered = call.answer_after <= 0
            decision, where = await self.network.offer_call(from_unit, a, to_unit, b, call_id=call_id,
                                                             answered=answered, emergency=call.emergency)
            if decision.accepted:
                self._call_units[call_id] = from_unit
                if not answered:
                    self.clock.call_later(call.answer_after, self._connect, call_id, from_unit)
                if call.duration is not None:
                    self.clock.call_later(call.answer_after + call.duration, self._hang_up, call_id)
        elif action == "hang_up":
            self._hang_up(event.hang_up.id + suffix)
        elif action == "hold":
            await unit.hold(event.hold.id + suffix, event.hold.party)
        elif action == "resume":
            await unit.resume(event.resume.id + suffix)
        elif action in ("join_conference", "leave_conference"):
            spec = getattr(event, action)
            await getattr(unit, action)(spec.conference, spec.party)
        elif action in ("register", "unregister"):
            value = event.value(action)
            for ext in [value] if isinstance(value, str) else value:
                await getattr(unit, action)(ext)
        elif action in ("start_application", "stop_application"):
            spec = getattr(event, action)
            await getattr(unit, action)(spec.app, spec.user)
        elif action == "pull_feature_key":
            await unit.remove_feature_key()
        elif action == "insert_feature_key":
            await unit.insert_feature_key(event.insert_feature_key.serial)
        elif action == "install_license":
            config = unit.config  # the spec was checked when the scenario loaded
            keys = license_keys_for(event.install_license, config, self.start, self.loaded.authority,
                                    config.release_data(), config.feature_key)
            for key in keys:
                await unit.install_license(key)

    async def _connect(self, call_id: object, unit: str) -> None:
        if call_id in self.network[unit].core.calls.active:
            await self.network.connect(call_id, unit)

    def _hang_up(self, call_id: object) -> None:
        unit = self._call_units.pop(call_id, None)
        if unit is not None:
            self.network.hang_up_now(call_id, unit)

    # -- traffic ---------------------------------------------------------------------------------

    def _add_traffic(self, index: int, traffic: Traffic) -> None:
        name = self.scenario.unit_name(traffic.unit)
        fleet = name in self.loaded.copies
        for unit_name in self.loaded.units_named(name):  # on a fleet: a source of its own on every copy
            if unit_name not in self.network.units:
                continue  # another shard's
            ordinal, size = self.loaded.ordinal(unit_name)
            # drawn from the seed, the source and the copy's number: copy 7 makes the same calls in
            # any fleet, and however the fleet is split up
            rng_key = f"{self.seed}/{traffic.name}" + (f"/{ordinal}" if fleet else "")
            # call ids: source i from (i + 1) x 10^12, each copy its own share of that block (5 x 10^9
            # ids a copy in a fleet of 200), so a call id names one call in the whole run (events,
            # SMDR and MQTT key by it)
            id_offset = (index + 1) * 10**12 + (ordinal - 1) * (10**12 // size)
            self._add_source(traffic, unit_name, rng_key, id_offset)

    def _add_source(self, traffic: Traffic, unit_name: str, seed: str, id_offset: int) -> None:
        mixes = traffic.mixes()
        parties = [p for mix in mixes for p, _ in mix]
        offer, hang_up, connect = self.network.call_functions(unit_name, parties)
        steps = [(self.start + offset, rate) for offset, rate in traffic.rate_steps()]
        holding = traffic.holding
        source = CallSource(
            self.clock, offer, hang_up, from_mix=mixes[0], to_mix=mixes[1], rate_steps=steps,
            mean_hold_s=holding.mean, holding=holding.distribution, hold_stdev_s=holding.stdev,
            stop_at=self.start + (traffic.stop if traffic.stop is not None else self.scenario.duration),
            max_calls=traffic.max_calls, connect=connect if traffic.answer_after > 0 else None,
            answer_after_s=traffic.answer_after, seed=seed,
            id_offset=id_offset, name=traffic.name, calls=self.network.anonymous_calls(unit_name, parties),
            on_decided=self.clock.record_decided if isinstance(self.clock, WallClock) else None,
            observe_until=self.start + self.scenario.duration if self.serving else self.end)
        source.start()
        self.sources.append((traffic, source))
        for k, (when, _) in enumerate(steps[1:], start=1):  # a ramp: its figures per step
            if when < min(source.stop_at, self.end):
                self.clock.call_at(when, self._mark_step, traffic.name, k, source)

    def _sources_by_spec(self) -> list[tuple[Traffic, list[CallSource]]]:
        """Each traffic source of the file with its sources: one, or one per copy of a fleet."""
        grouped: dict[int, tuple[Traffic, list[CallSource]]] = {}
        for spec, source in self.sources:
            grouped.setdefault(id(spec), (spec, []))[1].append(source)
        return list(grouped.values())

    # -- replaying recorded calls --------------------------------------------------------------

    async def _add_replay(self, index: int, spec: Replay) -> None:
        unit_name = self.scenario.unit_name(spec.unit)
        unit = self.network[unit_name]
        if spec.register_phones:  # they were registered when the calls were made
            for user in unit.config.users:
                party = unit.core.parties[user.extension]
                if party.needs_registration and not party.registered:
                    await unit.register(user.extension)
        history = self.loaded.histories[index]
        replay = HistoryReplay(self.clock, self.network, unit_name, history,
                               device_parties(history, spec, unit.config), offset_s=0.0, stop_at=self.end,
                               id_offset=(1000 + index) * 10**12, name=spec.file)
        replay.start()
        self.replays.append(replay)

    def _replay_results(self) -> list[dict]:
        out = []
        for spec, replay in zip(self.scenario.replay, self.replays, strict=True):
            history = replay.history
            refusals = replay.refusals()
            listed = []
            for position in replay.order:
                index = replay.refusal_of[position]
                if index >= 0:
                    listed.append(call_row(history, position, replay))
                    if len(listed) >= REFUSED_CALLS_LISTED:
                        break
            out.append({
                "file": spec.file, "unit": self.scenario.unit_name(spec.unit),
                "lines_read": history.lines_read, "records": history.records, "header_lines": history.headers,
                "blank_lines": history.blank, "malformed_lines": history.malformed,
                "malformed": [{"line": line, "error": error} for line, error in history.errors],
                "calls": history.calls, "multi_segment_calls": sum(1 for n in history.segment_count if n > 1),
                "incomplete_calls": history.incomplete,
                "offered": replay.admitted + replay.refused, "admitted": replay.admitted,
                "refused": replay.refused, "cut_short": replay.cut_short(), "skipped": replay.skipped,
                "not_started": replay.not_started(), "up_at_end": replay.up,
                "rejections": [{"reason": r, "detail": d, "count": n} for (r, d), n in sorted(refusals.items())],
                "skipped_devices": [{"device": d, "calls": n} for d, n in replay.skipped_devices.most_common()],
                "refused_calls": listed,
                "refused_calls_listed": len(listed),
            })
        return out

    # -- sampling and progress ---------------------------------------------------------------------

    def _mark_step(self, name: str, step: int, source: CallSource) -> None:
        mark = self._step_marks.setdefault(name, {}).setdefault(step, [0, 0, 0])
        mark[0] += source.attempts
        mark[1] += source.rejected
        mark[2] += source.busy

    def _ramp_steps(self, spec: Traffic, sources: list[CallSource], reached: float) -> list[dict]:
        """A ramp's figures step by step, up to where the run reached (per copy: the rate)."""
        rates = spec.rate_steps()
        if len(rates) < 2:
            return []
        stop = spec.stop if spec.stop is not None else self.scenario.duration
        bounds = [offset for offset, _ in rates] + [stop]
        marks = self._step_marks.get(spec.name, {})
        totals = [sum(x.attempts for x in sources), sum(x.rejected for x in sources), sum(x.busy for x in sources)]
        reached_offset = reached - self.start
        steps = []
        for k, (offset, rate) in enumerate(rates):
            if offset >= min(reached_offset, stop):
                break
            begin = marks.get(k, [0, 0, 0]) if k else [0, 0, 0]
            end = marks.get(k + 1, totals) if k + 1 < len(rates) else totals
            steps.append(step_row(k + 1, offset, min(bounds[k + 1], reached_offset), rate * 3600.0,
                                  rate * spec.holding.mean, *(e - b for e, b in zip(end, begin, strict=True))))
        return steps

    def _sample(self, at: float | None = None) -> None:
        """In use and limit of every pool, for the plot (the first SAMPLED_UNITS units)."""
        t = (self.clock.time() if at is None else at) - self.start
        if self.timeline is not None and (at is not None or len(self.samples["t"]) % self._timeline_every == 0):
            self.timeline.sample(t, list(self.network.units.values()))
        self.samples["t"].append(round(t, 6))
        if not self.options.pool_samples:
            return
        for name, unit in itertools.islice(self.network.units.items(), SAMPLED_UNITS):
            for pool_id, pool in unit.pools().items():
                series = self.samples.setdefault(f"{name}/{pool_id}", [[], []])
                series[0].append(pool.in_use)
                series[1].append(pool.effective)

    def _sample_every(self, interval: float) -> None:
        self._sample()
        if self.clock.time() + interval <= self.end:
            self.clock.call_later(interval, self._sample_every, interval)

    def _console_every(self, interval: float) -> None:
        self.options.console(self, min(1.0, (self.clock.time() - self.start) / self.scenario.duration))
        if self.clock.time() + interval <= self.end + 1e-9:
            self.clock.call_later(interval, self._console_every, interval)

    def _progress_every(self, interval: float) -> None:
        self.options.progress(min(1.0, (self.clock.time() - self.start) / self.scenario.duration))
        if self.clock.time() + interval <= self.end:
            self.clock.call_later(interval, self._progress_every, interval)

    # -- results -----------------------------------------------------------------------------------

    def _results(self, wall: float) -> dict:
        scenario = self.scenario
        grade = scenario.sizing.grade_of_service
        units = []
        reached = self.reached
        span = max(1e-9, reached - self.start)
        for name, unit in self.network.units.items():
            core = unit.core
            pools, extensions = [], []
            for pool_id, pool in unit.pools().items():
                if pool_id.startswith(APPEARANCE_POOL):  # call appearances: busy users, reported apart
                    if pool.peak or pool.refusals:
                        extensions.append({"extension": pool_id[4:], "appearances": pool.effective,
                                           "peak": pool.peak, "in_use_at_end": pool.in_use,
                                           "mean_in_use": pool.area_until(reached) / span,
                                           "busy": sum(pool.refusals.values())})
                    continue
                if not worth_reporting(pool_id, pool):
                    continue
                pools.append({
                    "pool": pool_id, "licensed": getattr(pool, "licensed", None), "free": getattr(pool, "free", None),
                    "capacity": getattr(pool, "capacity", None), "effective": pool.effective, "peak": pool.peak,
                    "in_use_at_end": pool.in_use, "mean_in_use": pool.area_until(reached) / span,
                    "refused": {reason.value: n for reason, n in pool.refusals.items()},
                })
            configured = core.configured
            medium, native = unit.config.feature_key_medium()
            specs = core.release.licenses_by_id()
            units.append({
                "name": name, "model": core.model.name, "release": core.release.release,
                "feature_key": unit.config.feature_key, "feature_key_state": core.engine.feature_key_state,
                "feature_key_medium": medium,
                "native_feature_keys": native,
                "serial": core.engine.feature_key_serial,
                "licenses": [{"key": lic.key, "feature": lic.feature_id, "instances": lic.instances,
                              "status": lic.status.value, "detail": lic.detail,
                              "enforced": _enforced(specs, lic.feature_id),
                              "expires_at": utc_text(lic.expires_at) if lic.expires_at else None}
                             for lic in core.engine.licenses()],
                "pools": pools,
                "extensions": extensions,
                "calls": {"admitted": unit.stats.calls_admitted, "rejected": unit.stats.calls_rejected,
                          "active_at_end": core.calls.active_count(),
                          "rejections": [{"reason": r, "detail": d, "count": n}
                                         for (r, d), n in sorted(unit.stats.call_rejections.items())]},
                "decisions": [{"kind": k, "outcome": o, "reason": r or None, "count": n}
                              for (k, o, r), n in sorted(unit.stats.decisions.items())],
                "features": {
                    "voicemail_pro_server": core.voicemail_mode == "pro", "voicemail": core.voicemail_mode,
                    "delta_server": core.delta_server_running,
                    "contactstore": configured.contactstore_running,
                    "expansion_modules": configured.expansion_modules_running,
                    "mobility_users": sorted(configured.licensed["mobility_features"]),
                    "mobility_running": {f: sum(1 for u in configured.licensed["mobility_features"]
                                                if f in configured.mobility_features[u])
                                         for f in MOBILITY_FEATURES},
                    "mobility_not_supported": [f"{u}: {f}" for u, f in configured.mobility_unsupported],
                    "mobility_unlicensed": sorted(set(configured.mobility_users) - configured.licensed["mobility_features"]),
                    "ccc_agents": sorted(configured.licensed["ccc_agent"]),
                    "ccc_agents_unlicensed": sorted(set(configured.agents) - configured.licensed["ccc_agent"]),
                    "registered": core.registrar.registered(),
                    "unlicensed_phones": [p.name for p in core.registrar.unlicensed],
                },
            })
        traffic = []
        for spec, sources in self._sources_by_spec():
            begin = self.start + spec.start
            copies = len(sources)  # a fleet's traffic: a source per copy; counts add up, erlangs are per copy
            rejections: Counter[tuple[str, str]] = Counter()
            for x in sources:
                rejections.update(x.rejections)
            parts = [x.blocking_after(WARM_UP_FRACTION) for x in sources]  # (ratio, attempts) per copy
            traffic.append(traffic_row(
                spec.name, scenario.unit_name(spec.unit), copies=copies, all_refused=spec.all_refused, grade=grade,
                attempts=sum(x.attempts for x in sources), admitted=sum(x.admitted for x in sources),
                rejected=sum(x.rejected for x in sources), busy=sum(x.busy for x in sources), rejections=rejections,
                offered_erlangs=sum(x.offered_erlangs(begin, reached) for x in sources) / copies,
                busy_erlangs=sum(x.busy_erlangs(begin, reached) for x in sources) / copies,
                carried_erlangs=None if self.interrupted else
                sum(x.carried_s for x in sources) / copies / max(1e-9, reached - begin),
                warm_up_blocked=round(sum(ratio * used for ratio, used in parts)),
                warm_up_counted=sum(used for _, used in parts), steps=self._ramp_steps(spec, sources, reached)))
        lag = self.clock.lateness_summary() if isinstance(self.clock, WallClock) else None
        admissions = None
        if isinstance(self.clock, WallClock):
            admissions = {"calls": self.clock.admissions.get_total_count(), **percentiles_ms(self.clock.admissions),
                          "hdr": self.clock.admissions.encode().decode("ascii"),
                          "lateness_hdr": self.clock.lateness.encode().decode("ascii")}
        kept_up = lag is None or lag["max_ms"] <= self.options.max_lag_s * 1000
        warnings = []
        if self.interrupted and self.serving:
            warnings.append(f"served for {reached - self.start:g} s of simulated time, stopped by {self.interrupted}: "
                            "calls still up are counted as they stood")
        elif self.interrupted:
            warnings.append(f"interrupted by {self.interrupted} after {reached - self.start:g} s of "
                            f"{scenario.duration:g} s: every figure covers that part only")
        if not kept_up:
            warnings.append(f"the wall clock fell behind: callbacks ran up to {lag['max_ms']:.1f} ms late "
                            f"(p99 {lag['p99_ms']:.1f} ms; limit {self.options.max_lag_s * 1000:g} ms). Decisions "
                            f"are those of the same events in time order, but the run did not keep real time")
        warnings += self._smdr_warnings()
        warnings += traffic_warnings(traffic)
        return {
            "warnings": warnings,
            "development_issuer_secret": self.loaded.authority.is_development,
            "interrupted": self.interrupted,
            "simulated_s": reached - self.start,
            "clock_lag": lag and {**lag, "limit_ms": self.options.max_lag_s * 1000},
            "admission_latency": admissions,
            "kept_up": kept_up,
            "scenario": scenario.name, "description": scenario.description, "file": str(self.loaded.path),
            "start": scenario.start.isoformat(), "duration_s": scenario.duration, "seed": self.seed,
            "clock": f"wall x{self.options.speed:g}" if self.options.realtime else "virtual",
            "wall_s": wall, "callbacks": self.clock.callbacks_run,
            "units": units, "traffic": traffic,
            "events_written": self.events_file.lines if self.events_file else None,
            "expectation_counts": {str(i): n for i, n in (self.counter.counts.items() if self.counter else ())},
            "replay": self._replay_results(),
            "fleets": {name: {"copies": len(names), "first": names[0], "last": names[-1]}
                       for name, names in self.loaded.copies.items()},
            "smdr": self.smdr.summary() if self.smdr is not None else None,
            "samples": self.samples,
            "timeline": self.timeline.as_dict() if self.timeline is not None else None,
        }

    def _smdr_warnings(self) -> list[str]:
        out = []
        if not isinstance(self.clock, WallClock):
            out += [f"unit {u.name}: its SMDR feed to {u.smdr.host}:{u.smdr.port} runs on the wall clock only "
                    "(run --realtime, serve); --smdr FILE keeps a virtual run's records" for u in self.loaded.units
                    if u.smdr is not None]
        if self.smdr is not None:
            for link in self.smdr.links.values():
                if link.overwritten:
                    out.append(f"unit {link.unit}: {link.overwritten:,} SMDR records were overwritten while "
                               f"{link.destination} could not be reached (buffer {link.capacity:,})")
                if link.buffer:
                    out.append(f"unit {link.unit}: {len(link.buffer):,} SMDR records were never sent to "
                               f"{link.destination} ({link.last_error or 'not connected'})")
        return out

REFUSED_CALLS_LISTED = 1000
"""Refused calls listed in a report (every call is in ipo-emu replay --csv)."""


def call_row(history, call: int, replay: HistoryReplay) -> dict:
    """One replayed call as the report and the per-call CSV give it."""
    from emulator.runtime.replay import OUTCOME_NAMES
    from emulator.smdr.record import format_time

    first = history.first_segment[call]
    index = replay.refusal_of[call]
    reason, detail, segment = replay.refusal_kinds[index] if index >= 0 else ("", "", 0)
    return {"line": history.lines[call], "call_id": history.call_ids[call], "start": format_time(history.starts[call]),
            "duration_s": history.duration(call), "segments": history.segment_count[call],
            "caller": history.devices[history.callers[first]], "called": history.devices[history.called[first]],
            "outcome": OUTCOME_NAMES[replay.outcomes[call]], "reason": reason or None, "detail": detail or None,
            "refused_at_segment": segment or None}


def traffic_row(name: str, unit: str, *, copies: int, attempts: int, admitted: int, rejected: int, busy: int,
                rejections: Counter, offered_erlangs: float, busy_erlangs: float, carried_erlangs: float | None,
                grade: float, all_refused: bool, warm_up_blocked: int, warm_up_counted: int,
                steps: list[dict] | None = None) -> dict:
    """A traffic source's row of the report (docs/scenarios.md "The report"), from its totals:
    one process's sources, or the shards' rows added up (shards.py)."""
    return {"name": name, "unit": unit, "copies": copies, "attempts": attempts, "admitted": admitted,
            "rejected": rejected, "busy": busy, "blocked": rejected - busy,
            "blocking": (rejected - busy) / (attempts - busy) if attempts > busy else 0.0,
            "busy_ratio": busy / attempts if attempts else 0.0,
            "offered_erlangs": offered_erlangs, "busy_erlangs": busy_erlangs, "carried_erlangs": carried_erlangs,
            "rejections": [{"reason": r, "detail": d, "count": c} for (r, d), c in sorted(rejections.items())],
            "sizing": {"grade_of_service": grade, "channels_needed": channels_needed(busy_erlangs, grade)},
            "all_refused_intended": all_refused,
            "after_warm_up": {"blocked": warm_up_blocked, "counted": warm_up_counted,
                              "warm_up_share": WARM_UP_FRACTION},
            "steps": steps or []}


def step_row(step: int, from_s: float, to_s: float, calls_per_hour: float, offered_erlangs: float,
             attempts: int, rejected: int, busy: int) -> dict:
    """One step of a ramp (counts over every copy; the rate and load are per copy)."""
    return {"step": step, "from_s": from_s, "to_s": to_s, "calls_per_hour": calls_per_hour,
            "offered_erlangs": offered_erlangs, "attempts": attempts, "admitted": attempts - rejected,
            "rejected": rejected, "busy": busy, "blocked": rejected - busy,
            "blocking": (rejected - busy) / (attempts - busy) if attempts > busy else 0.0}


def fleet_of_copies(data: dict) -> dict[str, str]:
    """A report's fleet copies -> their fleet (copies are <fleet>-<n>, n zero-padded to the count's width)."""
    out = {}
    for fleet, info in (data.get("fleets") or {}).items():
        width = len(str(info["copies"]))
        out.update({f"{fleet}-{n:0{width}d}": fleet for n in range(1, info["copies"] + 1)})
    return out


def traffic_warnings(traffic: list[dict]) -> list[str]:
    """A source all of whose attempts were refused, unless it says that is the point (and the reverse)."""
    return ([f"traffic {t['name']}: all {t['attempts']:,} attempts were refused "
             f"({refusals_text(t['rejections'])}); mark it all_refused: true if that is the point"
             for t in traffic if t["attempts"] and not t["admitted"] and not t["all_refused_intended"]]
            + [f"traffic {t['name']}: marked all_refused but {t['admitted']:,} of {t['attempts']:,} "
               f"attempts were admitted" for t in traffic if t["all_refused_intended"] and t["admitted"]])


def refusals_text(rejections: list[dict]) -> str:
    """"reason/detail count, ..." for the report and its warnings ("-" when there are none)."""
    return ", ".join(f"{r['reason']}{'/' + r['detail'] if r['detail'] else ''} {r['count']:,}"
                     for r in rejections) or "-"


def channels_needed(erlangs: float, grade: float) -> int | None:
    """Erlang-B sizing of a traffic source; None when beyond what sizing computes (MAX_CHANNELS)."""
    if not erlangs:
        return 0
    try:
        return channels_for(erlangs, grade)
    except ValueError:
        return None


def _enforced(specs: dict, feature_id: str | None) -> bool:
    """Whether a runtime rule uses this license (False: catalogued, not enforced)."""
    spec = specs.get(feature_id or "")
    return spec is None or spec.enforced
