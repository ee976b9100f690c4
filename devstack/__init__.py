"""The development stack: the real servers `make run`, `make cluster`, the tests and the benchmarks use.

Redis, Sentinel, Coturn, daphne and nginx (with TLS), alone or as a cluster, each started
in its own session, waited for by probing what it serves and stopped by PID. Nothing here
imports Django: it runs before settings can be loaded (REDIS_URL and TURN_* are only known
once Redis and Coturn are up). One module a concern:

- procs: Proc, spawn, wait_until, the tcp_open/http_ok probes, free ports, Stack, require
- redis, coturn, daphne, nginx: one server each
- cluster: whole topologies and manage.py
- cli: `python -m devstack run|cluster|manage`
"""

from devstack.cluster import Cluster, collect_static, compile_messages, manage, start_cluster, start_single
from devstack.coturn import Coturn, coturn_loopback_config, start_coturn
from devstack.daphne import Daphne, start_daphne, start_daphnes
from devstack.nginx import nginx_config, start_nginx, write_config
from devstack.procs import (
    Proc,
    Stack,
    StackError,
    free_port,
    free_port_pair,
    http_ok,
    require,
    spawn,
    tcp_open,
    wait_until,
)
from devstack.redis import Redis, start_redis, start_sentinel

__all__ = [
    "Cluster",
    "Coturn",
    "Daphne",
    "Proc",
    "Redis",
    "Stack",
    "StackError",
    "collect_static",
    "compile_messages",
    "coturn_loopback_config",
    "free_port",
    "free_port_pair",
    "http_ok",
    "manage",
    "nginx_config",
    "require",
    "spawn",
    "start_cluster",
    "start_coturn",
    "start_daphne",
    "start_daphnes",
    "start_nginx",
    "start_redis",
    "start_sentinel",
    "start_single",
    "tcp_open",
    "wait_until",
    "write_config",
]
