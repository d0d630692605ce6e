"""The round trip between two hosts, measured without ping: the time a TCP connect to a
listening port takes (SYN out, SYN-ACK back) is one round trip plus the kernels' own work.

Run where the trip starts (`ip netns exec NS python -m bench.netrtt HOST PORT [COUNT]`); it
prints one JSON line: every connect's time in ms and their median."""

from __future__ import annotations

import json
import socket
import statistics
import sys
import time


def connect_times_ms(host: str, port: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        with socket.create_connection((host, port), timeout=2.0):
            times.append((time.perf_counter() - began) * 1000)
        time.sleep(0.02)
    return times


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    host, port = args[0], int(args[1])
    count = int(args[2]) if len(args) > 2 else 20
    times = connect_times_ms(host, port, count)
    print(json.dumps({"rtt_ms": [round(t, 4) for t in times],
                      "median_ms": round(statistics.median(times), 4)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
