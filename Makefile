# The two commands of the README: `make run` (start a standalone cluster) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[cpu,test]'
	touch $(STAMP)

.PHONY: install run test lint unit e2e netns typecheck protos bench bench-1m bench-filter bench-concurrency bench-mq
install: $(STAMP)

run: $(STAMP)
	$(BIN)/milvus-py run standalone $(ARGS)

# Static checks first; then server-side tests and client-side (pymilvus) tests run in separate
# pytest processes: both register milvus.proto.* in protobuf's global descriptor pool.
test: lint
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/pytest tests/unit -q -p no:cacheprovider
	$(BIN)/pytest tests/e2e -q -p no:cacheprovider
	$(BIN)/pytest tests/netns -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

# docker-compose.yml in network namespaces, every service its own host (root; tests/netns/conftest.py).
netns: $(STAMP)
	$(BIN)/pytest tests/netns -q

# ruff on the whole tree, then mypy on the packages [tool.mypy] names (strict on common/ and
# dataplane/); both run and either failing fails (config in pyproject.toml).
lint: $(STAMP)
	@status=0; $(BIN)/ruff check . || status=1; $(MAKE) --no-print-directory typecheck || status=1; exit $$status

typecheck: $(STAMP)
	$(BIN)/mypy

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

bench: $(STAMP)
	$(BIN)/python bench/bench_server.py $(ARGS)

# 1M x 128 rows, HNSW (ARGS="--index FLAT" for brute force), fewer queries, no visibility part:
# about 25 min on 2 cores (two 1M HNSW builds: the server's and faiss's). The JSON's "memory"
# section has each role's peak RSS per phase next to the vectors' and the index's sizes.
bench-1m: $(STAMP)
	$(BIN)/python bench/bench_server.py --rows 1000000 --queries 100 --nq-rounds 2 --skip-visibility $(ARGS)

bench-filter: $(STAMP)
	$(BIN)/python bench/bench_filter.py $(ARGS)

bench-concurrency: $(STAMP)
	$(BIN)/python bench/bench_concurrency.py $(ARGS)

# The standard benchmark against the zmq and the natsmq log (embedded nats-server, R1), alternating.
bench-mq: $(STAMP)
	$(BIN)/python bench/bench_mq.py $(ARGS)
