"""The periodic jobs every process runs for the whole cluster, registered with its node.

Any live process may do each of them; Lua scripts and conditional UPDATEs make sure
exactly one wins each piece of work.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from calls.signaling import departures, direct, history, presence
from calls.signaling.node import Node

logger = logging.getLogger("calls.node")


async def reap(self_id: str, now: float | None = None) -> None:
    """Peers of dead processes leave when the lease runs out (unless resumed); so do detached peers not resumed."""
    now = time.time() if now is None else now
    ttl = settings.SIGNALING_NODE_TTL
    grace = settings.SIGNALING_RESUME_GRACE
    for node_id, deadline in await presence.dead_nodes_with_deadlines(now):
        if node_id != self_id:
            # Its clients lost their sockets when it died, at or after its last renewal
            # (deadline - ttl), and could resume elsewhere since; their window ends with the
            # lease (or sooner, with a grace shorter than the lease), so they leave right now.
            records = await presence.peers_of_node(node_id)
            count = await presence.reap_node(node_id, deadline - ttl + min(grace, ttl))
            if count:
                # Only the reaper that won writes the rows, before the departures below close them.
                recovered = await history.recover_sessions(records)
                logger.info("reaped dead node", extra={"node": node_id, "peers": count, "recovered": recovered})
    for peer in await presence.expired_detached(now):
        # A client may resume between this read and the removal: remove only what is still expired.
        await departures.remove_and_announce(peer, None, expired_by=now)


def install(node: Node) -> None:
    """Register the sweeps with this process's node (idempotent)."""
    node.add_job("reap", lambda: reap(node.id))
    node.add_job("ring-timeouts", direct.sweep_ringing)
    node.add_job("abandoned-calls", direct.sweep_abandoned, every=4)  # a database query: not every tick
