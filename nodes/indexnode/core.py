"""IndexNode logic: a loop that pulls build tasks from datacoord (``AcquireIndexTask``), reads
the segment's vector column from object storage, builds the index with faiss, writes it to
``index_files/{build_id}/index`` and reports the result (``ReportIndexTask``: Finished with the
path, or Failed with the error text). It polls every ``IDLE_POLL_S`` while there is no work.
A report that cannot be delivered is retried until it is (or the node stops; datacoord then
hands the task out again once this node's session is gone).
"""
from __future__ import annotations

import json
import time

from common.index.faiss_index import build_index
from common.runtime import RoleComponent, RoleContext
from common.schema_proto import schema_from_proto
from common.storage.layout import index_file_path
from dataplane.segment_file import read_segment_file
from proto.internal import datacoord_pb2
from proto.milvus import common_pb2

IDLE_POLL_S = 0.2
RETRY_MAX_S = 2.0


class IndexNode(RoleComponent):
    """Implements ``common.interfaces.IndexNode`` (health only)."""

    role = "indexnode"

    def __init__(self, context: RoleContext) -> None:
        super().__init__(context.node_id)
        self._context = context
        self.builds = 0  # builds finished by this node (for tests and logs)

    def _start(self) -> None:
        self.spawn(self._loop, "builder")

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                task = self._context.datacoord.acquire_index_task(
                    datacoord_pb2.AcquireIndexTaskRequest(node_id=self._context.node_id))
            except Exception as exc:  # noqa: BLE001 - datacoord may be restarting
                self.log.warning("AcquireIndexTask failed: %s", exc)
                self._stopping.wait(RETRY_MAX_S)
                continue
            if not task.has_task:
                self._stopping.wait(IDLE_POLL_S)
                continue
            self._report(self.build(task))

    def build(self, task: datacoord_pb2.AcquireIndexTaskResponse) -> datacoord_pb2.ReportIndexTaskRequest:
        """Build one task's index; the report to send (Finished or Failed)."""
        report = datacoord_pb2.ReportIndexTaskRequest(node_id=self._context.node_id, build_id=task.build_id)
        started = time.monotonic()
        try:
            index = task.index
            schema = schema_from_proto(task.collection.schema)
            # the file's bytes are dropped once decoded: only the column stays during the build
            vectors = read_segment_file(self._context.storage.get(task.segment.insert_log), schema,
                                        fields=[index.field_name])[index.field_name]
            params = json.loads(index.params_json) if index.params_json else {}
            built = build_index(vectors, index.index_type, index.metric_type, params)
            path = index_file_path(task.build_id)
            self._context.storage.put(path, built.serialize())
        except Exception as exc:  # noqa: BLE001 - any failure is reported with its text
            self.log.warning("build %d (segment %d, index %s) failed: %s", task.build_id, task.segment.segment_id,
                             task.index.index_name, exc)
            report.state = common_pb2.IndexState.Failed
            report.fail_reason = f"{type(exc).__name__}: {exc}"
            return report
        self.builds += 1
        self.log.info("built %s index %d for segment %d (%d rows) in %.2fs", index.index_type, task.build_id,
                      task.segment.segment_id, len(vectors), time.monotonic() - started)
        report.state = common_pb2.IndexState.Finished
        report.index_path = path
        return report

    def _report(self, report: datacoord_pb2.ReportIndexTaskRequest) -> None:
        delay = 0.05
        while not self._stopping.is_set():
            try:
                self._context.datacoord.report_index_task(report)
                return
            except Exception as exc:  # noqa: BLE001 - retried: the build is done
                self.log.warning("ReportIndexTask(%d) failed: %s", report.build_id, exc)
            self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)
