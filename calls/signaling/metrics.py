"""Prometheus metrics for signaling, TURN and calls.

With PROMETHEUS_MULTIPROC_DIR set (the local cluster and the systemd units set it), every
daphne process writes its values there and any process's /metrics reports them all, so a
scrape through the proxy is deterministic; otherwise each process reports its own.
The /metrics view (calls.health) answers only the addresses in METRICS_ALLOWED.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess

from calls.signaling.protocol import RELAY_TYPES, LeaveReason

CONNECTIONS = Gauge("rtc_connections", "Open signaling connections, per process", ["node"], multiprocess_mode="liveall")
CONNECTS = Counter("rtc_connects", "Signaling connections accepted", ["resumed"])
REFUSED = Counter("rtc_connections_refused", "Signaling connections refused", ["code"])
JOINS = Counter("rtc_joins", "Room joins")
LEAVES = Counter("rtc_leaves", "Room departures", ["reason"])
RELAYED = Counter("rtc_relayed_frames", "Relayed offer/answer/candidate frames, counted at the sender", ["type"])
ERRORS = Counter("rtc_errors", "Error frames sent, by code", ["code"])
CHAT = Counter("rtc_chat_messages", "Chat messages accepted")
RATE_LIMITED = Counter("rtc_rate_limited", "Frames refused by the per-connection rate limit")
SLOW_READERS = Counter("rtc_slow_readers", "Connections closed because too much waited for the client to read it")
RELAY_LATENCY = Histogram(
    "rtc_relay_latency_seconds",
    "Time from a frame's arrival at the sender's process to its delivery by the receiver's",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
TURN_CREDENTIALS = Counter("rtc_turn_credentials_issued", "TURN credentials issued")
CALLS = Counter("rtc_calls", "Direct calls by final state", ["state"])

# Children bound once: the relay path must not look labels up per frame, nor a connect or a leave.
RELAYED_BY_TYPE = {kind: RELAYED.labels(kind) for kind in RELAY_TYPES}
CONNECTS_BY_RESUMED = {resumed: CONNECTS.labels(str(resumed).lower()) for resumed in (False, True)}
LEAVES_BY_REASON = {reason: LEAVES.labels(str(reason)) for reason in LeaveReason}


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        _multiprocess.MultiProcessCollector(collected)
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


def process_exiting() -> None:
    """Drop this process's live gauges from the shared multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.mark_process_dead(os.getpid())
