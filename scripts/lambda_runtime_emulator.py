#!/usr/bin/env python3
"""A local emulator of the AWS Lambda Runtime API, for timing cold starts.

It starts a function binary the way Lambda does -- a fresh process with
AWS_LAMBDA_RUNTIME_API pointing at this server and the other variables the runtime
reads -- hands it one event, and measures:

  init          exec of the binary -> its first `GET /runtime/invocation/next`
                (process start, tokio, tracing, config, App and SDK clients)
  first invoke  the event handed over -> `POST /runtime/invocation/{id}/response`
                (the first request pays for lazy work: connections, first SDK calls)

Each run is a new process, so every run is a cold start. Targets are interleaved run
by run (A, B, C, A, B, C, ...) so that a busy moment of a shared machine hits every
target alike. Only the standard library is used.

Usage: lambda_runtime_emulator.py SPEC.json OUT.json
SPEC: {"runs": 21, "targets": [{"name": ..., "binary": ..., "event": "events/x.json",
        "env": {...}, "whatsapp_secret": optional, "bearer": optional,
        "init_only": optional (stop at the first `next`: init alone, no backend needed)}]}
"""

import hashlib
import hmac
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

API = "/2018-06-01/runtime"


class Invocation:
    """The state of one cold start: one event, one answer."""

    def __init__(self, event: bytes, init_only=False):
        self.event = event
        self.init_only = init_only
        self.request_id = str(uuid.uuid4())
        self.delivered = False
        self.t_next = None
        self.t_sent = None
        self.t_done = None
        self.response = None
        self.error = None
        self.finished = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as the real Runtime API: the runtime's HTTP client reuses its connection.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        now = time.perf_counter_ns()
        # The invocation of this server's process (a request from a process of an
        # earlier run can only reach that run's server).
        inv = self.server.invocation
        if self.path != f"{API}/invocation/next":
            self._reply(404)
            return
        with inv.lock:
            first = not inv.delivered
            inv.delivered = True
        if not first:
            # The runtime asks for the next event after answering; Lambda would freeze
            # it here. Hold the request until the process is stopped.
            inv.stopped.wait(30)
            return
        inv.t_next = now
        if inv.init_only:
            inv.finished.set()
            return
        deadline = int(time.time() * 1000) + 10_000
        self._reply(
            200,
            inv.event,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:cold-start",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )
        inv.t_sent = time.perf_counter_ns()

    def do_POST(self):
        now = time.perf_counter_ns()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        inv = self.server.invocation
        if self.path == f"{API}/invocation/{inv.request_id}/response":
            inv.t_done = now
            inv.response = body
        elif self.path.endswith("/error"):
            inv.error = body.decode(errors="replace") or self.path
        else:
            self._reply(404)
            return
        self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        inv.finished.set()


def event_for(target, run):
    """The event of one run. A WhatsApp delivery gets a unique message id and a fresh
    signature each run, so every run stores a new event instead of hitting the
    duplicate path; an API call gets the bearer token minted for this stack."""
    with open(target["event"]) as f:
        event = json.load(f)
    secret = target.get("whatsapp_secret")
    if secret:
        body = event["body"].replace("wamid.", f"wamid.cold{run}x{uuid.uuid4().hex[:8]}", 1)
        event["body"] = body
        mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        event["headers"]["x-hub-signature-256"] = f"sha256={mac}"
    if target.get("bearer"):
        event["headers"]["authorization"] = f"Bearer {target['bearer']}"
    return json.dumps(event).encode()


def lambda_env(port, target):
    """What the Lambda service puts in a function's environment (and nothing of this
    shell's: no ~/.aws files, no stray AWS variables)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": target["name"],
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{target['name']}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]cold",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
    }
    env.update(target.get("env", {}))
    return env


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed process leaves its held `next` request behind: expected, not news.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def run_once(target, run, log):
    inv = Invocation(event_for(target, run), target.get("init_only", False))
    # A server (and port) per run: a request still in flight from the previous process
    # can never be taken for this one's.
    server = Server(("127.0.0.1", 0), Handler)
    server.invocation = inv
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = lambda_env(server.server_address[1], target)
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        [target["binary"]],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    ok = inv.finished.wait(30)
    proc.kill()
    proc.wait()
    inv.stopped.set()
    server.shutdown()
    server.server_close()
    if inv.init_only and ok:
        return {"init_ms": (inv.t_next - t0) / 1e6, "invoke_ms": 0.0, "status": None}
    if not ok or inv.error or inv.t_next is None or inv.t_done is None:
        raise SystemExit(
            f"{target['name']} run {run}: no answer"
            + (f" (error: {inv.error})" if inv.error else "")
            + f"; see {log.name}"
        )
    status = json.loads(inv.response or b"{}").get("statusCode")
    return {
        "init_ms": (inv.t_next - t0) / 1e6,
        "invoke_ms": (inv.t_done - inv.t_sent) / 1e6,
        "status": status,
    }


def main():
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    runs = int(spec.get("runs", 21))
    samples = {t["name"]: [] for t in spec["targets"]}
    log_path = spec.get("log", "target/cold-start.log")
    with open(log_path, "w") as log:
        # One warm-up run each: page cache, moto's first-request costs.
        for t in spec["targets"]:
            run_once(t, -1, log)
        for run in range(runs):
            for t in spec["targets"]:
                samples[t["name"]].append(run_once(t, run, log))

    def summary(values):
        values = sorted(values)
        return {
            "median": round(statistics.median(values), 3),
            "min": round(values[0], 3),
            "p90": round(values[min(len(values) - 1, int(len(values) * 0.9))], 3),
            "max": round(values[-1], 3),
        }

    results = {
        "runs": runs,
        "targets": {
            name: {
                "init_ms": summary([s["init_ms"] for s in ss]),
                "first_invoke_ms": summary([s["invoke_ms"] for s in ss]),
                "statuses": sorted({str(s["status"]) for s in ss}),
                "samples": ss,
            }
            for name, ss in samples.items()
        },
    }
    with open(out_path, "w") as f:
        json.dump(results, f, indent=2)
    base = spec.get("baseline")
    print(f"{'function':<28} {'init median':>12} {'x baseline':>10} {'1st invoke median':>18}  status")
    for name, r in results["targets"].items():
        ratio = ""
        if base and base in results["targets"]:
            ratio = f"{r['init_ms']['median'] / results['targets'][base]['init_ms']['median']:.2f}x"
        print(
            f"{name:<28} {r['init_ms']['median']:>9.2f} ms {ratio:>10} {r['first_invoke_ms']['median']:>15.2f} ms  {','.join(r['statuses'])}"
        )


if __name__ == "__main__":
    main()
