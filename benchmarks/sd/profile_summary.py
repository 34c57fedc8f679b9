#!/usr/bin/python3
"""Top operators by self time in a libtorch profiler chrome trace: the one baseline.py --profile
writes, or Atelier's (ATELIER_TORCH_PROFILE=FILE set for the Java process; the native UNet
forward writes it). Self time = an op's duration minus the ops nested in it on the same thread.

  profile_summary.py TRACE.json [TOP (15)]
"""
import collections
import json
import sys


def main():
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    events = [e for e in events if e.get("ph") == "X" and "dur" in e]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e.get("tid")].append(e)
    self_us = collections.Counter()
    calls = collections.Counter()
    wall = 0
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        for e in evs:
            while stack and e["ts"] >= stack[-1][0]:
                end, name, child, dur = stack.pop()
                self_us[name] += dur - child
            if stack:
                stack[-1][2] += e["dur"]
            else:
                wall += e["dur"]
            stack.append([e["ts"] + e["dur"], e["name"], 0, e["dur"]])
            calls[e["name"]] += 1
        while stack:
            end, name, child, dur = stack.pop()
            self_us[name] += dur - child
    total = sum(self_us.values())
    print(f"{path}: {wall / 1e6:.2f} s in top-level ops, {len(events)} events")
    print(f"{'op':40s} {'self s':>8s} {'share':>6s} {'calls':>6s}")
    for name, us in self_us.most_common(top):
        print(f"{name[:40]:40s} {us / 1e6:8.3f} {100 * us / total:5.1f}% {calls[name]:6d}")


if __name__ == "__main__":
    main()
