"""`ipo-emu serve`: units on the wall clock, driven and watched over MQTT.

The scenario runner plays the configuration's timeline and traffic as `run --realtime`
would, through the same units, so a command over MQTT is decided exactly like a scripted
event. Around it:

- the outbox takes every event (and, with --journal, writes it to a file at once);
- a state task publishes each unit's status and licenses when they changed, at most every
  `state_interval_s` of real time, and the service's own status and counters;
- the MQTT link sends what the outbox holds and hands commands to the handler.

Nothing a decision does waits on the broker. On SIGINT/SIGTERM (or after `serve_for`) the
units are announced offline, the outbox is given a few seconds to drain, and the report
says what was published, dropped and journaled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from emulator.scenario.loader import LoadedScenario
from emulator.scenario.runner import RunOptions, RunResult, ScenarioRunner
from emulator.service.broker_address import BrokerAddress
from emulator.service.commands import CommandHandler
from emulator.service.mqtt_link import Incoming, LinkWill, MqttLink, read_retained
from emulator.scenario.runner import EventsFile
from emulator.service.outbox import Outbox
from emulator.service.state import unit_licenses, unit_status
from emulator.service.topics import Topics, check_service_id
from emulator.telemetry.event_batches import BatchEncoder


class UnitOwnedError(RuntimeError):
    """Another live service serves one of the units."""


CONNECT_WAIT_S = 5.0
"""At start, how long the units wait for the first answer from the broker."""

STATE_SLICES = 5
"""The state interval is cut in this many ticks, each publishing the changed units of its slot."""

DRAIN_S = 3.0
"""At the end, how long the outbox may take to empty before what is left is counted unsent."""


@dataclass
class ServeOptions:
    speed: float = 1.0
    prefix: str = "ipo"
    service_id: str | None = None
    """Default: <host>-<config file stem>."""
    read_only: bool = False
    journal: Path | None = None
    state_interval_s: float = 0.25
    max_commands_per_s: float = 2000.0
    mqtt_version: str = "auto"
    serve_for_s: float = float("inf")
    """Simulated seconds to serve; inf: until SIGINT/SIGTERM."""
    handle_signals: bool = True
    max_lag_s: float = 0.25
    encoder_process: bool = True
    """Encode event batches in a helper process (the decisions keep their core)."""
    sip: tuple[str, int] | None = None
    """Open a SIP listener per SIP trunk from this address on (port 0: free ports)."""
    sip_ring_s: float = 0.0
    """SIP calls ring this long (180 Ringing) before the 200."""


def default_service_id(config: Path) -> str:
    host = socket.gethostname().split(".")[0] or "host"
    raw = f"{host}-{config.stem}"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in raw)[:100].lstrip("._-") or "ipo-emu"


class Service:
    def __init__(self, loaded: LoadedScenario, address: BrokerAddress, options: ServeOptions,
                 *, broker_note: str = "") -> None:
        self.loaded = loaded
        self.address = address
        self.options = options
        self.broker_note = broker_note
        self.topics = Topics(options.prefix)
        self.service_id = check_service_id(options.service_id or default_service_id(loaded.path))
        self.runner = ScenarioRunner(loaded, RunOptions(realtime=True, speed=options.speed,
                                                        handle_signals=options.handle_signals,
                                                        max_lag_s=options.max_lag_s),
                                     serve_for=options.serve_for_s)
        self.clock_text = f"wall x{options.speed:g}"
        journal = None  # every event as the JSON line --events writes, with its per-unit seq
        if options.journal is not None:
            journal = EventsFile(options.journal, self.runner.start, option="--journal")
        self.outbox = Outbox(self.topics, self.runner.start, journal=journal,
                             encoder=BatchEncoder(helper=options.encoder_process))
        self.runner.sink.subscribe_batches(self.outbox.add_events)
        self.counters: Counter[str] = Counter()
        self.handler: CommandHandler | None = None
        self._reply_seq: dict[str, int] = {}
        """unit -> the number of its last reply (Reply.seq)."""
        self.link: MqttLink | None = None
        self._last_state: dict[str, bytes] = {}
        self._clock_task: asyncio.Future | None = None
        self.drain_s = 0.0
        """At the stop, how long the outbox took to empty (not part of the report's wall_s)."""
        self._stopped_by: str | None = None
        self.ready = asyncio.Event()
        """Set once the units run and the first connection to the broker is up."""
        self.front_door = None
        """The SIP listeners (with ServeOptions.sip)."""

    def stop(self, reason: str = "stop()") -> None:
        """End the service as SIGTERM would (for an embedding program or a test)."""
        if self._stopped_by is None and self._clock_task is not None:
            self._stopped_by = reason
            self._clock_task.cancel()

    # -- life -------------------------------------------------------------------------------------

    async def claim_units(self) -> None:
        """One owner per unit: refuse to serve a unit another live service announces.

        Read from the broker's retained state before starting (when the broker can be
        reached now); a unit whose status names another service that is still online is
        that service's. A crashed service's Last Will marks it offline, so its units can be
        taken over. Two services starting in the same instant can both pass: MQTT has no
        locks, so give each unit to one process."""
        names = [u.name for u in self.loaded.units]
        retained = await read_retained(
            self.address, [self.topics.status(n) for n in names] + [self.topics.all_service_statuses()],
            client_id=f"ipo-emu-{self.service_id}-claim", version=self.options.mqtt_version)
        if retained is None:
            self.counters["ownership_unchecked"] = 1
            return
        services = {}
        for topic, payload in retained.items():
            service = self.topics.parse_service(topic)
            if service is not None:
                with contextlib.suppress(ValueError):
                    services[service] = bool(orjson.loads(payload).get("online"))
        for name in names:
            with contextlib.suppress(ValueError, AttributeError):
                status = orjson.loads(retained.get(self.topics.status(name), b"null"))
                owner = status.get("service")
                if status.get("online") and owner != self.service_id and services.get(owner, False):
                    raise UnitOwnedError(f"unit {name} is already served by {owner} on {self.address.url}: "
                                         "each unit is served by one process (stop that one, or use another "
                                         "--prefix)")

    async def run(self) -> RunResult:
        await self.claim_units()
        await self.outbox.encoder.start()
        runner = self.runner
        await runner.open(sample=False)
        network = runner.network
        loop = asyncio.get_running_loop()
        if self.options.sip is not None:
            from emulator.sip.front_door import SipFrontDoor

            self.front_door = SipFrontDoor(network, self.loaded.units, *self.options.sip, ring_s=self.options.sip_ring_s)
            try:
                await self.front_door.start()
            except OSError:
                await runner.close(0.0, judge=False)
                await self.outbox.aclose()
                raise
        self.handler = CommandHandler(network, self.loaded, service=self.service_id, clock_text=self.clock_text,
                                      read_only=self.options.read_only, max_per_s=self.options.max_commands_per_s,
                                      real_time=loop.time)
        self.link = MqttLink(self.address, self.outbox, client_id=f"ipo-emu-{self.service_id}",
                             subscriptions=[self.topics.commands_of(u) for u in network.units],
                             on_message=self._on_message, version=self.options.mqtt_version,
                             will=LinkWill(self.topics.service_status(self.service_id),
                                           self._service_payload(online=False)))
        self.outbox.changed_units.update(dict.fromkeys(network.units))
        self._reply_seq = dict.fromkeys(network.units, 0)
        self._publish_state(online=True)
        self._publish_service(online=True)
        link_task = asyncio.ensure_future(self.link.run())
        # The first connection is made before the clock starts: connecting runs partly in a
        # thread (aiomqtt), which a clock running flat out would starve for seconds. A broker
        # that cannot be reached does not hold the units back: they start at its first refusal.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.attempted.wait(), CONNECT_WAIT_S)
        # What start-up made (firmware data, the units, the broker client) lives as long as the
        # service: frozen out of the collector, a full collection no longer walks it, which
        # otherwise stalls every decision for tens of milliseconds now and then.
        gc.collect()
        gc.freeze()
        started = time.perf_counter()
        state_task = asyncio.ensure_future(self._state_every(self.options.state_interval_s))
        ready_task = asyncio.ensure_future(self._announce_ready())
        self._clock_task = asyncio.ensure_future(runner.run_clock())
        try:
            await self._clock_task
        except asyncio.CancelledError:
            if self._stopped_by is None:
                raise
            runner.interrupted = self._stopped_by
        finally:
            runner.mark_reached()
            wall = time.perf_counter() - started  # the run itself, as `run` reports it
            ready_task.cancel()
            state_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await state_task
            self._publish_state(online=False)
            self._publish_service(online=False)
            drain_started = time.perf_counter()
            if self.link.connected.is_set():
                await self.link.flushed(DRAIN_S)
            self.drain_s = time.perf_counter() - drain_started
            link_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link_task
            if self.front_door is not None:
                await self.front_door.stop()
        result = await runner.close(wall, judge=False)
        if self.front_door is not None:
            result.data["sip"] = self.front_door.summary()
        await self.outbox.aclose()
        summary = result.data["service"] = self.summary()
        if summary["unsent_at_stop"]:
            result.data["warnings"].append(
                f"{summary['unsent_at_stop']:,} events and messages were still waiting for the broker at the stop"
                + (" (every event is in the journal)" if self.options.journal else ""))
        if self.outbox.counters["events_dropped"]:
            result.data["warnings"].append(
                f"{self.outbox.counters['events_dropped']:,} events could not be published (the broker was away "
                "too long)" + (f"; all are in the journal {self.options.journal}" if self.options.journal
                               else "; --journal keeps every event"))
        return result

    async def _announce_ready(self) -> None:
        await self.link.connected.wait()
        self.ready.set()

    def summary(self) -> dict:
        link = self.link
        counters = {**self.counters, **(self.handler.counters if self.handler else {}),
                    **self.outbox.snapshot(), **(link.counters if link else {})}
        if self.front_door is not None:  # the SIP listeners' counts, summed (per line in the report's sip)
            for listener in self.front_door.summary():
                for name, value in listener["counters"].items():
                    counters[f"sip_{name}"] = counters.get(f"sip_{name}", 0) + value
        return {"service": self.service_id, "broker": self.address.url, "broker_note": self.broker_note,
                "mqtt_version": link.protocol if link else None, "prefix": self.topics.prefix,
                "read_only": self.options.read_only, "journal": str(self.options.journal) if self.options.journal
                else None, "counters": dict(sorted(counters.items())),
                "unsent_at_stop": self.outbox.waiting(), "drain_s": self.drain_s}

    # -- commands -------------------------------------------------------------------------------------

    async def _on_message(self, incoming: Incoming) -> None:
        parsed = self.topics.parse(incoming.topic)
        if parsed is None or parsed[1] != "cmd":
            self.counters["ignored_topic"] += 1
            return
        unit, _, verb = parsed
        reply, addressed = await self.handler.handle(unit, verb, incoming.payload)
        if unit in self._reply_seq:
            reply["seq"] = self._reply_seq[unit] = self._reply_seq[unit] + 1
        topic = incoming.response_topic or addressed.reply_to
        if topic is not None and topic.startswith(self.topics.prefix + "/"):
            target = self.topics.parse(topic)
            if target is None or target[1] != "reply":  # a reply never lands on a unit's state or commands
                self.counters["reply_to_refused"] += 1
                topic = None
        if topic is None or any(c in topic for c in "+#"):
            topic = self.topics.reply(unit)
        self.outbox.add_reply(topic, orjson.dumps(reply, default=str), incoming.correlation)

    # -- state -------------------------------------------------------------------------------------------

    async def _state_every(self, interval: float) -> None:
        """Each unit's state at most every `interval`, the units spread over STATE_SLICES ticks
        of it: a fleet's 200 states would otherwise go out in one burst that replies queue
        behind."""
        service_every = max(1, round(1.0 / interval))
        tick = 0
        slot_of = {name: i % STATE_SLICES for i, name in enumerate(self.runner.network.units)}
        while True:
            await asyncio.sleep(interval / STATE_SLICES)
            slot = tick % STATE_SLICES
            self._publish_state(online=True, only=lambda name, slot=slot: slot_of[name] == slot)
            tick += 1
            if tick % (service_every * STATE_SLICES) == 0:
                self._publish_service(online=True)

    def _publish_state(self, *, online: bool, only=None) -> None:
        """Status and licenses of the units that changed since they were last published (all
        when going offline); `only` picks some of them (the others wait for their turn)."""
        network = self.runner.network
        changed = self.outbox.changed_units
        if not online:
            names = list(network.units)
            changed.clear()
        else:
            names = [name for name in changed if only is None or only(name)]
            for name in names:
                del changed[name]
        for name in names:
            unit = network.units[name]
            status = unit_status(unit, self.service_id, online=online, clock=self.clock_text)
            self._set_if_changed(self.topics.status(name), status)
            self._set_if_changed(self.topics.licenses(name), unit_licenses(unit))

    def _set_if_changed(self, topic: str, payload: dict) -> None:
        """Retained state is sent when something other than its time changed."""
        comparable = orjson.dumps({k: v for k, v in payload.items() if k != "time"}, default=str)
        if self._last_state.get(topic) != comparable:
            self._last_state[topic] = comparable
            self.outbox.set_retained(topic, orjson.dumps(payload, default=str))

    def _service_payload(self, *, online: bool) -> bytes:
        return orjson.dumps({"service": self.service_id, "online": online, "pid": os.getpid(),
                             "units": [u.name for u in self.loaded.units],
                             "read_only": self.options.read_only,
                             "mqtt_version": self.link.protocol if self.link else None,
                             "counters": self.summary()["counters"]})

    def _publish_service(self, *, online: bool) -> None:
        self.outbox.set_retained(self.topics.service_status(self.service_id), self._service_payload(online=online))
