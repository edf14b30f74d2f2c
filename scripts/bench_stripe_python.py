"""Times Stripe's official Python library verifying and parsing the same event the Rust
benchmark uses (`stripe.Webhook.construct_event`: signature check + JSON parse), and
prints nanoseconds per call. Called by scripts/bench.sh; takes the payload path."""
import json
import sys
import time
import timeit

import stripe

SECRET = "whsec_bench_secret"


def main() -> None:
    payload = open(sys.argv[1], "rb").read().decode("utf-8")
    t = int(time.time())
    header = "t=%d,v1=%s" % (t, stripe.WebhookSignature._compute_signature("%d.%s" % (t, payload), SECRET))
    construct = lambda: stripe.Webhook.construct_event(payload, header, SECRET, tolerance=300)
    construct()  # warm up; also proves the signature verifies
    runs, best = 2000, float("inf")
    for _ in range(5):
        best = min(best, timeit.timeit(construct, number=runs) / runs)
    print(json.dumps({"library": "stripe-python " + stripe.VERSION, "ns_per_call": round(best * 1e9)}))


if __name__ == "__main__":
    main()
