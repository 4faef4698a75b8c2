"""A checker for the Chrome trace event JSON that coroloop.debug.record_trace writes.

``check_trace(trace)`` raises AssertionError naming the first event that breaks a
rule, and returns the events grouped for further checks.  The rules are those of
the trace event format that Perfetto and chrome://tracing rely on:

* every event has ``ph``, ``pid``, ``tid`` and ``name``; every non-metadata event a
  numeric ``ts`` (microseconds); ``X`` has ``dur >= 0``; ``i`` has a scope
  ``s`` in t/p/g; ``C`` has numeric ``args``; ``s``/``f`` have ``id`` and ``cat``
  (and ``f`` binds to its enclosing slice, ``bp == "e"``);
* slices on one track (pid, tid) nest properly: each is inside the one still open
  or starts after it ended (coroloop's never overlap at all);
* timestamps on a track are monotonic in file order, for slices and instants alike;
* flows are paired: each (cat, id) has exactly one start and one finish, the finish
  not before the start, each strictly inside a slice of its track (not at an edge,
  where a viewer could bind it to the neighbouring slice);
* every track with events has a thread_name, every process a process_name.
"""

from __future__ import annotations

from collections import defaultdict

PHASES = {"M", "X", "s", "f", "C", "i"}


def _ns(us: float) -> int:
    return round(us * 1000)


def check_trace(trace: dict) -> dict:
    assert isinstance(trace, dict) and isinstance(trace.get("traceEvents"), list), \
        "a trace is an object with a traceEvents list"
    events = trace["traceEvents"]
    slices = defaultdict(list)       # (pid, tid) -> X events in file order
    on_track = defaultdict(list)     # (pid, tid) -> every timed event in file order
    thread_names, process_names = {}, {}
    flows = defaultdict(dict)        # (cat, id) -> {"s": event, "f": event}
    for event in events:
        ph = event.get("ph")
        assert ph in PHASES, f"unknown phase: {event}"
        for key in ("pid", "tid", "name"):
            assert key in event, f"{key} missing: {event}"
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        if ph == "M":
            assert isinstance(event.get("args"), dict), f"metadata without args: {event}"
            if event["name"] == "thread_name":
                thread_names[(event["pid"], event["tid"])] = event["args"]["name"]
            elif event["name"] == "process_name":
                process_names[event["pid"]] = event["args"]["name"]
            continue
        assert isinstance(event.get("ts"), (int, float)), f"no numeric ts: {event}"
        track = (event["pid"], event["tid"])
        if ph == "X":
            assert isinstance(event.get("dur"), (int, float)) and event["dur"] >= 0, event
            assert isinstance(event.get("cat"), str), event
            slices[track].append(event)
        elif ph == "i":
            assert event.get("s") in ("t", "p", "g"), f"instant without scope: {event}"
        elif ph == "C":
            args = event.get("args")
            assert args and all(isinstance(v, (int, float)) for v in args.values()), event
        else:  # s / f
            assert "id" in event and isinstance(event.get("cat"), str), event
            if ph == "f":
                assert event.get("bp") == "e", f"a finish binds to its enclosing slice: {event}"
            pair = flows[(event["cat"], event["id"])]
            assert ph not in pair, f"flow {event['cat']}:{event['id']} has two {ph!r} events"
            pair[ph] = event
        if ph != "C" and not (ph == "i" and event["s"] != "t"):
            on_track[track].append(event)

    for track, timed in on_track.items():
        times = [_ns(e["ts"]) for e in timed]
        assert times == sorted(times), f"timestamps on track {track} go back in time"
        assert track in thread_names, f"track {track} has no thread_name"
        assert track[0] in process_names, f"process {track[0]} has no process_name"

    for track, xs in slices.items():
        stack = []  # (start, end) of the open slices, innermost last
        for event in xs:
            start, end = _ns(event["ts"]), _ns(event["ts"]) + _ns(event["dur"])
            while stack and start >= stack[-1][1]:
                stack.pop()
            if stack:
                assert end <= stack[-1][1], (
                    f"slice {event} on {track} overlaps its enclosing slice {stack[-1]}")
            stack.append((start, end))

    for key, pair in flows.items():
        assert set(pair) == {"s", "f"}, f"flow {key} is not paired: {pair}"
        assert _ns(pair["f"]["ts"]) >= _ns(pair["s"]["ts"]), f"flow {key} goes back in time"
        for ph, event in pair.items():
            track = (event["pid"], event["tid"])
            at = _ns(event["ts"])
            # Strictly inside: a tie with a slice's start or end may bind elsewhere.
            assert any(_ns(x["ts"]) < at < _ns(x["ts"]) + _ns(x["dur"])
                       for x in slices[track]), f"flow {ph} {event} is in no slice of {track}"
    return {"slices": slices, "flows": flows, "thread_names": thread_names,
            "process_names": process_names, "events": events}
