"""Our public API protos (proto/milvus/*.proto) must match pymilvus 2.6.17 field for field.

pymilvus's generated modules and ours define the same full names (``milvus.proto.common.Status``
...), so they cannot share a process's default descriptor pool. pymilvus is therefore imported
only in a subprocess, which prints its FileDescriptorProtos (serialized, base64 in JSON); this
process parses them as plain ``FileDescriptorProto`` messages and compares them with ours.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # the repo root holds the `proto` package
    sys.path.insert(0, str(REPO_ROOT))

from proto.milvus import common_pb2, feder_pb2, milvus_pb2, msg_pb2, rg_pb2, schema_pb2  # noqa: E402
OUR_MODULES = [common_pb2, schema_pb2, rg_pb2, feder_pb2, msg_pb2, milvus_pb2]
SERVICE = "milvus.proto.milvus.MilvusService"

# RPCs the service must have: the Milvus 2.0 API plus what pymilvus 2.6 calls for the core flow.
REQUIRED_RPCS = """
CreateCollection DropCollection HasCollection LoadCollection ReleaseCollection DescribeCollection
GetCollectionStatistics ShowCollections CreatePartition DropPartition HasPartition LoadPartitions
ReleasePartitions GetPartitionStatistics ShowPartitions CreateAlias DropAlias AlterAlias
CreateIndex DescribeIndex GetIndexState GetIndexBuildProgress DropIndex Insert Delete Search Flush
Query CalcDistance GetFlushState GetPersistentSegmentInfo GetQuerySegmentInfo GetMetrics
LoadBalance GetCompactionState ManualCompaction GetCompactionStateWithPlans Dummy
Connect GetVersion CheckHealth AllocTimestamp GetLoadingProgress GetLoadState Upsert HybridSearch
DescribeAlias ListAliases ListDatabases CreateDatabase DropDatabase DescribeDatabase GetReplicas
RenameCollection AlterCollection AlterIndex FlushAll GetFlushAllState
""".split()

_DUMP_SCRIPT = r"""
import base64, json, sys
from google.protobuf import descriptor_pb2
import pymilvus
from pymilvus.grpc_gen import common_pb2, schema_pb2, milvus_pb2, feder_pb2, msg_pb2, rg_pb2
files = {}
todo = [m.DESCRIPTOR for m in (common_pb2, schema_pb2, milvus_pb2, feder_pb2, msg_pb2, rg_pb2)]
while todo:
    fd = todo.pop()
    if fd.name in files:
        continue
    p = descriptor_pb2.FileDescriptorProto()
    fd.CopyToProto(p)
    files[fd.name] = base64.b64encode(p.SerializeToString()).decode()
    todo.extend(fd.dependencies)
json.dump({"version": pymilvus.__version__, "files": files}, sys.stdout)
"""


def _pymilvus_files() -> tuple[str, list[descriptor_pb2.FileDescriptorProto]]:
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # nothing of this repo (e.g. our `proto` package) on the child's path
    )
    assert proc.returncode == 0, f"dumping pymilvus descriptors failed:\n{proc.stderr}"
    data = json.loads(proc.stdout)
    out = []
    for blob in data["files"].values():
        p = descriptor_pb2.FileDescriptorProto()
        p.ParseFromString(base64.b64decode(blob))
        out.append(p)
    return data["version"], out


def _our_files() -> list[descriptor_pb2.FileDescriptorProto]:
    out = []
    for mod in OUR_MODULES:
        p = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(p)
        out.append(p)
    return out


class _Index:
    """Messages, enums and services of a set of files, by full name (no leading dot)."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]):
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.services: dict[str, descriptor_pb2.ServiceDescriptorProto] = {}
        for f in files:
            for e in f.enum_type:
                self.enums[f"{f.package}.{e.name}"] = e
            self._add_messages(f.package, f.message_type)
            for s in f.service:
                self.services[f"{f.package}.{s.name}"] = s

    def _add_messages(self, prefix, messages):
        for m in messages:
            full = f"{prefix}.{m.name}"
            self.messages[full] = m
            for e in m.enum_type:
                self.enums[f"{full}.{e.name}"] = e
            self._add_messages(full, m.nested_type)

    def is_map(self, type_name: str) -> bool:
        m = self.messages.get(type_name.lstrip("."))
        return bool(m is not None and m.options.map_entry)


def _field_sig(index: _Index, msg: descriptor_pb2.DescriptorProto, f) -> dict:
    oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
    return {
        "number": f.number,
        "type": descriptor_pb2.FieldDescriptorProto.Type.Name(f.type),
        "label": descriptor_pb2.FieldDescriptorProto.Label.Name(f.label),
        "type_name": f.type_name,
        "proto3_optional": f.proto3_optional,
        "oneof": oneof,
        "map": index.is_map(f.type_name) if f.type_name else False,
        "deprecated": f.options.deprecated,
        "json_name": f.json_name,
    }


def _compare(ours: _Index, theirs: _Index) -> list[str]:
    diffs: list[str] = []
    for name, m in sorted(ours.messages.items()):
        t = theirs.messages.get(name)
        if t is None:
            diffs.append(f"message {name}: not in pymilvus")
            continue
        if m.options.map_entry != t.options.map_entry:
            diffs.append(f"message {name}: map_entry {m.options.map_entry} != {t.options.map_entry}")
        mo = m.options.SerializeToString(deterministic=True)
        to = t.options.SerializeToString(deterministic=True)
        if mo != to:
            diffs.append(f"message {name}: options differ: ours {m.options} pymilvus {t.options}")
        our_fields = {f.name: _field_sig(ours, m, f) for f in m.field}
        their_fields = {f.name: _field_sig(theirs, t, f) for f in t.field}
        for fname in sorted(our_fields.keys() | their_fields.keys()):
            a, b = our_fields.get(fname), their_fields.get(fname)
            if a is None:
                diffs.append(f"message {name}: field {fname} missing (pymilvus: {b})")
            elif b is None:
                diffs.append(f"message {name}: field {fname} not in pymilvus")
            elif a != b:
                what = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
                diffs.append(f"message {name}: field {fname} differs (ours, pymilvus): {what}")
        our_oneofs = [o.name for o in m.oneof_decl]
        their_oneofs = [o.name for o in t.oneof_decl]
        if our_oneofs != their_oneofs:
            diffs.append(f"message {name}: oneofs {our_oneofs} != pymilvus {their_oneofs}")
        our_nested = sorted(n.name for n in m.nested_type) + sorted(e.name for e in m.enum_type)
        their_nested = sorted(n.name for n in t.nested_type) + sorted(e.name for e in t.enum_type)
        if our_nested != their_nested:
            diffs.append(f"message {name}: nested types {our_nested} != pymilvus {their_nested}")
    for name, e in sorted(ours.enums.items()):
        te = theirs.enums.get(name)
        if te is None:
            diffs.append(f"enum {name}: not in pymilvus")
            continue
        our_values = [(v.name, v.number, v.options.deprecated) for v in e.value]
        their_values = [(v.name, v.number, v.options.deprecated) for v in te.value]
        if our_values != their_values:
            diffs.append(
                f"enum {name}: values differ: only ours {sorted(set(our_values) - set(their_values))}, "
                f"only pymilvus {sorted(set(their_values) - set(our_values))}"
            )
        if e.options.SerializeToString() != te.options.SerializeToString():
            diffs.append(f"enum {name}: options differ: ours {e.options} pymilvus {te.options}")
    for sname, s in sorted(ours.services.items()):
        ts = theirs.services.get(sname)
        if ts is None:
            diffs.append(f"service {sname}: not in pymilvus")
            continue
        their_methods = {mm.name: mm for mm in ts.method}
        for mm in s.method:
            tm = their_methods.get(mm.name)
            if tm is None:
                diffs.append(f"rpc {sname}.{mm.name}: not in pymilvus")
                continue
            our_sig = (mm.input_type, mm.output_type, mm.client_streaming, mm.server_streaming)
            their_sig = (tm.input_type, tm.output_type, tm.client_streaming, tm.server_streaming)
            if our_sig != their_sig:
                diffs.append(f"rpc {sname}.{mm.name}: (in, out, cstream, sstream) {our_sig} != {their_sig}")
    return diffs


@pytest.fixture(scope="module")
def indexes() -> tuple[_Index, _Index]:
    version, their_files = _pymilvus_files()
    assert version == "2.6.17", f"the reference is pymilvus 2.6.17, found {version}"
    return _Index(_our_files()), _Index(their_files)


def test_packages_and_file_names():
    for mod in OUR_MODULES:
        fd = mod.DESCRIPTOR
        assert fd.name.startswith("proto/milvus/"), fd.name
        assert fd.package.startswith("milvus.proto."), fd.package
    assert common_pb2.DESCRIPTOR.package == "milvus.proto.common"
    assert schema_pb2.DESCRIPTOR.package == "milvus.proto.schema"
    assert milvus_pb2.DESCRIPTOR.package == "milvus.proto.milvus"


def test_identical_to_pymilvus(indexes):
    ours, theirs = indexes
    assert ours.messages and ours.enums and SERVICE in ours.services
    diffs = _compare(ours, theirs)
    assert not diffs, f"{len(diffs)} differences from pymilvus 2.6.17:\n" + "\n".join(diffs)


def test_comparison_detects_a_difference(indexes):
    """Guard against a vacuous comparison: a tampered copy of ours must be reported."""
    ours, theirs = indexes
    tampered = _Index(_our_files())
    status = tampered.messages["milvus.proto.common.Status"]
    status.field[0].number = 99
    tampered.messages["milvus.proto.schema.FieldSchema"].field[0].label = 3
    diffs = _compare(tampered, theirs)
    assert any("Status: field error_code" in d for d in diffs), diffs
    assert any("FieldSchema: field" in d for d in diffs), diffs


def test_required_rpcs_present(indexes):
    ours, _ = indexes
    methods = {m.name: m for m in ours.services[SERVICE].method}
    missing = [r for r in REQUIRED_RPCS if r not in methods]
    assert not missing, f"MilvusService lacks {missing}"
    # the servicer base class and registration helper exist for the server to subclass
    from proto.milvus import milvus_pb2_grpc

    for rpc in REQUIRED_RPCS:
        assert hasattr(milvus_pb2_grpc.MilvusServiceServicer, rpc), rpc
    assert callable(milvus_pb2_grpc.add_MilvusServiceServicer_to_server)


def test_generated_code_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"gen_protos.py --check failed:\n{proc.stdout}\n{proc.stderr}"
