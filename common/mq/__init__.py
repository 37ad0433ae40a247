"""The ZeroMQ log broker: durable, append-only per-channel logs, their server and client.

- :class:`ChannelLog` (``log.py``): the on-disk log of one channel.
- :class:`BrokerServer` (``server.py``): serves a directory of channel logs over ZeroMQ with
  group-committed (fsynced) produces and long-polling fetches.
- :class:`BrokerClient`, :class:`Subscription` (``client.py``): the thread-safe client.
- ``role_server.py``: the broker as a role (``create_server``: a RoleServer whose etcd session
  publishes the ZeroMQ endpoint), as every role's ``server.py``; not imported here, so the
  client does not pull in the gRPC runtime.
"""
from common.mq.client import BrokerClient, Subscription
from common.mq.log import ChannelLog, OffsetOutOfRange
from common.mq.protocol import validate_channel
from common.mq.server import BrokerServer

__all__ = ["BrokerClient", "BrokerServer", "ChannelLog", "OffsetOutOfRange", "Subscription",
           "validate_channel"]
