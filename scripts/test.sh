#!/usr/bin/env bash
# Runs every check Switchboard has, on a fresh machine: installs its Python test tools
# (moto_server for the AWS contract tests, cfn-lint for the template, the Standard
# Webhooks reference library that checks our outgoing webhook signatures) into .venv-test,
# starts one moto_server on a free loopback port, then formatting, clippy, the template
# lint and the whole test suite. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.1"
CFN_LINT_VERSION="1.51.0"
STANDARDWEBHOOKS_VERSION="1.3.0"

echo "==> test tools (moto ${MOTO_VERSION}, cfn-lint ${CFN_LINT_VERSION}, standardwebhooks ${STANDARDWEBHOOKS_VERSION})"
if [ ! -x .venv-test/bin/moto_server ] || [ ! -x .venv-test/bin/cfn-lint ] \
  || ! .venv-test/bin/python3 -c 'import standardwebhooks' 2>/dev/null; then
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet --disable-pip-version-check \
    "moto[server]==${MOTO_VERSION}" "cfn-lint==${CFN_LINT_VERSION}" \
    "standardwebhooks==${STANDARDWEBHOOKS_VERSION}"
fi
export PATH="$PWD/.venv-test/bin:$PATH"

echo "==> moto_server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
mkdir -p target
moto_server -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
up=""
for _ in $(seq 1 150); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
if [ -z "$up" ]; then
  echo "moto_server did not start; its log:" >&2
  cat target/moto.log >&2
  exit 1
fi
export SWITCHBOARD_TEST_MOTO_URL="http://127.0.0.1:$port"
# Dummy credentials: the tests never reach AWS, only moto on loopback.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "==> cfn-lint template.yaml (informational checks included)"
# .cfnlintrc adds the informational rules; the flag says so here as well.
cfn-lint --include-checks I -- template.yaml

echo "==> cargo test"
cargo test --workspace --quiet

echo "==> all checks passed"
