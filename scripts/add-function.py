#!/usr/bin/env python3
"""Adds a Lambda function to Switchboard: the crate and every template.yaml block a
function needs (the function with its event and its kind's log group, its place in a grouped errors
alarm (scripts/function-alarms.py), its lines on
the dashboard, and for a schedule the failure-queue permission) and its line in
samconfig.toml's sync exclusions, so that the template
consistency tests pass once the handler and its policy are written.

Usage:
  scripts/add-function.py NAME http METHOD PATH  "Description"
  scripts/add-function.py NAME queue QUEUE_LOGICAL_ID QueueName  "Description"
  scripts/add-function.py NAME cron "rate(5 minutes)" EventName  "Description"

Then: write functions/NAME/src/lib.rs (`FUNCTION`, `handle`), replace the generated
policy statement with the least privilege the handler needs, add the route/consumer/
schedule to cli/src/routes.rs, the crate to cli/Cargo.toml, and a sample event under
events/NAME/. Idempotent: an existing crate or template block is left alone.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log_group(name: str) -> str:
    """The log group of a function's kind (its streams are named after the function)."""
    kind = name.split("-")[0]
    return {"api": "ApiLogGroup", "webhook": "WebhookLogGroup", "worker": "WorkerLogGroup", "cron": "CronLogGroup"}[kind]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def write_crate(name: str, kind: str, arg: str) -> None:
    crate = name.replace("-", "_")
    d = os.path.join(ROOT, "functions", name, "src")
    if os.path.exists(os.path.join(ROOT, "functions", name, "Cargo.toml")):
        return
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(ROOT, "functions", "api-list-contacts", "Cargo.toml")) as f:
        cargo = f.read().replace("api-list-contacts", name)
    with open(os.path.join(ROOT, "functions", name, "Cargo.toml"), "w") as f:
        f.write(cargo)
    if kind == "http":
        body = (
            f"//! Lambda entry point: wires [`{crate}::handle`] to API Gateway.\n\n"
            "#[tokio::main]\n"
            "async fn main() -> Result<(), switchboard_runtime::lambda::Error> {\n"
            f"    switchboard_runtime::lambda::http({crate}::FUNCTION, |app, req| async move {{\n"
            f"        {crate}::handle(&app, req).await\n"
            "    })\n    .await\n}\n"
        )
    elif kind == "queue":
        body = (
            f"//! Lambda entry point: wires [`{crate}::handle`] to its SQS event source.\n\n"
            "#[tokio::main]\n"
            "async fn main() -> Result<(), switchboard_runtime::lambda::Error> {\n"
            "    switchboard_runtime::lambda::queue(\n"
            f"        {crate}::FUNCTION,\n"
            f"        switchboard_core::queue::QueueName::{arg},\n"
            f"        |app, batch| async move {{ {crate}::handle(&app, batch).await }},\n"
            "    )\n    .await\n}\n"
        )
    else:
        body = (
            f"//! Lambda entry point: wires [`{crate}::handle`] to its EventBridge schedule.\n\n"
            "#[tokio::main]\n"
            "async fn main() -> Result<(), switchboard_runtime::lambda::Error> {\n"
            f"    switchboard_runtime::lambda::cron({crate}::FUNCTION, |app, now| async move {{\n"
            f"        {crate}::handle(&app, now).await\n"
            "    })\n    .await\n}\n"
        )
    with open(os.path.join(d, "main.rs"), "w") as f:
        f.write(body)


def blocks(name: str, kind: str, args: list, description: str) -> str:
    c = camel(name)
    if kind == "http":
        method, path = args
        # `{id}` inside a flow mapping must be quoted, or YAML reads a nested mapping.
        if "{" in path:
            path = '"' + path + '"'
        extra = ""
        events = (
            "      Events:\n        Api:\n          Type: HttpApi\n"
            f"          Properties: {{ ApiId: !Ref HttpApi, Path: {path}, Method: {method} }}\n"
        )
    elif kind == "queue":
        queue_id, _ = args
        extra = "      Timeout: 30\n"
        events = (
            f"      Events:\n        {queue_id.replace('Queue', '')}:\n          Type: SQS\n"
            "          Properties:\n"
            f"            Queue: !GetAtt {queue_id}.Arn\n"
            "            BatchSize: 10\n"
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n"
        )
    else:
        rate, event = args
        extra = (
            "      Timeout: 120\n"
            "      EventInvokeConfig:\n        MaximumRetryAttempts: 2\n"
            "        DestinationConfig:\n          OnFailure:\n            Type: SQS\n"
            "            Destination: !GetAtt ScheduleFailuresQueue.Arn\n"
        )
        events = (
            f"      Events:\n        {event}:\n          Type: Schedule\n          Properties:\n"
            f"            Schedule: {rate}\n"
            "            RetryPolicy: { MaximumRetryAttempts: 2 }\n"
            "            DeadLetterConfig: { Arn: !GetAtt ScheduleFailuresQueue.Arn }\n"
        )
    quoted = '"' + description.replace("\\", "\\\\").replace('"', '\\"') + '"'
    queue_poller = ""
    # Every API function records its callers in the org's user directory (App::caller).
    caller_directory = ""
    if kind == "http" and args[1].startswith("/v1/"):
        caller_directory = "        - !Ref CallerDirectoryPolicy\n"
    if kind == "queue":
        queue_poller = f"        - SQSPollerPolicy:\n            QueueName: !GetAtt {args[0]}.QueueName\n"
    return f"""  {c}Function:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {name}
    Properties:
      FunctionName: !Sub "${{AWS::StackName}}-{name}"
      LoggingConfig:
        LogGroup: !Ref {log_group(name)}
      Description: {quoted}
{extra}      Policies:
{caller_directory}        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
{queue_poller}{events}
"""


def add_to_template(name: str, kind: str, args: list, description: str) -> None:
    path = os.path.join(ROOT, "template.yaml")
    with open(path) as f:
        text = f.read()
    c = camel(name)
    if f"\n  {c}Function:\n" in text:
        return
    marker = "\n  Dashboard:\n"
    assert marker in text, "template.yaml has no Dashboard resource"
    text = text.replace(marker, "\n" + blocks(name, kind, args, description).rstrip("\n") + "\n" + marker, 1)
    # One line per dashboard widget that lists every function.
    for metric in ("Errors", "Throttles", "Duration"):
        lines = re.findall(
            rf'^( *)\["AWS/Lambda", "{metric}", "FunctionName", "\$\{{[A-Za-z]+Function\}}", \{{"label": "[a-z0-9-]+"\}}\]$',
            text,
            re.M,
        )
        assert lines, f"no {metric} widget on the dashboard"
        pattern = re.compile(
            rf'(\["AWS/Lambda", "{metric}", "FunctionName", "\$\{{[A-Za-z]+Function\}}", \{{"label": "[a-z0-9-]+"\}}\])(\n *\]\}}\}})'
        )
        m = pattern.search(text)
        assert m, f"cannot find the end of the {metric} widget"
        indent = lines[-1]
        new = f'{m.group(1)},\n{indent}["AWS/Lambda", "{metric}", "FunctionName", "${{{c}Function}}", {{"label": "{name}"}}]'
        text = text[: m.start()] + new + m.group(2) + text[m.end():]
    if kind == "cron":
        event = args[1]
        anchor = re.search(r"(                aws:SourceArn:\n(?:                  - !GetAtt [A-Za-z0-9]+\.Arn\n)+)", text)
        assert anchor, "no schedule rule list in ScheduleFailuresQueuePolicy"
        text = text.replace(
            anchor.group(1),
            anchor.group(1) + f"                  - !GetAtt {c}Function{event}.Arn\n",
            1,
        )
    with open(path, "w") as f:
        f.write(text)


def add_to_samconfig(name: str) -> None:
    """`sam sync --watch` must ignore target/ for every function (CodeUri is the root)."""
    path = os.path.join(ROOT, "samconfig.toml")
    with open(path) as f:
        text = f.read()
    line = f'  "{camel(name)}Function=target",\n'
    if line in text:
        return
    m = re.search(r"watch_exclude = \[\n((?:  \"[A-Za-z]+=target\",\n)*)\]", text)
    assert m, "samconfig.toml has no watch_exclude list"
    text = text[: m.end(1)] + line + text[m.end(1):]
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    if len(sys.argv) != 6 or sys.argv[2] not in ("http", "queue", "cron"):
        print(__doc__)
        sys.exit(2)
    name, kind, a, b, description = sys.argv[1:]
    # Several people (or agents) may add functions at once: one at a time edits the
    # shared files.
    import fcntl

    with open(os.path.join(ROOT, "target", ".add-function.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_crate(name, kind, b if kind == "queue" else "")
        add_to_template(name, kind, [a, b], description)
        add_to_samconfig(name)
        # The function joins an errors alarm (grouped: see scripts/function-alarms.py).
        import subprocess

        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "function-alarms.py")], check=True)
    print(f"added {name}: write functions/{name}/src/lib.rs, its policy, and its place in cli/src/routes.rs")


if __name__ == "__main__":
    main()
