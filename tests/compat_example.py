"""The a3s-lane Python SDK example (SPEC §11), written against the SDK.

Change only the import line to ``from lanecore.compat import Lane, LaneConfig`` and it runs
unchanged on lanecore; tests/test_compat.py runs it both ways and compares the output.
"""

import threading

from _a3s_lane import PyLane as Lane, PyLaneConfig as LaneConfig  # isort: skip

# A queue with two custom lanes: "high" (priority 0 = most urgent) and "low".
lane = Lane.with_lanes(
    [
        LaneConfig("high", priority=0, min_concurrency=1, max_concurrency=4),
        LaneConfig("low", priority=10, min_concurrency=1, max_concurrency=2),
    ]
)
lane.start()

# Every lifecycle event, and only the failures.
events = lane.subscribe()
failures = lane.subscribe_filtered(["queue.command.failed", "queue.command.timeout"])

# submit() blocks until the command is done; a command with no handler echoes its payload.
print("greet ->", lane.submit("high", "greet", {"hello": "world"}))

# submit() is thread-safe: 8 threads, 4 commands each, on both lanes.
results = {}
results_lock = threading.Lock()


def worker(n):
    lane_id = "high" if n % 2 == 0 else "low"
    for i in range(4):
        result = lane.submit(lane_id, "work", {"worker": n, "item": i, "tags": ("a", "b")})
        with results_lock:
            results[(n, i)] = (lane_id, result)


threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for (n, i), (lane_id, result) in sorted(results.items()):
    print(f"worker {n} item {i} on {lane_id} ->", result)

# Statistics: totals, and one entry per lane.
stats = lane.stats()
print(f"pending={stats.total_pending} active={stats.total_active} lanes={len(stats.lanes)}")
for status in sorted(stats.lanes, key=lambda s: s.lane_id):
    print(
        f"  {status.lane_id}: pending={status.pending} active={status.active} "
        f"min={status.min_concurrency} max={status.max_concurrency}"
    )

# Read the events back: each has a key, a payload and an RFC 3339 timestamp.
first = events.recv(timeout_ms=1000)
print("first event:", first.key, first.payload["lane_id"], "T" in first.timestamp)
counts = {}
event = first
while event is not None:
    counts[event.key] = counts.get(event.key, 0) + 1
    event = events.recv(timeout_ms=200)
for key in sorted(counts):
    print(f"  {key}: {counts[key]}")
print("failures:", failures.recv(timeout_ms=100))

# Errors are RuntimeErrors.
try:
    lane.submit("nowhere", "work")
except RuntimeError as exc:
    print("unknown lane:", exc)

# Graceful shutdown: stop accepting work, then wait for what is in flight.
lane.shutdown()
print("shutdown event:", events.recv(timeout_ms=1000).key)
lane.drain(timeout_secs=30.0)
try:
    lane.submit("high", "work", {"late": True})
except RuntimeError as exc:
    print("after shutdown:", exc)

# The default lanes: system, control, query, session, skill and prompt.
default = Lane()
default.start()
print("query ->", default.submit("query", "lookup", ["x", 1, None]))
print("default lanes:", sorted(status.lane_id for status in default.stats().lanes))
default.shutdown()
default.drain(timeout_secs=5.0)
print("done")
