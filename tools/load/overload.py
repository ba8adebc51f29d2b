#!/usr/bin/env python3
"""Clients that try to exhaust a running `vario serve` on 127.0.0.1, and what it costs it.

  tools/load/overload.py batches ADDR PID [CLIENTS] [SECONDS]
      CLIENTS (1024) connections at once, each posting one maximum-size event batch
      (3.5 MiB, 2,000 events, fresh uuids) and posting it again after each 503 until it
      gets a 204, for at most SECONDS (600). Prints the 503s, the time, and the server's
      peak memory (VmHWM of /proc/PID/status), and writes the acknowledged uuids' count
      and prefix for the exactly-once check (`vario query`, see README.md).
  tools/load/overload.py idle ADDR PID [IDLE] [REQUESTS]
      IDLE (5000) idle connections opened (raise this shell's `ulimit -n` first), then
      REQUESTS (50) normal requests (a small event batch each) one after another on
      fresh connections: prints their median and slowest time while the idle ones are
      open, and the server's memory.

Bounded in count and time; loopback only.
"""
import asyncio
import json
import os
import sys
import time
import uuid

MAX_BODY = 3_670_016


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields["VmHWM"], fields["VmRSS"]


EVENTS = 2_000


def batch_parts(prefix, client, target=MAX_BODY - 4096):
    """The batch of `client` as pieces (so 1,024 of them need not be in memory at once);
    every client's batch has the same length."""
    pad = "p" * (target // EVENTS - 220)
    yield b'{"account_id":"1","project_id":"2","revision":"3","client_name":"overload","client_version":"1","visitors":['
    for start in range(0, EVENTS, 100):
        part = ",".join(
            json.dumps({"visitor_id": f"user-{client:05d}-{k:05d}", "attributes": [],
                        "snapshots": [{"events": [{"entity_id": "90001", "uuid": f"{prefix}-{client:05d}-{k:05d}",
                                                   "key": "purchase", "timestamp": 1_700_000_000_000,
                                                   "revenue": 100, "tags": {"note": pad}}]}]},
                       separators=(",", ":"))
            for k in range(start, start + 100))
        yield (("," if start else "") + part).encode()
    yield b"]}"


def batch_length(prefix):
    length = sum(len(p) for p in batch_parts(prefix, 0))
    assert length <= MAX_BODY, length
    return length


async def status_line(reader):
    while True:
        line = await reader.readline()
        if not line:
            return 0
        if line.startswith(b"HTTP/1.1 "):
            return int(line.split()[1])


async def post(host, port, body, path="/v1/events", length=None):
    """POSTs `body` (bytes, or an iterable of pieces of `length` bytes); the status, 0 when
    the connection failed."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        parts = [body] if isinstance(body, bytes) else body
        length = len(body) if length is None else length
        head = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                f"content-length: {length}\r\nconnection: close\r\n\r\n").encode()
        writer.write(head)
        answer = asyncio.ensure_future(status_line(reader))
        try:
            for part in parts:
                if answer.done():
                    break  # refused before the whole body was sent
                writer.write(part)
                await writer.drain()
        except ConnectionError:
            pass  # refused before the whole body was read: the answer may still be there
        return await answer
    except ConnectionError:
        return 0
    finally:
        writer.close()


async def batches(addr, pid, clients=1024, seconds=600):
    host, port = addr.rsplit(":", 1)
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    length = batch_length(prefix)
    statuses = {}
    acked = 0
    deadline = time.monotonic() + seconds
    start = time.monotonic()

    async def client(c):
        nonlocal acked
        while time.monotonic() < deadline:
            status = await post(host, port, batch_parts(prefix, c), length=length)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 204:
                acked += 1
                return
            await asyncio.sleep(1.0)  # Retry-After: 1

    await asyncio.gather(*(client(c) for c in range(clients)))
    hwm, rss = memory(pid)
    print(f"{clients} clients, {acked} batches of {length} bytes acknowledged ({acked * EVENTS} events) in "
          f"{time.monotonic() - start:.1f} s; answers {dict(sorted(statuses.items()))}")
    print(f"server peak memory VmHWM {hwm}, now VmRSS {rss}")
    print(f"uuid prefix {prefix}: expect {acked * EVENTS} events, each once")


async def idle(addr, pid, count=5000, requests=50):
    host, port = addr.rsplit(":", 1)
    open_ = []
    for _ in range(count):
        open_.append(await asyncio.open_connection(host, port))
    small = json.dumps({"account_id": "1", "project_id": "2", "revision": "3", "visitors": [
        {"visitor_id": "u", "attributes": [], "snapshots": [{"events": [
            {"entity_id": "9", "key": "purchase", "uuid": "", "timestamp": 1_700_000_000_000}]}]}]})
    times = []
    statuses = {}
    for i in range(requests):
        body = small.replace('"uuid": ""', f'"uuid": "{uuid.uuid4()}"').encode()
        t = time.monotonic()
        status = await post(host, port, body)
        times.append(time.monotonic() - t)
        statuses[status] = statuses.get(status, 0) + 1
    hwm, rss = memory(pid)
    times.sort()
    print(f"{count} idle connections open; {requests} requests: median {times[len(times) // 2] * 1000:.1f} ms, "
          f"slowest {times[-1] * 1000:.1f} ms; answers {statuses}")
    print(f"server peak memory VmHWM {hwm}, now VmRSS {rss}")
    for _, writer in open_:
        writer.close()


def main():
    mode, addr, pid, *rest = sys.argv[1:]
    if mode == "batches":
        asyncio.run(batches(addr, int(pid), *map(int, rest)))
    elif mode == "idle":
        asyncio.run(idle(addr, int(pid), *map(int, rest)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
