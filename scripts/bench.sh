#!/usr/bin/env bash
# Runs Switchboard's benchmarks and writes their figures to bench-results/:
#   webhooks.txt  criterion: verify + split + parse of a realistic 2 KB Meta delivery,
#                 and verify + parse of a Stripe event (bencher format, ns/iter)
#   signature_candidates.txt  criterion: Stripe and Standard Webhooks verification of a
#                 4 MiB body with one signature, the most allowed (valid last), and a
#                 hostile 5,000 (refused) (bencher format, ns/iter)
#   ingest.json   dev server: signed-webhook ack rate and latency percentiles on loopback,
#                 and the end-to-end rate until the inbound consumer applied every event
#   stripe_vs_python.json  Stripe event verify + parse against stripe-python's
#                 Webhook.construct_event on the same payload, with the ratio
#   outbound.json a 10,000-recipient campaign through worker-outbound against a fake Graph
#                 enforcing 80 msg/s and the pair rate: achieved rate, errors, duplicates,
#                 dead letters and receives per message (outbound_24_workers.json: the same
#                 with 24 workers, so messages are deferred for their pacing slots)
#   campaign_80.json, campaign_1000.json  a 20,000-recipient campaign through worker-campaigns
#                 and worker-outbound on a number allowed 80 and 1,000 messages/s: achieved
#                 rate against the limit, throughput errors, duplicates, agent-reply latency
#                 while it runs, and the time to the first send after a kill mid-campaign
#   import.json   a 100,000-row contact import through the dev server: rows per second
#                 from the POST to `completed`, and the same file again (nothing changes)
#   reminders_local.json  10,000 due reminders claimed by two overlapping schedule runs
#   ai_overhead.json, ai_overhead_analysis.json  2,000 AI reply jobs through worker-ai's use
#                 case with a model that answers at once: Switchboard's own time per reply
#                 (p50, p99), without and with the per-message analysis call
#   webhooks_fanout.json  10,000 events of one org to 100 webhook endpoints on the dev server
#                 (a local receiver answering 204): deliveries per second, and the time from
#                 publishing to arrival (p50, p99) at half that rate; duplicates
# Figures depend on the machine; the README records those of the reference machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-results

echo "==> criterion: webhook verify + parse"
cargo bench -p switchboard-webhooks --bench verify_parse -- --output-format bencher 2>/dev/null \
  | grep '^test ' | tee bench-results/webhooks.txt

echo "==> criterion: many signature candidates on a 4 MiB body"
{
  echo "# body 4194304 bytes; MAX_SIGNATURES = 8; 5000_refused = 5,000 v1 entries, valid one last"
  cargo bench -p switchboard-webhooks --bench signature_candidates -- --output-format bencher 2>/dev/null \
    | grep '^test '
} | tee bench-results/signature_candidates.txt

echo "==> Stripe event: Switchboard vs stripe-python construct_event on the same payload"
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check "stripe==16.1.0"
fi
.venv-bench/bin/python scripts/bench_stripe_python.py shared/webhooks/fixtures/stripe_subscription_updated.json \
  > bench-results/stripe_python.json
python3 - <<'PY'
import json, re
rust = {m.group(1): int(m.group(2).replace(",", "")) for m in re.finditer(r"test (\S+) \.\.\. bench:\s+([\d,]+) ns/iter", open("bench-results/webhooks.txt").read())}
py = json.load(open("bench-results/stripe_python.json"))
out = {
    "payload_bytes": len(open("shared/webhooks/fixtures/stripe_subscription_updated.json", "rb").read()),
    "switchboard_verify_parse_ns": rust["stripe/verify_parse_event"],
    "switchboard_verify_full_tree_ns": rust["stripe/verify_parse_full_tree"],
    "python": py["library"],
    "python_construct_event_ns": py["ns_per_call"],
    "ratio_python_over_switchboard": round(py["ns_per_call"] / rust["stripe/verify_parse_event"], 1),
    "ratio_python_over_switchboard_full_tree": round(py["ns_per_call"] / rust["stripe/verify_parse_full_tree"], 1),
}
json.dump(out, open("bench-results/stripe_vs_python.json", "w"), indent=2)
print(json.dumps(out, indent=2))
PY

echo "==> dev server ingest (REQUESTS=${REQUESTS:-4000} CONCURRENCY=${CONCURRENCY:-16})"
OUT="$PWD/bench-results/ingest.json" cargo bench -p switchboard-cli --bench ingest_load

echo "==> broadcast simulation (RECIPIENTS=${RECIPIENTS:-10000} WORKERS=${WORKERS:-8})"
OUT="$PWD/bench-results/outbound.json" cargo bench -p switchboard-cli --bench outbound_sim

echo "==> broadcast simulation with 24 workers (deferrals: messages come back for their slots)"
WORKERS=24 OUT="$PWD/bench-results/outbound_24_workers.json" cargo bench -p switchboard-cli --bench outbound_sim

echo "==> campaign: 20,000 recipients at 80/s, agent replies timed, killed half way"
RECIPIENTS=20000 LIMIT=80 OUT="$PWD/bench-results/campaign_80.json" cargo bench -p switchboard-cli --bench campaign_sim

echo "==> campaign: 20,000 recipients at 1,000/s"
RECIPIENTS=20000 LIMIT=1000 WORKERS=16 OUT="$PWD/bench-results/campaign_1000.json" cargo bench -p switchboard-cli --bench campaign_sim

echo "==> contact import (ROWS=${ROWS:-100000})"
OUT="$PWD/bench-results/import.json" cargo bench -p switchboard-cli --bench import_load

echo "==> reminders: 10,000 due, two overlapping runs, SQLite"
APPOINTMENTS=10000 BACKEND=local OUT="$PWD/bench-results/reminders_local.json" cargo bench -p switchboard-cli --bench reminders_load

# On moto the run measures moto: its server fails concurrent transactions (HTTP 500s the
# SDK retries), so it is opt-in (REMINDERS_ON_MOTO=1 and a moto URL), with fewer appointments.
if [ -n "${REMINDERS_ON_MOTO:-}" ] && [ -n "${SWITCHBOARD_TEST_MOTO_URL:-}" ]; then
  echo "==> reminders on moto_server at $SWITCHBOARD_TEST_MOTO_URL (APPOINTMENTS=${APPOINTMENTS:-1000})"
  APPOINTMENTS="${APPOINTMENTS:-1000}" BACKEND=aws OUT="$PWD/bench-results/reminders_aws.json" cargo bench -p switchboard-cli --bench reminders_load
fi

echo "==> AI replies: Switchboard's own time per reply (model answering at once), 2,000 jobs"
OUT="$PWD/bench-results/ai_overhead.json" cargo bench -p switchboard-cli --bench ai_overhead
ANALYSIS=1 OUT="$PWD/bench-results/ai_overhead_analysis.json" cargo bench -p switchboard-cli --bench ai_overhead
OUT="$PWD/bench-results/webhooks_fanout.json" cargo bench -p switchboard-cli --bench webhooks_fanout

echo "==> results in bench-results/"
