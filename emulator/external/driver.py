"""`ipo-emu load --target mqtt://...`: drive served units through the broker, time every
round trip, and judge every decision against the state the units publish.

Calls are offered at their intended times (emulator/external/schedule.py); each admitted call
is hung up when its holding time is over. A command's latency runs from when it was due to
when its reply arrived, so a sender or broker that falls behind shows in the figures instead
of hiding the calls it delayed. Replies come back on one topic of our own (`reply_to`, which
both MQTT versions carry), in the order the unit decided them, and each unit's `licenses`
state is followed as it is published; emulator/external/decision_check.py judges both.

When sending is over (`--for`, `--calls`, or SIGINT/SIGTERM), the calls still up are hung up,
the last replies are awaited, and each unit's state after our last decision is awaited, so
the figures cover whole calls and the last published state can be compared with ours.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from emulator.external.decision_check import UnitCheck, parse_sample
from emulator.reasons import Reason
from emulator.external.schedule import CommandSchedule, PlannedCall, routes_of
from emulator.runtime.clock import VirtualClock, percentiles_ms
from emulator.runtime.network import Network
from emulator.scenario.loader import LoadedScenario
from emulator.service.broker_address import BrokerAddress
from emulator.service.mqtt_link import MqttLink
from emulator.service.outbox import Outbox
from emulator.service.topics import Topics

CONNECT_WAIT_S = 5.0
STATE_WAIT_S = 3.0
"""How long to wait for the units' retained state at the start, and for their state after our
last decision at the end (a unit publishes it within --state-interval, 250 ms by default)."""
BASELINE_QUIET_S = 0.3
"""Retained state is read for this long before the first command: the latest is the baseline."""
LOST_AFTER_S = 5.0
"""A command without a reply after this long is counted lost."""


class TargetError(RuntimeError):
    """The broker or the units cannot be driven (one line for the user)."""


@dataclass
class TargetOptions:
    address: BrokerAddress
    prefix: str = "ipo"
    rate_per_s: float | None = None
    """Offers a second; None: the scenario's traffic rate times speed."""
    for_s: float = 30.0
    max_calls: int | None = None
    speed: float = 1.0
    seed: int = 1
    units: list[str] = field(default_factory=list)
    mqtt_version: str = "auto"
    max_lag_s: float = 0.25
    console: Callable[[str], None] | None = None
    """Live rows (one a second) go here."""
    handle_signals: bool = True


@dataclass(slots=True)
class _Sent:
    verb: str
    due: float
    sent_at: float
    unit: str
    call: PlannedCall | None
    timed: bool
    """Counted in the latency figures (not the hang-ups of the calls still up at the end, sent
    all at once)."""


class ExternalLoad:
    def __init__(self, loaded: LoadedScenario, options: TargetOptions) -> None:
        self.loaded = loaded
        self.options = options
        self.topics = Topics(options.prefix)
        routes = routes_of(loaded, options.units, seed=options.seed)
        self.units = sorted({r.unit for r in routes}, key=loaded.unit_order.index)
        scenario_rate = sum(r.rate for r in routes)
        self.rate = options.rate_per_s if options.rate_per_s is not None else scenario_rate * options.speed
        self.schedule = CommandSchedule(routes, self.rate, seed=options.seed, speed=options.speed,
                                        until_s=options.for_s, max_calls=options.max_calls,
                                        id_prefix=f"load{os.getpid()}")
        self._driven = set(self.units)
        self._network = Network([u for u in loaded.units if u.name in self._driven], VirtualClock(0.0),
                                authority=loaded.authority)
        self.reply_topic = f"ipo-emu-load/{os.getpid()}-{int(time.time() * 1000) % 10**9}/replies"
        self.outbox = Outbox(self.topics, 0.0, max_replies=10**7)
        self.link: MqttLink | None = None
        self.checks: dict[str, UnitCheck] = {}
        self._baseline: dict[str, bytes] = {}
        self._status: dict[str, dict] = {}
        self._sent: dict[int, _Sent] = {}
        self._ids = 0
        self._hang_ups: list[tuple[float, int, PlannedCall]] = []
        self._tie = itertools.count()  # hang-ups due at the same time go in the order they were set
        self._up: dict[str, PlannedCall] = {}
        self.counters: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        """(source, outcome, reason/detail) of every offer's reply."""
        self.errors: Counter[str] = Counter()
        self._refusals: Counter[tuple[str, str, str]] = Counter()
        """(unit, reason, detail) -> our calls it refused."""
        self.findings: list[str] = []
        from hdrh.histogram import HdrHistogram

        self.offer_latency = HdrHistogram(1, 3600 * 1_000_000, 3)
        self.hang_up_latency = HdrHistogram(1, 3600 * 1_000_000, 3)
        self.send_lag = HdrHistogram(1, 3600 * 1_000_000, 3)
        self._window = HdrHistogram(1, 3600 * 1_000_000, 3)
        """Offer round trips since the last timeline point."""
        self.timeline: dict = {"t": [], "offered": [], "refused": {}, "pools": {}, "latency_hdr": []}
        """Every second: replies so far, refusals by reason so far, pools summed over the units'
        latest published states, and the offer round trips of the second."""
        self._latest: dict = {}
        self._last_sent = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.stopped_by: str | None = None
        self.sending_s = 0.0
        self._draining = False
        """Sending is over: a call admitted from now on is hung up at once."""
        self._outstanding: Counter[str] = Counter()
        """unit -> our commands to it still without a reply."""
        self._last_seq: dict[str, int | None] = {}
        """unit -> the number of its last reply applied (None: apply replies as they arrive)."""
        self._in_order: defaultdict[str, list] = defaultdict(list)
        """unit -> replies that arrived ahead of their turn (a heap by number)."""

    # -- the run ---------------------------------------------------------------------------------

    async def run(self) -> dict:
        loop = asyncio.get_running_loop()
        subscriptions = [self.reply_topic, f"{self.options.prefix}/+/licenses", f"{self.options.prefix}/+/status"]
        self.link = MqttLink(self.options.address, self.outbox, client_id=f"ipo-emu-load-{os.getpid()}",
                             subscriptions=subscriptions, on_message=self._received, version=self.options.mqtt_version)
        link_task = asyncio.ensure_future(self.link.run())
        signals = []
        if self.options.handle_signals:
            for signum, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
                loop.add_signal_handler(signum, self._interrupt, name)
                signals.append(signum)
        try:
            await self._connected()
            await self._take_baseline()
            gc.collect()
            gc.freeze()  # the units built for their call plans never die: no collection walks them
            started = loop.time()
            self._tick_point(started)
            ticker = asyncio.ensure_future(self._every_second(started))
            watchdog = asyncio.ensure_future(self._watch_for_lost())
            try:
                await self._send_all(started)
                self.sending_s = loop.time() - started
                await self._hang_up_the_rest()
                await self._await_replies()
                await self._await_settled()
            finally:
                watchdog.cancel()
                ticker.cancel()
                self._tick_point(started)
            return self._report()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            link_task.cancel()
            await asyncio.gather(link_task, return_exceptions=True)

    def _interrupt(self, name: str) -> None:
        if self.stopped_by is None:
            self.stopped_by = name
        self._stop.set()
        self._wake.set()

    async def _connected(self) -> None:
        link = self.link
        try:
            await asyncio.wait_for(link.connected.wait(), CONNECT_WAIT_S)
        except TimeoutError:
            raise TargetError(f"--target {self.options.address.url}: cannot connect"
                              f"{': ' + link.last_error if link.last_error else ''}") from None

    async def _take_baseline(self) -> None:
        """Every unit's retained state, the latest after a quiet moment: the point from which
        its pools and counters are judged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATE_WAIT_S
        while loop.time() < deadline and not all(u in self._baseline and u in self._status for u in self.units):
            await asyncio.sleep(0.05)
        missing = [u for u in self.units if u not in self._baseline or u not in self._status]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise TargetError(f"--target {self.options.address.url}: no retained state for {shown} under "
                              f"{self.options.prefix}/: is `ipo-emu serve` serving {self.loaded.path.name} there "
                              "(with --prefix)?")
        offline = [u for u in self.units if not self._status[u].get("online")]
        if offline:
            raise TargetError(f"--target: unit {offline[0]} is offline (its status says online: false)")
        await asyncio.sleep(BASELINE_QUIET_S)
        for unit in self.units:
            try:
                sample = parse_sample(self._baseline[unit])
            except ValueError as exc:
                raise TargetError(f"unit {unit}: {exc}") from None
            core = self._network.units[unit].core
            self.checks[unit] = UnitCheck(unit, sample, _admissions(core))
            self._latest[unit] = sample
            # where each unit's replies are numbered from: a get_state's reply says
            self._send("get_state", loop.time(), None, {}, timed=False, unit=unit)
        deadline = loop.time() + STATE_WAIT_S
        while self._sent and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._sent:
            silent = sorted({s.unit for s in self._sent.values()})
            raise TargetError(f"--target: unit {silent[0]}"
                              + (f" (and {len(silent) - 1} more)" if len(silent) > 1 else "")
                              + f" does not answer commands (no reply to get_state within {STATE_WAIT_S:g} s)")

    async def _send_all(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        schedule = self.schedule
        planned = schedule.next()
        while not self._stop.is_set():
            next_offer = started + planned.due if planned is not None else None
            next_hang_up = self._hang_ups[0][0] if self._hang_ups else None
            if next_offer is None:
                break
            due = min(t for t in (next_offer, next_hang_up) if t is not None)
            now = loop.time()
            if due > now:
                await self._sleep_until(due)
                continue
            while self._hang_ups and self._hang_ups[0][0] <= now:
                when, _, call = heapq.heappop(self._hang_ups)
                self._send("hang_up", when, call, {"call_id": call.call_id})
            while planned is not None and started + planned.due <= now:
                self._send("offer_call", started + planned.due, planned,
                           {"a": planned.a, "b": planned.b, "call_id": planned.call_id})
                planned = schedule.next()

    async def _sleep_until(self, due: float) -> None:
        """Until `due` or until woken (a hang-up now due sooner, a stop). No spinning: the
        served units and the broker need the cores more than the sender needs the last
        millisecond, and any lateness is in the figures (latency runs from the due time)."""
        loop = asyncio.get_running_loop()
        self._wake.clear()
        timer = loop.call_at(due, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    def _send(self, verb: str, due: float, call: PlannedCall | None, body: dict, *, timed: bool = True,
              unit: str | None = None) -> None:
        self._ids += 1
        now = asyncio.get_running_loop().time()
        unit = unit or call.unit
        self._sent[self._ids] = _Sent(verb, due, now, unit, call, timed)
        self._outstanding[unit] += 1
        body["id"] = self._ids
        body["reply_to"] = self.reply_topic
        self.outbox.add_reply(self.topics.command(unit, verb), orjson.dumps(body))
        if timed:
            self.send_lag.record_value(max(1, int((now - due) * 1e6)))
        self.counters[f"{verb}_sent"] += 1

    async def _hang_up_the_rest(self) -> None:
        """Sending is over: hang up every call still up, now."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for _, _, call in sorted(self._hang_ups):
            if call.call_id in self._up:
                self._send("hang_up", now, call, {"call_id": call.call_id}, timed=False)
                self.counters["hung_up_at_the_end"] += 1
        self._hang_ups.clear()
        # calls admitted after this (their offers' replies still on the way) are hung up on arrival
        self._draining = True

    async def _await_replies(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOST_AFTER_S + 1
        while self._sent and loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._lose(float("inf"))

    async def _await_settled(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATE_WAIT_S
        while loop.time() < deadline and not all(c.settled for c in self.checks.values()):
            await asyncio.sleep(0.02)

    async def _watch_for_lost(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self._lose(asyncio.get_running_loop().time() - LOST_AFTER_S)

    def _lose(self, sent_before: float) -> None:
        """Count as lost every command sent before `sent_before` still without a reply."""
        for key in [k for k, s in self._sent.items() if s.sent_at < sent_before]:
            sent = self._sent.pop(key)
            self._outstanding[sent.unit] -= 1
            self.counters[f"{sent.verb}_lost"] += 1
            if sent.call is None:
                continue
            self.checks[sent.unit].reply_lost(f"{sent.verb} {sent.call.call_id}")
            self._up.pop(sent.call.call_id, None)
            self._last_seq[sent.unit] = None  # its number will never come: take replies as they arrive
            self._release(sent.unit, asyncio.get_running_loop().time())

    # -- what comes back -------------------------------------------------------------------------

    async def _received(self, incoming) -> None:
        topic = incoming.topic
        if topic == self.reply_topic:
            self._reply(incoming.payload)
            return
        parsed = self.topics.parse(topic)
        if parsed is None or parsed[0] not in self._driven:
            return
        unit, kind, _ = parsed
        if kind == "status":
            try:
                self._status[unit] = orjson.loads(incoming.payload)
            except orjson.JSONDecodeError:
                return
            if unit in self.checks and not self._status[unit].get("online"):
                self.findings.append(f"{unit}: went offline during the run")
        elif kind == "licenses":
            check = self.checks.get(unit)
            if check is None:
                self._baseline[unit] = incoming.payload
                return
            try:
                sample = parse_sample(incoming.payload)
            except ValueError as exc:
                self.findings.append(f"{unit}: {exc}")
                return
            self._latest[unit] = sample
            check.state_published(sample)

    def _reply(self, payload: bytes) -> None:
        """A reply, timed as it arrives, and applied in the order the unit decided (its `seq`:
        a publish the broker acknowledged late is sent again, and may overtake others)."""
        now = asyncio.get_running_loop().time()
        try:
            reply = orjson.loads(payload)
            sent = self._sent.pop(reply["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.counters["replies_unexpected"] += 1  # sent twice, or not an answer to us
            return
        unit = sent.unit
        self._outstanding[unit] -= 1
        seq = reply.get("seq")
        if sent.verb == "get_state":
            self._last_seq[unit] = seq if isinstance(seq, int) else None
            return
        self.counters["replies"] += 1
        if not reply.get("ok"):
            self.errors[(reply.get("error") or {}).get("code", "?")] += 1
        micros = max(1, int((now - sent.due) * 1e6))
        if sent.verb == "offer_call":
            self.offer_latency.record_value(micros)
            self._window.record_value(micros)
        elif sent.timed:
            self.hang_up_latency.record_value(micros)
        if not isinstance(seq, int) or self._last_seq.get(unit) is None:
            self._apply(sent, reply, now)
            return
        heapq.heappush(self._in_order[unit], (seq, reply["id"], sent, reply))
        self._release(unit, now)

    def _release(self, unit: str, now: float) -> None:
        """Apply the unit's waiting replies that are next in its order (or all of them once none
        of our commands to it awaits a reply: a gap is then another client's command)."""
        waiting = self._in_order[unit]
        while waiting:
            last = self._last_seq.get(unit)
            if last is not None and waiting[0][0] != last + 1 and self._outstanding[unit]:
                return
            seq, _, sent, reply = heapq.heappop(waiting)
            if last is not None:
                self._last_seq[unit] = seq
            self._apply(sent, reply, now)

    def _apply(self, sent: _Sent, reply: dict, now: float) -> None:
        call = sent.call
        check = self.checks[sent.unit]
        if sent.verb == "offer_call":
            check.offer_decided(call.call_id, call.a, call.b, reply)
            outcome = reply.get("outcome") or "error"
            self.outcomes[(call.source, outcome, f"{reply.get('reason') or ''}/{reply.get('detail') or ''}"
                           if outcome == "rejected" else "")] += 1
            if outcome == "rejected":
                self._refusals[(sent.unit, reply.get("reason") or "", reply.get("detail") or "")] += 1
            if outcome == "admitted":
                self._up[call.call_id] = call
                if self._draining:
                    self._send("hang_up", now, call, {"call_id": call.call_id}, timed=False)
                    self.counters["hung_up_at_the_end"] += 1
                else:
                    heapq.heappush(self._hang_ups, (sent.due + call.hold_s, next(self._tie), call))
                    self._wake.set()
        else:
            self._up.pop(call.call_id, None)
            check.hang_up_decided(call.call_id, reply)

    # -- output ------------------------------------------------------------------------------------

    async def _every_second(self, started: float) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._tick_point(started)

    def _tick_point(self, started: float) -> None:
        """A point of the timeline (the same shape as a scenario run's, scenario/timeline.py)
        and, with the console, a live row: what happened since the last point."""
        now = asyncio.get_running_loop().time() - started
        timeline = self.timeline
        refused: Counter[str] = Counter()
        offered = 0
        for (_, outcome, why), n in self.outcomes.items():
            if outcome in ("admitted", "rejected"):
                offered += n
            if outcome == "rejected":
                refused[why.partition("/")[0]] += n
        in_use: Counter[str] = Counter()
        limit: Counter[str] = Counter()
        for sample in self._latest.values():
            in_use.update(sample.in_use)
            limit.update(sample.effective)
        n = len(timeline["t"])
        timeline["t"].append(round(max(now, 0.0), 3))
        timeline["offered"].append(offered)
        for reason in refused.keys() - timeline["refused"].keys():
            timeline["refused"][reason] = [0] * n
        for reason, series in timeline["refused"].items():
            series.append(refused.get(reason, 0))
        for pool in in_use.keys() - timeline["pools"].keys():
            timeline["pools"][pool] = {"in_use": [0] * n, "limit": [0] * n}
        for pool, series in timeline["pools"].items():
            series["in_use"].append(in_use.get(pool, 0))
            series["limit"].append(limit.get(pool, 0))
        window = self._window
        p99 = window.get_value_at_percentile(99) / 1000 if window.get_total_count() else 0.0
        timeline["latency_hdr"].append(window.encode().decode("ascii"))
        window.reset()
        if self.options.console is not None and n:
            sent = self.counters["offer_call_sent"]
            lost = self.counters["offer_call_lost"] + self.counters["hang_up_lost"]
            self.options.console(
                f"{now:7.1f}s  offers {sent - self._last_sent:>6}  total {sent:>8}  answered {offered:>8}  "
                f"refused {sum(refused.values()):>7}  up {len(self._up):>6}  waiting {len(self._sent):>5}  "
                f"p99 {p99:7.2f} ms" + (f"  lost {lost}" if lost else ""))
            self._last_sent = sent

    def _source_row(self, name: str) -> dict:
        """A traffic source's decisions, counted as a scenario run counts them: a busy user is
        not blocking (docs/scenarios.md)."""
        counts: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        for (source, outcome, why), n in self.outcomes.items():
            if source == name:
                counts[outcome] += n
                if why:
                    refusals[why] += n
        attempts = counts["admitted"] + counts["rejected"]
        busy = sum(n for why, n in refusals.items() if why.startswith(f"{Reason.EXTENSION_BUSY.value}/"))
        spec = next(t for t in self.loaded.scenario.traffic if t.name == name)
        return {"name": name, "unit": self.loaded.scenario.unit_name(spec.unit),
                "copies": len({r.unit for r in self.schedule.routes if r.source == name}),
                "attempts": attempts, "admitted": counts["admitted"], "rejected": counts["rejected"], "busy": busy,
                "blocked": counts["rejected"] - busy,
                "blocking": (counts["rejected"] - busy) / (attempts - busy) if attempts > busy else 0.0,
                "refusals": dict(sorted(refusals.items()))}

    def _pool_rows(self) -> list[dict]:
        """Each pool over the driven units, from their last published states: the highest limit
        and peak of any unit, and the refusals counted during the run (all units)."""
        rows: dict[str, dict] = {}
        for unit, sample in self._latest.items():
            base = self.checks[unit].baseline if unit in self.checks else sample
            for pool, limit in sample.effective.items():
                row = rows.setdefault(pool, {"pool": pool, "units": 0, "effective": 0, "peak": 0, "refused": 0})
                row["units"] += 1
                row["effective"] = max(row["effective"], limit)
                row["peak"] = max(row["peak"], sample.peak.get(pool, 0))
                row["refused"] += sum(n - base.refused.get((p, r), 0) for (p, r), n in sample.refused.items()
                                      if p == pool)
        return [rows[p] for p in sorted(rows)]

    def _report(self) -> dict:
        verdicts = [check.finish() for check in self.checks.values()]
        offers = self.counters["offer_call_sent"]
        sources = [self._source_row(name) for name in sorted({source for source, _, _ in self.outcomes})]
        lost = self.counters["offer_call_lost"] + self.counters["hang_up_lost"]
        violations = sum(v.violations for v in verdicts) + len(self.findings)
        max_lag_s = self.send_lag.get_max_value() / 1e6 if self.send_lag.get_total_count() else 0.0
        return {
            "target": self.options.address.url, "prefix": self.options.prefix, "scenario": self.loaded.path.name,
            "units": len(self.units), "rate_per_s": self.rate, "speed": self.options.speed,
            "seed": self.options.seed, "sending_s": round(self.sending_s, 3),
            "interrupted_by": self.stopped_by,
            "offers": offers, "hang_ups": self.counters["hang_up_sent"],
            "achieved_rate_per_s": offers / self.sending_s if self.sending_s > 0 else 0.0,
            "replies": self.counters["replies"], "lost": lost,
            "replies_unexpected": self.counters["replies_unexpected"],
            "hung_up_at_the_end": self.counters["hung_up_at_the_end"],
            "errors": dict(sorted(self.errors.items())),
            "traffic": sources,
            "pools": self._pool_rows(),
            "refusals": [{"unit": unit, "reason": reason, "detail": detail, "count": n}
                         for (unit, reason, detail), n in sorted(self._refusals.items())],
            "offer_latency": _latency(self.offer_latency),
            "hang_up_latency": _latency(self.hang_up_latency),
            "send_lag": _latency(self.send_lag),
            "fell_behind": max_lag_s > self.options.max_lag_s,
            "max_lag_s": self.options.max_lag_s,
            "timeline": self.timeline,
            "check": {"judged": sum(v.judged for v in verdicts),
                      "not_judged": dict(sum((v.not_judged for v in verdicts), Counter())),
                      "states_matched": sum(v.states_matched for v in verdicts),
                      "violations": violations,
                      "findings": (self.findings + [f for v in verdicts for f in v.findings])[:200],
                      "units": [v.as_dict() for v in verdicts if v.violations or v.not_judged][:50]},
        }


def _latency(h) -> dict:
    if not h.get_total_count():
        return {"count": 0}
    return {"count": h.get_total_count(), **percentiles_ms(h)}


def _admissions(core):
    """The pools a call takes, from the unit's own call plans (None: not judged from here)."""

    def admissions(a: str, b: str):
        if "/" in b or "/" in a:
            return None
        try:
            return core.calls.admissions(a, b)
        except (LookupError, ValueError):
            return None

    return admissions
