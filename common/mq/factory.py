"""The cluster's log backend, chosen by ``mq.type``: ``zmq`` (the broker role, found through
its etcd session) or ``natsmq`` (NATS JetStream at ``mq.natsmq_servers``)."""
from __future__ import annotations

from common.config import Config
from common.errors import ParameterInvalid, ServiceNotReady
from common.interfaces.log import Log
from common.kv.base import MetaKV

MQ_TYPES = ("zmq", "natsmq")


def mq_type(config: Config) -> str:
    """``mq.type``, checked: ParameterInvalid names a value that is not a backend."""
    kind = str(config.get("mq", "type")).strip().lower()
    if kind not in MQ_TYPES:
        raise ParameterInvalid(f"mq.type must be one of {', '.join(MQ_TYPES)}, got {kind!r}")
    return kind


def natsmq_settings(config: Config) -> tuple[list[str], int]:
    """``mq.natsmq_servers`` (parsed) and ``mq.natsmq_replicas`` (1-5), checked: ParameterInvalid
    names a malformed server or a replica count out of range."""
    from common.errors import MqFailed
    from common.mq.natsmq import MAX_REPLICAS, parse_servers

    try:
        servers = parse_servers(config.get("mq", "natsmq_servers"))
    except MqFailed as exc:
        raise ParameterInvalid(str(exc)) from None
    replicas = int(config.get("mq", "natsmq_replicas"))
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ParameterInvalid(f"mq.natsmq_replicas must be 1-{MAX_REPLICAS}, got {replicas}")
    return servers, replicas


def make_log(config: Config, kv: MetaKV, name: str = "milvus-py") -> Log:
    """The log client of this cluster's backend (``name`` labels a NATS connection)."""
    if mq_type(config) == "natsmq":
        from common.mq.natsmq import NatsLog

        servers, replicas = natsmq_settings(config)
        if not servers:
            raise ServiceNotReady("mq.natsmq_servers is empty: start the cluster with `milvus-py run standalone` "
                                  "or set MILVUSPY_MQ_NATSMQ_SERVERS")
        return NatsLog(servers, replicas, name=name)
    from common.mq.client import BrokerClient
    from common.runtime import wait_for_address

    return BrokerClient(wait_for_address(kv, "broker"))
