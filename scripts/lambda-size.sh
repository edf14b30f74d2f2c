#!/usr/bin/env bash
# Package size of every Lambda function as deployed: `cargo lambda build --release
# --arm64 --output-format zip`, the same build `sam build` runs, with the workspace's
# release profile. Prints each binary's and zip's size beside the minimal lambda_http
# function (benches/minimal-lambda) and writes bench-results/lambda-size.{json,md}.
#
# Installs its tools itself on first use: cargo-lambda and ziglang (the cross linker)
# from PyPI into .venv-tools/ (gitignored), and the aarch64 standard library via rustup.
#
# Usage: scripts/lambda-size.sh            GOAL_MB=3 to change the per-zip goal
set -euo pipefail
cd "$(dirname "$0")/.."

GOAL_MB="${GOAL_MB:-3}"
OUT="${OUT:-bench-results/lambda-size}"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"

echo "==> tools (.venv-tools: cargo-lambda ${CARGO_LAMBDA_VERSION}, ziglang ${ZIGLANG_VERSION})"
if [ ! -x .venv-tools/bin/cargo-lambda ] || ! .venv-tools/bin/python -c 'import ziglang' 2>/dev/null; then
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install --quiet --disable-pip-version-check \
    "cargo-lambda==${CARGO_LAMBDA_VERSION}" "ziglang==${ZIGLANG_VERSION}"
fi
export PATH="$PWD/.venv-tools/bin:$PATH"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done
packages=()
for f in "${functions[@]}" minimal-lambda; do packages+=(-p "$f"); done

echo "==> cargo lambda build --release --arm64 --output-format zip (${#functions[@]} functions + minimal-lambda)"
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip --quiet "${packages[@]}"
elapsed=$(( $(date +%s) - start ))

python3 - "$OUT" "$GOAL_MB" "$elapsed" minimal-lambda "${functions[@]}" <<'PY'
import json, os, sys, zipfile
out, goal_mb, elapsed, baseline, *functions = sys.argv[1:]
goal = float(goal_mb) * 1024 * 1024
rows = {}
for name in [baseline, *functions]:
    path = f"target/lambda/{name}/bootstrap.zip"
    with zipfile.ZipFile(path) as z:
        binary = sum(i.file_size for i in z.infolist())
    rows[name] = {"binary_bytes": binary, "zip_bytes": os.path.getsize(path)}
mb = lambda b: b / 1024 / 1024
base = rows[baseline]
lines = [
    "| function | binary | zip | zip vs minimal |",
    "|---|---:|---:|---:|",
]
over = []
for name, r in rows.items():
    ratio = r["zip_bytes"] / base["zip_bytes"]
    lines.append(f"| {name} | {mb(r['binary_bytes']):.2f} MB | {mb(r['zip_bytes']):.2f} MB | {ratio:.2f}x |")
    if name != baseline and r["zip_bytes"] > goal:
        over.append(name)
table = "\n".join(lines)
print(table)
print(f"\nbuild: {elapsed} s (incremental unless target/ was clean); goal: every zip <= {goal_mb} MB:",
      "met" if not over else f"MISSED by {', '.join(over)}")
with open(out + ".json", "w") as f:
    json.dump({"target": "aarch64-unknown-linux-gnu", "goal_mb": float(goal_mb),
               "build_seconds": int(elapsed), "functions": rows}, f, indent=2)
with open(out + ".md", "w") as f:
    f.write(table + "\n")
PY
echo "==> results in ${OUT}.json and ${OUT}.md"
