"""A producer process of the Log contract tests: ``python -m tests.support.log_producer KIND
ENDPOINT CHANNEL APPENDS TAG`` appends APPENDS times 1-3 records ``TAG-i-k`` to CHANNEL and
prints the first offset of each append as a JSON list."""
from __future__ import annotations

import json
import sys

from common.interfaces.log import Log
from common.mq import BrokerClient
from common.mq.natsmq import NatsLog


def main(kind: str, endpoint: str, channel: str, appends: int, tag: str) -> None:
    log: Log = BrokerClient(endpoint, timeout_s=10) if kind == "zmq" else NatsLog([endpoint], timeout_s=10)
    try:
        firsts = [log.produce(channel, [(i, f"{tag}-{i}-{k}".encode()) for k in range(1 + i % 3)])
                  for i in range(appends)]
    finally:
        log.close()
    print(json.dumps(firsts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
