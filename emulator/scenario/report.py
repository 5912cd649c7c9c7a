"""The end-of-run report: rich tables for people (the same data is written by --report)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from emulator.scenario.runner import RunResult, fleet_of_copies, refusals_text
from emulator.scenario.sizing import MAX_CHANNELS


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in ("pool", "key"))
    return table


def render(result: RunResult, console: Console) -> None:
    data = result.data
    console.print(f"[bold]{data['scenario']}[/bold] — {data['clock']} clock, {data['duration_s']:g} s from "
                  f"{data['start']}, seed {data['seed']}; ran in {data['wall_s']:.3f} s wall "
                  f"({data['callbacks']:,} callbacks)")
    if data["development_issuer_secret"]:
        console.print("[yellow]Keys checked with the public development issuer secret[/yellow]: anyone can make "
                      "them; set $IPO_EMU_ISSUER_SECRET for real license plans")
    if data["clock_lag"]:
        lag = data["clock_lag"]
        mark = "[green]kept up[/green]" if data["kept_up"] else "[red]FELL BEHIND[/red]"
        console.print(f"Wall clock {mark}: callbacks ran late by p50 {lag['p50_ms']:.2f} ms, p99 {lag['p99_ms']:.2f} ms, "
                      f"max {lag['max_ms']:.2f} ms (limit {lag['limit_ms']:g} ms, {lag['callbacks']:,} callbacks)")
    if data["interrupted"]:
        console.print(f"[red]INTERRUPTED[/red] by {data['interrupted']} after {data['simulated_s']:g} s of "
                      f"{data['duration_s']:g} s")
    if data["description"]:
        console.print(data["description"].strip())
    fleets = data.get("fleets") or {}
    copy_of = fleet_of_copies(data)
    for fleet, info in fleets.items():
        render_fleet(fleet, info, [u for u in data["units"] if copy_of.get(u["name"]) == fleet], console)
    for unit in data["units"]:
        if unit["name"] in copy_of:
            continue  # a fleet's copies: summed up above (every copy is in --report and --json)
        console.print()
        medium = unit["feature_key_medium"]
        native = " or ".join(k.replace("_", " ") for k in unit["native_feature_keys"])
        fitted = (f"; a real {unit['model']} takes a {native} key" if medium is None or
                  medium not in unit["native_feature_keys"] else "")
        console.print(f"[bold]Unit {unit['name']}[/bold]: {unit['model']} release {unit['release']}, feature key "
                      f"{unit['feature_key']} ({unit['feature_key_state']}, validating against "
                      f"{unit['serial'] or 'nothing'}{fitted})")
        if unit["licenses"]:
            table = _table("Licenses", ["feature", "instances", "status", "detail", "expires"])
            for lic in unit["licenses"]:
                detail = lic["detail"] if lic["enforced"] else "; ".join(
                    filter(None, [lic["detail"], "catalogued, not enforced: nothing it gates is modelled"]))
                table.add_row(str(lic["feature"]), str(lic["instances"]), lic["status"], detail,
                              lic["expires_at"] or "")
            console.print(table)
        table = _table("License pools and resources", ["pool", "licensed", "capacity", "effective", "peak",
                                                        "mean in use", "in use at end", "refused"])
        for pool in unit["pools"]:
            table.add_row(pool["pool"], _dash(pool["licensed"]), _dash(pool["capacity"]), str(pool["effective"]),
                          str(pool["peak"]), f"{pool['mean_in_use']:.2f}", str(pool["in_use_at_end"]),
                          ", ".join(f"{r} {n}" for r, n in pool["refused"].items()) or "-")
        console.print(table)
        vcm = next((p for p in unit["pools"] if p["pool"] == "vcm_channels"), None)
        if vcm and vcm["effective"]:
            console.print(f"VCM: {vcm['effective']} channels, peak {vcm['peak']} "
                          f"({vcm['peak'] / vcm['effective']:.0%}), mean utilisation "
                          f"{vcm['mean_in_use'] / vcm['effective']:.1%}")
        if unit["extensions"]:
            busy = [e for e in unit["extensions"] if e["busy"]]
            console.print(f"Extensions: {len(unit['extensions'])} took calls; "
                          + (f"{sum(e['busy'] for e in busy):,} calls found the user busy ("
                             + ", ".join(f"{e['extension']} {e['busy']:,}" for e in busy[:8])
                             + (", …" if len(busy) > 8 else "") + ")" if busy else "no call found a user busy"))
        calls = unit["calls"]
        console.print(f"Calls: {calls['admitted']:,} admitted, {calls['rejected']:,} rejected "
                      f"({refusals_text(calls['rejections'])}), {calls['active_at_end']} up at the end")
        if unit["decisions"]:
            table = _table("Endpoints, applications, conferences", ["kind", "outcome", "reason", "count"])
            for d in unit["decisions"]:
                table.add_row(d["kind"], d["outcome"], d["reason"] or "", str(d["count"]))
            console.print(table)
        features = unit["features"]
        lines = []
        if features["voicemail"]:
            lines.append("voicemail: " + {"pro": "Voicemail Pro (licensed)", "lite": "Voicemail Lite (free: no valid "
                                          "Voicemail Pro license)", "embedded": "embedded voicemail (free)"}[
                                              features["voicemail"]])
        for name in ("delta_server", "contactstore", "expansion_modules"):
            if features[name]:
                lines.append(f"{name.replace('_', ' ')}: running")
        if features["mobility_users"] or features["mobility_unlicensed"]:
            running = ", ".join(f"{f.replace('_', ' ')} {n}" for f, n in features["mobility_running"].items() if n)
            lines.append(f"Mobility: {len(features['mobility_users'])} licensed ({running or 'none running'}), "
                         f"{len(features['mobility_unlicensed'])} without ({', '.join(features['mobility_unlicensed']) or '-'})")
        if features["mobility_not_supported"]:
            lines.append(f"Mobility features not supported on this unit: {', '.join(features['mobility_not_supported'])}")
        if features["ccc_agents"] or features["ccc_agents_unlicensed"]:
            lines.append(f"CCC agents: {len(features['ccc_agents'])} licensed, "
                         f"{len(features['ccc_agents_unlicensed'])} without")
        if features["registered"]:
            lines.append(f"registered phones: {len(features['registered'])}"
                         + (f" ({len(features['unlicensed_phones'])} emergency calls only)"
                            if features["unlicensed_phones"] else ""))
        for line in lines:
            console.print(line)
    if data["traffic"]:
        console.print()
        table = _table("Traffic", ["traffic", "unit", "attempts", "admitted", "busy user", "blocked", "blocking",
                                   "offered E",
                                   "carried E", f"channels for {data['traffic'][0]['sizing']['grade_of_service']:g}",
                                   "refused by"])
        for t in data["traffic"]:
            table.add_row(t["name"], t["unit"], f"{t['attempts']:,}", f"{t['admitted']:,}", f"{t['busy']:,}",
                          f"{t['blocked']:,}",
                          f"{t['blocking']:.2%}", f"{t['offered_erlangs']:.2f}",
                          "-" if t["carried_erlangs"] is None else f"{t['carried_erlangs']:.2f}",
                          _channels(t["sizing"]["channels_needed"]), refusals_text(t["rejections"]))
        console.print(table)
    for t in data["traffic"]:
        if t.get("steps"):
            render_steps(t, console)
    for replay in data.get("replay", []):
        render_replay(replay, console)
    for listener in data.get("sip") or []:
        c = listener["counters"]
        console.print(f"SIP line {listener['trunk']} of {listener['unit']} on {listener['address']}: "
                      f"{c.get('invites', 0):,} calls, {c.get('admitted', 0):,} admitted, "
                      + ", ".join(f"{c[k]:,} answered {k[8:]}" for k in sorted(c) if k.startswith("refused_")
                                  and k[8:].isdigit())
                      + f"; {c.get('registers', 0):,} registrations; {c.get('retransmissions_received', 0):,} "
                      f"retransmissions absorbed; {c.get('dropped_malformed', 0) + c.get('bad_requests', 0):,} "
                      "malformed")
    if data.get("smdr"):
        smdr = data["smdr"]
        console.print()
        console.print(f"SMDR: {smdr['records']:,} records"
                      + (f"; {smdr['calls_up_at_end']:,} calls still up at the end have none yet"
                         if smdr["calls_up_at_end"] else ""))
        for feed in smdr["feeds"]:
            console.print(f"  unit {feed['unit']} to {feed['destination']}: {feed['sent']:,} sent, "
                          f"{feed['overwritten']:,} overwritten, {feed['unsent']:,} never sent; "
                          f"{feed['connects']:,} connections, {feed['connection_failures']:,} failures")
    for warning in data.get("warnings", []):
        console.print(f"[yellow]WARNING[/yellow] {warning}")
    if result.expectations:
        console.print()
        console.print("[bold]Expectations[/bold]")
        for e in result.expectations:
            mark = "[green]PASS[/green]" if e.ok else "[red]FAIL[/red]"
            console.print(f"{mark}  {e.text}: {e.actual} (expected {e.expected})")
        failed = sum(not e.ok for e in result.expectations)
        console.print(f"{len(result.expectations) - failed} passed, {failed} failed")


def render_steps(row: dict, console: Console) -> None:
    """A ramp, step by step: the calls offered during each step and how many were refused."""
    per = " a copy" if row.get("copies", 1) > 1 else ""
    table = _table(f"Ramp steps of {row['name']}", ["step", "from", "to", f"calls/h{per}", f"offered E{per}",
                                                     "attempts", "admitted", "busy user", "blocked", "blocking"])
    for s in row["steps"]:
        table.add_row(str(s["step"]), f"{s['from_s']:g} s", f"{s['to_s']:g} s", f"{s['calls_per_hour']:g}",
                      f"{s['offered_erlangs']:.2f}", f"{s['attempts']:,}", f"{s['admitted']:,}", f"{s['busy']:,}",
                      f"{s['blocked']:,}", f"{s['blocking']:.2%}")
    console.print(table)


def render_fleet(name: str, info: dict, units: list[dict], console: Console) -> None:
    """A fleet in one table: each pool's highest peak, mean use and refusals over its copies."""
    console.print()
    console.print(f"[bold]Fleet {name}[/bold]: {info['copies']:,} copies ({info['first']} … {info['last']}), "
                  f"{units[0]['model']} release {units[0]['release']}; every copy is in --report and --json")
    table = _table("License pools and resources over the copies", ["pool", "effective", "highest peak",
                                                                   "mean in use", "refused (all copies)"])
    pools: dict[str, list[dict]] = {}
    for unit in units:
        for pool in unit["pools"]:
            pools.setdefault(pool["pool"], []).append(pool)
    for pool_id, rows in pools.items():
        effective = sorted({r["effective"] for r in rows})
        refused: dict[str, int] = {}
        for r in rows:
            for reason, n in r["refused"].items():
                refused[reason] = refused.get(reason, 0) + n
        table.add_row(pool_id, "/".join(map(str, effective)), str(max(r["peak"] for r in rows)),
                      f"{sum(r['mean_in_use'] for r in rows) / len(rows):.2f}",
                      ", ".join(f"{k} {v:,}" for k, v in refused.items()) or "-")
    console.print(table)
    admitted = sum(u["calls"]["admitted"] for u in units)
    rejected = sum(u["calls"]["rejected"] for u in units)
    states = {}
    for u in units:
        for lic in u["licenses"]:
            states[lic["status"]] = states.get(lic["status"], 0) + 1
    console.print(f"Calls: {admitted:,} admitted, {rejected:,} rejected over the fleet; license keys: "
                  + ", ".join(f"{n:,} {status}" for status, n in sorted(states.items())))


REFUSED_CALLS_SHOWN = 15


def render_replay(replay: dict, console: Console) -> None:
    """What a replayed SMDR file's calls would have met on the plan."""
    console.print()
    console.print(f"[bold]Replay of {replay['file']}[/bold] on unit {replay['unit']}: {replay['records']:,} records "
                  f"in {replay['lines_read']:,} lines made {replay['calls']:,} calls "
                  f"({replay['multi_segment_calls']:,} of several segments"
                  + (f", {replay['incomplete_calls']:,} without their last record" if replay["incomplete_calls"] else "")
                  + ")")
    if replay["malformed_lines"]:
        shown = "; ".join(f"line {m['line']}: {m['error']}" for m in replay["malformed"][:3])
        more = replay["malformed_lines"] - min(3, len(replay["malformed"]))
        console.print(f"[yellow]{replay['malformed_lines']:,} lines are not records[/yellow] and were skipped: "
                      f"{shown}{f' (and {more:,} more)' if more > 0 else ''}")
    offered = replay["offered"]
    console.print(f"Calls: {offered:,} offered, {replay['admitted']:,} would have been admitted, "
                  f"[bold]{replay['refused']:,} refused[/bold]"
                  + (f" ({replay['refused'] / offered:.2%})" if offered else "")
                  + (f", of which {replay['cut_short']:,} on a later segment" if replay["cut_short"] else "")
                  + f": {refusals_text(replay['rejections'])}")
    if replay["skipped"]:
        devices = ", ".join(f"{d['device']} ({d['calls']:,})" for d in replay["skipped_devices"][:6])
        console.print(f"[yellow]{replay['skipped']:,} calls skipped[/yellow]: they name devices the plan does not "
                      f"have: {devices}{', …' if len(replay['skipped_devices']) > 6 else ''}")
    if replay["up_at_end"] or replay["not_started"]:
        console.print(f"{replay['up_at_end']:,} calls still up and {replay['not_started']:,} not yet started when "
                      "the run stopped")
    if replay["refused_calls"]:
        table = _table("Refused calls" + (f" (first {REFUSED_CALLS_SHOWN} of {replay['refused']:,}; every call: "
                                          "ipo-emu replay --csv)" if replay["refused"] > REFUSED_CALLS_SHOWN else ""),
                       ["line", "call id", "start", "s", "caller", "called", "reason", "detail"])
        for call in replay["refused_calls"][:REFUSED_CALLS_SHOWN]:
            table.add_row(str(call["line"]), str(call["call_id"]), call["start"], str(call["duration_s"]),
                          call["caller"], call["called"], call["reason"], call["detail"] or "")
        console.print(table)


def render_sizing(sizing: dict, console: Console) -> None:
    share = sizing["max_refused"]
    console.print()
    target = "refuse none of" if not share else f"refuse at most {share:.2%} ({sizing['budget']:,}) of"
    table = _table(f"What would {target} the {sizing['calls']:,} calls, each pool on its own "
                   f"({sizing['replays']} replays)", ["unit", "pool", "what", "planned", "needed", "unit cap", "refused"])
    for pool in sizing["pools"]:
        cap = _dash(pool["capacity"]) + (" [red]exceeded[/red]" if pool["exceeds_capacity"] else "")
        table.add_row(pool["unit"], pool["pool"], pool["kind"], str(pool["planned"]), f"[bold]{pool['needed']}[/bold]",
                      cap, f"{pool['refused_alone']:,}")
    console.print(table)
    together = sizing["together_refused"]
    console.print(f"All of them together: {together:,} calls refused ({sizing['together_share']:.2%})"
                  + (f": {refusals_text(sizing['together_rejections'])}" if together else ""))


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _channels(needed: int | None) -> str:
    return f"> {MAX_CHANNELS:,}" if needed is None else str(needed)
