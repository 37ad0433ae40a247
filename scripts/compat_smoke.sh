#!/usr/bin/env bash
# Smoke-tests other pymilvus versions against a fresh standalone cluster:
#   scripts/compat_smoke.sh 2.5.18 3.0.2
# Each version gets its own venv under ${COMPAT_CACHE:-.cache/compat} (pymilvus and our server
# never share a process). Not part of `make test`: 2.5 pulls milvus-lite and takes a while.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${COMPAT_CACHE:-.cache/compat}
data=$(mktemp -d)
port=${COMPAT_PORT:-19588}
.venv/bin/milvus-py run standalone --data-dir "$data" --port "$port" > "$data/standalone.log" 2>&1 &
cluster=$!
trap 'kill -INT $cluster; wait $cluster || true; rm -rf "$data"' EXIT
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.5.18 3.0.2)
for version in "${versions[@]}"; do
  venv="$cache/pymilvus-$version"
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q "pymilvus==$version" numpy; }
  for _ in $(seq 60); do grep -q "ready:" "$data/standalone.log" && break; sleep 1; done
  "$venv/bin/python" tests/compat/pymilvus_smoke.py "http://127.0.0.1:$port"
done
