#!/usr/bin/env python3
"""Fan-out of Agent's notification stream: LISTENERS streams on one environment, then
ROUNDS datafile publishes; per round, how long from the start of the publish until each
listener had the project_config_update (p50, p99, last).

    sse_fanout.py HOST:PORT SDK_KEY ADMIN_TOKEN DATAFILE [LISTENERS] [ROUNDS]
"""
import asyncio
import json
import sys
import time
import urllib.request


async def listen(host, port, key, subscribed, rounds, arrivals):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            "GET /v1/notifications/event-stream?filter=project_config_update HTTP/1.1\r\n"
            f"Host: {host}\r\nX-Optimizely-SDK-Key: {key}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise SystemExit(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    # The answer's head comes once the subscription is in place.
    subscribed.release()
    for _ in range(rounds):
        while True:
            line = await reader.readline()
            if not line:
                raise SystemExit("a stream ended early")
            if b"project_config_update" in line:
                arrivals.append(time.perf_counter())
                break
    writer.close()


def publish(base, key, token, datafile, revision):
    body = json.dumps({**datafile, "revision": str(revision)}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/environments/{key}/datafile",
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        answer.read()


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


async def main():
    address, key, token, path = sys.argv[1:5]
    listeners = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    host, port = address.rsplit(":", 1)
    with open(path) as f:
        datafile = json.load(f)
    subscribed = asyncio.Semaphore(0)
    shared = []
    tasks = [asyncio.create_task(listen(host, int(port), key, subscribed, rounds, shared)) for _ in range(listeners)]
    for _ in range(listeners):
        await asyncio.wait_for(subscribed.acquire(), 60)
    print(f"{listeners} streams open")
    loop = asyncio.get_running_loop()
    for r in range(rounds):
        shared.clear()
        started = time.perf_counter()
        await loop.run_in_executor(None, publish, f"http://{address}", key, token, datafile, 10_000 + r)
        published = time.perf_counter()
        while len(shared) < listeners:
            await asyncio.sleep(0.001)
        delays = sorted((t - started) * 1000 for t in shared)
        print(
            f"round {r + 1}: publish answered {1000 * (published - started):.1f} ms; all {listeners} notified: "
            f"p50 {percentile(delays, 50):.1f} ms, p99 {percentile(delays, 99):.1f} ms, last {delays[-1]:.1f} ms"
        )
    await asyncio.gather(*tasks)


asyncio.run(main())
