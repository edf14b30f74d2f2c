#!/usr/bin/env bash
# Cold starts of Lambda functions, side by side with a minimal lambda_http function
# (benches/minimal-lambda) built with the same release profile.
#
# Each run starts a fresh process under scripts/lambda_runtime_emulator.py (a local
# Lambda Runtime API) and measures exec -> first `next` (init) and the first invoke.
# The functions run on the AWS backend against a moto_server on a free loopback port,
# with the table, queues and KMS key that `switchboard aws-bootstrap` creates from
# template.yaml. Native release builds (x86_64): the timing is what matters here; the
# arm64 package sizes are scripts/lambda-size.sh's.
#
# Usage: scripts/cold-start.sh [runs]            (default 21; results in bench-results/)
#   RELEASE_FLAGS="--config profile.release.opt-level='s'" scripts/cold-start.sh   # try a profile
#   BIN_DIR=/elsewhere/target/release OUT=... scripts/cold-start.sh   # time other builds of the
#     same functions (an older checkout, say) against this tree's minimal-lambda
#   COMPARE_DIR=/elsewhere/target/release scripts/cold-start.sh   # both, interleaved in one run:
#     the other build's functions appear as `<function>@compare`
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-21}"
OUT="${OUT:-bench-results/cold-start.json}"
BIN_DIR="${BIN_DIR:-target/release}"
MOTO_VERSION="5.2.1"
FUNCTIONS=(webhook-whatsapp api-list-conversations)

echo "==> release builds: ${FUNCTIONS[*]} minimal-lambda"
pkgs=()
for f in "${FUNCTIONS[@]}" minimal-lambda; do pkgs+=(-p "$f"); done
# shellcheck disable=SC2086 # RELEASE_FLAGS is a list of flags on purpose
cargo build --release --quiet ${RELEASE_FLAGS:-} "${pkgs[@]}"
cargo build --quiet --bin switchboard

echo "==> moto_server"
if [ ! -x .venv-test/bin/moto_server ]; then
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
mkdir -p target bench-results
.venv-test/bin/moto_server -H 127.0.0.1 -p "$port" > target/cold-start-moto.log 2>&1 &
moto_pid=$!
work=$(mktemp -d)
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done

echo "==> stack on moto (aws-bootstrap), secrets, a dev key and a token"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
eval "$(./target/debug/switchboard aws-bootstrap --prefix cold)"
# A dev key made for this run: the AWS backend refuses the committed test key.
export SWITCHBOARD_DEV_KEY_FILE="$work/dev-key.pk8"
token=$(./target/debug/switchboard token --org acme --role admin)
app_secret=switchboard-test-app-secret
.venv-test/bin/python - "$SECRETS_PREFIX" "$app_secret" <<'PY'
import sys, secrets, boto3
prefix, app_secret = sys.argv[1], sys.argv[2]
sm = boto3.client("secretsmanager")
for name, value in {
    "WHATSAPP_APP_SECRET": app_secret,
    "WHATSAPP_VERIFY_TOKEN": "switchboard-test-verify-token",
    "PSEUDONYM_KEY": secrets.token_hex(32),
}.items():
    sm.create_secret(Name=prefix + name, SecretString=value)
PY

echo "==> ${RUNS} cold starts each (interleaved)"
python3 - "$work/spec.json" "$RUNS" "$app_secret" "$token" "$BIN_DIR" "${COMPARE_DIR:-}" "${FUNCTIONS[@]}" <<'PY'
import json, os, sys
spec_path, runs, app_secret, token, bin_dir, compare_dir, *functions = sys.argv[1:]
names = ["SWITCHBOARD_BACKEND", "SWITCHBOARD_STAGE", "SWITCHBOARD_TRUST_DEV_KEY",
         "SWITCHBOARD_DEV_KEY_FILE", "WHATSAPP_GRAPH_URL", "TABLE_NAME", "KMS_KEY_ID",
         "SECRETS_PREFIX", "AWS_ENDPOINT_URL"]
names += [k for k in os.environ if k.endswith("_QUEUE_URL") or k.endswith("_DLQ_URL")]
env = {k: os.environ[k] for k in names if k in os.environ}
env["RUST_LOG"] = "info"
events = {
    "webhook-whatsapp": ("events/webhook-whatsapp/message.json", {"whatsapp_secret": app_secret}),
    "api-list-conversations": ("events/api-list-conversations/list.json", {"bearer": token}),
}
targets = [{"name": "minimal-lambda", "binary": "target/release/minimal-lambda",
            "event": "events/api-list-conversations/list.json", "env": {}}]
for f in functions:
    event, extra = events[f]
    targets.append({"name": f, "binary": f"{bin_dir}/{f}", "event": event, "env": env, **extra})
    if compare_dir:
        targets.append({"name": f"{f}@compare", "binary": f"{compare_dir}/{f}", "event": event,
                        "env": env, **extra})
json.dump({"runs": int(runs), "baseline": "minimal-lambda", "targets": targets,
           "log": "target/cold-start.log"}, open(spec_path, "w"), indent=2)
PY
python3 scripts/lambda_runtime_emulator.py "$work/spec.json" "$OUT"
echo "==> results in $OUT (function logs in target/cold-start.log)"
