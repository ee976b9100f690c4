"""The signaling runtime: the WebSocket consumer and everything it stands on.

What it owns: the wire protocol, connection state, rooms and presence in Redis, the
messages between processes, direct-call state, leases, reaping and draining. It may
import models and the small shared helpers of `calls` (addresses, logging context), and
never views, the API or the admin (tests/unit/test_architecture.py enforces it).
"""
