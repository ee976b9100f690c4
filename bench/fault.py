"""Fault run: malformed frames and connection churn against two daphne processes, bystanders watched.

    .venv/bin/python bench/fault.py                          # 10,000 bad frames, 500 connect/close cycles
    .venv/bin/python bench/fault.py --frames 1000 --cycles 60  # the short run the test suite makes

While two rooms of bystanders (one peer on each process) relay numbered frames, several
attackers send malformed frames (mutated frames, random text, binary, invalid UTF-8,
oversized, deep nesting), reconnecting whenever the server closes them; then connections
are opened and closed fast, cleanly or by cutting the TCP connection. At the end, every
bystander frame must have arrived, no server log may hold a traceback, presence must hold
only the bystanders, and Redis pub/sub subscriptions and process memory must be back near
their baseline. Prints the figures; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
sys.path.insert(0, str(BASE / "bench"))

import redis  # noqa: E402
from run import Bench  # noqa: E402

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
GRACE = 3  # resume window in this run: dropped peers must be gone soon after


class RawSocket:
    """A WebSocket client that can send anything: invalid UTF-8, binary, frames of any size."""

    def __init__(self, port: int, session: str) -> None:
        self.port, self.session = port, session
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> bool:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET /ws/signal/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{self.port}\r\nCookie: sessionid={self.session}\r\n\r\n"
            ).encode()
        )
        status = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        return b" 101 " in status.split(b"\r\n", 1)[0]

    def send(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def drain_reads(self) -> None:
        """Read (and drop) whatever the server sends, until it closes."""
        try:
            while await self.reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass

    def cut(self) -> None:
        """Drop the TCP connection without a close frame."""
        sock = self.writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # the server closed it already
        self.writer.close()


def malformed(rng: random.Random, room: str) -> tuple[bytes, int]:
    """One bad frame: (payload, opcode)."""
    valid = json.dumps({"type": "offer", "room": room, "to": "x", "payload": {"type": "offer", "sdp": SDP}})
    kind = rng.randrange(7)
    if kind == 0:  # a valid frame with bytes flipped
        data = bytearray(valid.encode())
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(32, 127)
        return bytes(data), 1
    if kind == 1:  # random text
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randint(1, 300))).encode(), 1
    if kind == 2:  # binary
        return os.urandom(rng.randint(1, 500)), 2
    if kind == 3:  # invalid UTF-8 in a text frame: the server closes 1007
        return b'{"type": "ping", "x": "\xff\xfe"}', 1
    if kind == 4:  # over the frame limit
        return json.dumps({"type": "ping", "pad": "x" * 70_000}).encode(), 1
    if kind == 5:  # deep nesting
        depth = rng.choice([100, 2000, 20_000])
        return ("[" * depth + "]" * depth).encode(), 1
    wrong = [{"type": "join"}, {"type": "join", "room": 5}, {"type": "call", "user": None}, {"type": "accept"},
             {"type": "candidate", "room": room, "payload": {"candidate": 1}}, {"id": [1], "type": "ping"}]  # fmt: skip
    return json.dumps(rng.choice(wrong)).encode(), 1


async def attacker(port: int, session: str, frames: int, room: str, seed: int, counts: dict) -> None:
    rng = random.Random(seed)
    sent = 0
    while sent < frames:
        raw = RawSocket(port, session)
        if not await raw.open():
            counts["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        reading = asyncio.create_task(raw.drain_reads())
        try:
            while sent < frames and not reading.done():
                payload, opcode = malformed(rng, room)
                raw.send(payload, opcode)
                sent += 1
                counts["frames"] += 1
                if sent % 20 == 0:
                    await raw.writer.drain()
                    await asyncio.sleep(0)
        except (ConnectionError, OSError):
            pass
        counts["connections"] += 1
        raw.cut()
        reading.cancel()


class Bystander:
    """One peer in a room, relaying numbered candidates to its partner through the other process."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session
        self.received: list[int] = []

    async def open(self, room: str) -> None:
        from websockets.asyncio.client import connect

        origin = self.url.replace("ws://", "http://").split("/ws/")[0]
        self.ws = await connect(self.url, additional_headers={"Cookie": f"sessionid={self.session}"}, origin=origin)
        self.peer = json.loads(await self.ws.recv())["peer"]
        await self.ws.send(json.dumps({"type": "join", "room": room}))
        self.room = room

    async def listen(self) -> None:
        async for text in self.ws:
            frame = json.loads(text)
            if frame["type"] == "candidate":
                self.received.append(int(frame["payload"]["candidate"]))

    async def relay(self, to: str, count: int, rate: float) -> None:
        for i in range(count):
            payload = {"candidate": str(i), "sdpMid": "0", "sdpMLineIndex": 0}
            await self.ws.send(json.dumps({"type": "candidate", "room": self.room, "to": to, "payload": payload}))
            await asyncio.sleep(1 / rate)


async def churn(ports: list[int], sessions: list[str], cycles: int, counts: dict) -> None:
    """Open and close connections fast: every other one cleanly, the rest by cutting TCP."""
    for i in range(cycles):
        raw = RawSocket(ports[i % len(ports)], sessions[i % len(sessions)])
        if await raw.open():
            await asyncio.wait_for(raw.reader.read(4096), 10)  # hello
            if i % 2:
                raw.send(struct.pack("!H", 1000), opcode=8)
                await raw.writer.drain()
            raw.cut()
            counts["cycles"] += 1
        else:
            counts["refused"] += 1


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="rtcsite-fault-"))
    env = {"SIGNALING_RESUME_GRACE": str(GRACE), "SIGNALING_NODE_TTL": "4", "LOG_LEVEL": "INFO"}
    bench = Bench(work, extra_env=env)
    try:
        seeded = bench.seed(40, 2, max_peers=6)
        sessions, rooms = seeded["sessions"], seeded["rooms"]
        urls, ports = bench.urls(), [node.port for node in bench.nodes]
        r = redis.Redis.from_url(bench.redis.url)
        bystanders = []
        for room, (first, second) in zip(rooms, [(0, 1), (2, 3)], strict=True):
            a, b = Bystander(urls[0], sessions[first]), Bystander(urls[1], sessions[second])
            await a.open(room)
            await b.open(room)
            bystanders += [(a, b), (b, a)]
        listeners = [asyncio.create_task(peer.listen()) for peer, _ in bystanders]
        await asyncio.sleep(0.5)  # both joined; peers learn each other
        baseline_subs = len(r.pubsub_channels())
        baseline_rss = [rss_kib(node.proc.pid) for node in bench.nodes]
        bystander_peers = {peer.peer for peer, _ in bystanders}

        counts = {"frames": 0, "connections": 0, "refused": 0, "cycles": 0}
        started = time.monotonic()
        per = args.frames // args.attackers
        attack = [attacker(ports[i % 2], sessions[4 + i], per, rooms[i % 2], i, counts) for i in range(args.attackers)]
        relays = [sender.relay(receiver.peer, args.relayed, rate=40) for sender, receiver in bystanders]
        await asyncio.gather(*attack, *relays)
        attack_s = time.monotonic() - started
        await churn(ports, sessions[4 + args.attackers :], args.cycles, counts)
        await asyncio.sleep(1.0)  # last relayed frames in flight
        lost = {peer.peer: args.relayed - len(set(peer.received)) for peer, _ in bystanders}
        disordered = sum(peer.received != sorted(peer.received) for peer, _ in bystanders)

        # dropped peers leave after the resume window and the next reaper pass
        deadline = time.monotonic() + GRACE + 15
        while time.monotonic() < deadline:
            ghosts = {p.decode() for p in r.zrange(f"{bench.env.get('REDIS_PREFIX', 'rtc')}:peers", 0, -1)}
            ghosts -= bystander_peers
            subs = len(r.pubsub_channels())
            if not ghosts and subs <= baseline_subs:
                break
            await asyncio.sleep(0.5)
        rss = [rss_kib(node.proc.pid) for node in bench.nodes]
        tracebacks = sum(node.proc.log_path.read_text().count("Traceback") for node in bench.nodes)
        for task in listeners:
            task.cancel()
        print(f"bad frames sent: {counts['frames']} over {counts['connections']} attacker connections "
              f"in {attack_s:.1f} s ({counts['refused']} handshakes refused)")  # fmt: skip
        print(f"connect/close cycles: {counts['cycles']} of {args.cycles}")
        lost_total = sum(lost.values())
        print(f"bystander frames: {args.relayed} each way in 2 rooms; lost {lost_total}, out of order {disordered}")
        print(f"ghost peers: {len(ghosts)}; pub/sub channels: {baseline_subs} before, {subs} after")
        prefix = bench.env.get("REDIS_PREFIX", "rtc")
        for ghost in sorted(ghosts):  # enough to tell how it was left behind
            record = {k.decode(): v.decode() for k, v in r.hgetall(f"{prefix}:peer:{ghost}").items()}
            detached = r.zscore(f"{prefix}:detached", ghost)
            print(f"ghost {ghost}: {record} detached until {detached} (now {time.time():.3f})")
            for node in bench.nodes:
                for line in node.proc.log_path.read_text().splitlines():
                    if ghost in line or (record.get("conn") and record["conn"] in line):
                        print(f"  {node.proc.name}: {line[:300]}")
        print(f"RSS KiB per process: {baseline_rss} before, {rss} after")
        print(f"tracebacks in server logs: {tracebacks}")
        growth = max(after - before for before, after in zip(baseline_rss, rss, strict=True))
        failed = (
            lost_total or disordered or ghosts or subs > baseline_subs or tracebacks
            or counts["frames"] < args.frames or counts["cycles"] < args.cycles or growth > args.max_growth_kib
        )  # fmt: skip
        print("fault run:", "FAILED" if failed else "passed")
        return 1 if failed else 0
    finally:
        bench.stop()


def main() -> int:
    # Attackers keep writing after the server closed them, by design: asyncio's warning for each
    # such write ("socket.send() raised exception.") would bury the report.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000, help="malformed frames in all")
    parser.add_argument("--attackers", type=int, default=5, help="attacking connections at a time")
    parser.add_argument("--cycles", type=int, default=500, help="connect/close cycles")
    parser.add_argument("--relayed", type=int, default=400, help="frames each bystander relays")
    parser.add_argument("--max-growth-kib", type=int, default=30 * 1024, help="largest RSS growth of a process")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
