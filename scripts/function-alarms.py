#!/usr/bin/env python3
"""Writes the functions' errors alarms in template.yaml: one CloudWatch alarm per group of
up to FUNCTIONS_PER_ALARM functions (by binary name), each summing its functions' `Errors`
and `Throttles`.

Why grouped: CloudFormation takes at most 500 resources per stack after SAM expands it, and a
function already costs a function, a role, a log group and a permission per route. One alarm
per function put the stack over the limit; a metric-math alarm holds at most 10 metrics, so
4 functions (8 metrics) per alarm keeps every function watched with about a quarter of the
alarms. The alarm's description names its functions and their log groups, and each metric is
labelled with its function, so the alarm's graph shows which one failed.

Usage: scripts/function-alarms.py   (idempotent; scripts/add-function.py runs it)
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCTIONS_PER_ALARM = 4
BEGIN = "  # BEGIN function errors alarms (written by scripts/function-alarms.py)\n"
END = "  # END function errors alarms\n"


def functions(text: str) -> list:
    """(logical id, binary) of every function, sorted by binary."""
    found = re.findall(
        r"\n  (\w+Function):\n    Type: AWS::Serverless::Function\n(?:.*\n)*?        Binary: ([\w-]+)\n",
        text,
    )
    return sorted(found, key=lambda f: f[1])


def alarm(n: int, group: list) -> str:
    names = ", ".join(b for _, b in group)
    # Each kind of function shares a log group whose streams are named after the function.
    # The realtime WebSocket API's functions (ws-*) log with the API's.
    area = {"api": "api", "ws": "api", "webhook": "webhooks", "worker": "workers", "cron": "crons"}
    kinds = sorted({area[b.split("-")[0]] for _, b in group})
    logs = ", ".join(f"/aws/lambda/${{AWS::StackName}}-{k}" for k in kinds)
    metrics = []
    terms = []
    for i, (fid, binary) in enumerate(group, 1):
        for short, metric in (("e", "Errors"), ("t", "Throttles")):
            metrics.append(
                f"""        - Id: {short}{i}
          Label: {binary} {metric.lower()}
          ReturnData: false
          MetricStat:
            Stat: Sum
            Period: 300
            Metric:
              Namespace: AWS/Lambda
              MetricName: {metric}
              Dimensions: [{{ Name: FunctionName, Value: !Ref {fid} }}]
"""
            )
            terms.append(f"FILL({short}{i}, 0)")
    return f"""  FunctionErrorsAlarm{n:02}:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: !Sub "One of {names} crashed, timed out, failed to start or was throttled (the graph's labels say which). Logs in {logs}, in the streams named after the function."
      Metrics:
{"".join(metrics)}        - Id: failures
          Label: Errors + throttles
          Expression: {" + ".join(terms)}
          ReturnData: true
      EvaluationPeriods: 1
      Threshold: !Ref FunctionErrorsAlarmThreshold
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]
      OKActions: [!Ref AlarmTopic]

"""


def main() -> None:
    path = os.path.join(ROOT, "template.yaml")
    with open(path) as f:
        text = f.read()
    fns = functions(text)
    groups = [fns[i : i + FUNCTIONS_PER_ALARM] for i in range(0, len(fns), FUNCTIONS_PER_ALARM)]
    block = BEGIN + "".join(alarm(n, g) for n, g in enumerate(groups, 1)) + END
    if BEGIN in text:
        start = text.index(BEGIN)
        end = text.index(END) + len(END)
        text = text[:start] + block + text[end:]
    else:
        # Before the dashboard, where the other alarms end.
        anchor = "\n  Dashboard:\n"
        at = text.index(anchor) + 1
        text = text[:at] + block + "\n" + text[at:]
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
