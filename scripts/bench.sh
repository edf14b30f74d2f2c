#!/usr/bin/env bash
# Runs Switchboard's benchmarks and writes their figures to bench-results/:
#   webhooks.txt  criterion: verify + split + parse of a realistic 2 KB Meta delivery,
#                 and verify + parse of a Stripe event (bencher format, ns/iter)
#   ingest.json   dev server: signed-webhook ack rate and latency percentiles on loopback,
#                 and the end-to-end rate until the inbound consumer applied every event
#   outbound.json a 10,000-recipient campaign through worker-outbound against a fake Graph
#                 enforcing 80 msg/s and the pair rate: achieved rate, errors, duplicates
# Figures depend on the machine; the README records those of the reference machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-results

echo "==> criterion: webhook verify + parse"
cargo bench -p switchboard-webhooks --bench verify_parse -- --output-format bencher 2>/dev/null \
  | grep '^test ' | tee bench-results/webhooks.txt

echo "==> dev server ingest (REQUESTS=${REQUESTS:-4000} CONCURRENCY=${CONCURRENCY:-16})"
OUT="$PWD/bench-results/ingest.json" cargo bench -p switchboard-cli --bench ingest_load

echo "==> broadcast simulation (RECIPIENTS=${RECIPIENTS:-10000} WORKERS=${WORKERS:-8})"
OUT="$PWD/bench-results/outbound.json" cargo bench -p switchboard-cli --bench outbound_sim

echo "==> results in bench-results/"
