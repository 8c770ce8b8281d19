#!/usr/bin/python3
"""Checks a trace_tool to-chrome file the way Perfetto's JSON importer needs it.

usage: chrome_trace_check.py FILE.json

Every event has name, ph, ts, pid and tid; slices have dur >= 0; compute and
communication events never share a track (tid); on every track, slices nest
properly (Perfetto drops or misdraws slices that partly overlap on a track);
every track used has a thread_name. Prints a one-line summary; exits non-zero
with the reason otherwise.
"""
import collections
import json
import sys


def fail(message):
    print("chrome_trace_check: " + message, file=sys.stderr)
    sys.exit(1)


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    events = doc.get("traceEvents")
    if not isinstance(events, list) or not events:
        fail("no traceEvents list")
    tids_by_cat = collections.defaultdict(set)
    slices = collections.defaultdict(list)
    named = set()
    for i, e in enumerate(events):
        for key in ("name", "ph", "ts", "pid", "tid"):
            if key not in e:
                fail("event %d has no %s: %r" % (i, key, e))
        if not isinstance(e["ts"], (int, float)) or e["ts"] < 0:
            fail("event %d has a bad ts: %r" % (i, e))
        if e["ph"] == "X":
            if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
                fail("slice %d has a bad dur: %r" % (i, e))
            slices[(e["pid"], e["tid"])].append((e["ts"], e["dur"], e["name"]))
        if e["ph"] == "M" and e["name"] == "thread_name":
            named.add((e["pid"], e["tid"]))
        tids_by_cat[e.get("cat", "")].add(e["tid"])
    compute = tids_by_cat["compute"] | tids_by_cat["step"]
    comm = tids_by_cat["comm"]
    if not tids_by_cat["compute"] or not comm:
        fail("expected both compute and comm events")
    if compute & comm:
        fail("compute and comm share tids %s" % sorted(compute & comm))
    for track, items in slices.items():
        if track not in named:
            fail("track %r has no thread_name" % (track,))
        # Longest first at equal start, so a parent precedes its children.
        items.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for ts, dur, name in items:
            while stack and stack[-1][0] <= ts + 1e-9:
                stack.pop()
            if stack and ts + dur > stack[-1][0] + 1e-9:
                fail("on track %r, %r at %.3f overlaps %r without nesting" %
                     (track, name, ts, stack[-1][1]))
            stack.append((ts + dur, name))
    print("chrome_trace_check: %d events, %d slices on %d tracks, OK" %
          (len(events), sum(len(v) for v in slices.values()), len(slices)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: chrome_trace_check.py FILE.json")
    main(sys.argv[1])
