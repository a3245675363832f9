#!/usr/bin/env python3
"""Static checks of infra/template.yaml that cfn-lint, checkov and `sam validate` do not make.

    python3 infra/check_template.py [TEMPLATE]   # exit 1 and one line per problem
    python3 infra/check_template.py --self-test  # proves each check fires on a broken copy

References: every Ref, GetAtt, Sub variable (`${X}`, `${X.Attr}`), DependsOn, Condition and
FindInMap names an existing parameter, pseudo parameter, resource (or a resource SAM generates),
condition or mapping. cfn-lint checks most of this only after the SAM transform, and misses
references inside the SAM resources' own properties; the dashboard body (a `!Sub` string) is
checked too, and must be valid JSON.

Conventions that keep the template safe as functions are added:
- each AWS::Serverless::Function is built by cargo-lambda from a binary of the workspace
  (functions/<binary>/Cargo.toml), logs to its own log group with a retention, and has a
  Throttles alarm;
- every `*_SECRET` environment variable is a Ref to a secret the function may read, and the
  function may read no other secret;
- no environment variable holds a literal that looks like a credential;
- a route without IAM authorisation is one of the few public routes that authenticate their
  callers themselves;
- STORE_TIMEOUT_MS stays below half the function timeout, and STORE_BUDGET_MS (all the store
  calls of one delivery) a second below it, so a slow store is answered 503, not cut off; with
  a fallback queue (FALLBACK_QUEUE_URL), STORE_BUDGET_MS and FALLBACK_BUDGET_MS (parking the
  delivery) together a second below it, so that both fit before Lambda cuts the delivery off;
- a function with a fallback queue (FALLBACK_QUEUE_URL, a Ref to a queue of the template) may
  sqs:SendMessage to that queue and do nothing else in SQS;
- a function behind the HTTP API stops before API Gateway's 30 s integration limit;
- a function that calls Insider One (any INSIDER_* variable) sets INSIDER_REQUEST_BUDGET_MS,
  the deadline all the Insider One calls of one request share, and the function's timeout
  exceeds it by STORE_TIMEOUT_MS (withdrawing minted credentials after a failed call) and a
  second, so that a slow vendor is answered with our 504 vendor_timeout rather than cut off
  by Lambda or API Gateway; one attempt
  (INSIDER_TIMEOUT_MS) fits in the budget, and INSIDER_CONNECT_TIMEOUT_MS in one attempt;
- every alarm is on the dashboard's alarm widget and every function on its Lambda widgets;
- every route of an HTTP API has its own throttles (RouteSettings, keyed "<METHOD> <Path>" as
  SAM names the route), with a rate and a burst limit, and every RouteSettings key names a
  route: a route left out falls back to the API's DefaultRouteSettings, and a key naming no
  route fails the deploy ("Unable to find Route by key"); no route key is declared twice;
- every global secondary index of a table is one some function may `dynamodb:Query` (an index
  the code reads without that permission fails only at run time, with AccessDenied).
- a stream's event source mapping reports batch item failures, retries a bounded number of
  times, sends what it gives up on to an OnFailure destination, and its function's role may
  send there;
- a queue's event source mapping reports batch item failures; its queue has a RedrivePolicy to
  a dead-letter queue of the template with a maxReceiveCount that the queue's retention
  outlasts, a dead-letter queue keeping messages at least as long (they keep their enqueue
  time), a VisibilityTimeout of at least 6 times the function's timeout (AWS's advice for
  Lambda), and its function's role may receive, delete and read the attributes of that queue;
  a batch of it, stored DRAIN_CONCURRENCY deliveries at a time (shared/src/ingest/
  queue_batch.rs) within STORE_BUDGET_MS each, fits the function's timeout with a second spare;
- every SQS queue is encrypted at rest (SqsManagedSseEnabled or KmsMasterKeyId);
- every dead-letter queue (a queue's RedrivePolicy, a mapping's OnFailure destination, a
  rule target's DeadLetterConfig) has an alarm on its ApproximateNumberOfMessagesVisible;
- an alarm on metric math (Metrics) has unique ids, each expression names only ids of the
  alarm, and it returns one series, or, with ThresholdMetricId, the series and the
  ANOMALY_DETECTION_BAND of it that the id names, with an anomaly operator and no Threshold
  (CloudWatch refuses the others only at deploy time);
- an alarm's Period x EvaluationPeriods, a parameter's MaxValue when the number is a Ref, stays
  within what CloudWatch evaluates: 1 day for periods under an hour, 7 days for longer ones.

Needs PyYAML (in .tools/venv, from scripts/install-infra-tools.sh).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "infra" / "template.yaml"

PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}

# Resources SAM adds next to one of its own, which a template may reference.
SAM_GENERATED = {
    "AWS::Serverless::Function": ["{}Role"],
    "AWS::Serverless::HttpApi": ["{}ApiGatewayDefaultStage"],
    "AWS::Serverless::Api": ["{}Deployment", "{}Stage"],
}

# Attributes GetAtt may read, for the resource types of this template (others: not checked).
ATTRIBUTES = {
    "AWS::DynamoDB::Table": {"Arn", "StreamArn"},
    "AWS::Logs::LogGroup": {"Arn"},
    "AWS::CloudWatch::Alarm": {"Arn"},
    "AWS::SecretsManager::Secret": {"Id"},
    "AWS::Serverless::Function": {"Arn"},
    "AWS::Serverless::HttpApi": {"ApiEndpoint", "ApiId"},
    "AWS::KMS::Key": {"Arn", "KeyId"},
    "AWS::SNS::Topic": {"TopicArn", "TopicName"},
    "AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"},
    "AWS::Events::EventBus": {"Arn", "Name", "Policy"},
    "AWS::Events::Rule": {"Arn"},
    "AWS::Lambda::EventSourceMapping": {"Id", "EventSourceMappingArn"},
}

# Routes anyone may call: the functions behind them authenticate the caller themselves.
PUBLIC_ROUTES = {
    ("POST", "/webhooks/{sub_product}"),
    ("GET", "/webhooks/{sub_product}"),
    ("HEAD", "/webhooks/{sub_product}"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
}

SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

# API Gateway HTTP APIs wait this long at most for an integration (a hard limit).
API_GATEWAY_TIMEOUT_SECONDS = 30
# What a function calling Insider One keeps for itself once its request budget is spent and
# minted credentials are withdrawn (a DynamoDB call, STORE_TIMEOUT_MS): answering takes
# milliseconds.
INSIDER_HEADROOM_MS = 1000
# STORE_TIMEOUT_MS when a function leaves it out (shared/src/config/mod.rs).
DEFAULT_STORE_TIMEOUT_MS = 3000
# STORE_BUDGET_MS and FALLBACK_BUDGET_MS when a function leaves them out (DEFAULT_STORE_BUDGET,
# shared/src/http/receiver.rs; DEFAULT_FALLBACK_BUDGET, shared/src/fallback/mod.rs).
DEFAULT_STORE_BUDGET_MS = 8000
DEFAULT_FALLBACK_BUDGET_MS = 2000
# What a function keeps for itself once its store (and fallback) budgets are spent.
BUDGET_HEADROOM_MS = 1000
# The least visibility timeout of a queue a Lambda function consumes, in function timeouts
# (AWS's advice: time for Lambda to retry a throttled batch before the messages come back).
VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6
# What Lambda's poller needs on a queue it feeds a function from (on the function's role).
SQS_CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# SQS's defaults for a queue that leaves them out.
SQS_DEFAULT_VISIBILITY_TIMEOUT = 30
SQS_DEFAULT_RETENTION = 345600
# How many parked deliveries the drain stores at once: read from its source.
DRAIN_SOURCE = ROOT / "shared" / "src" / "ingest" / "queue_batch.rs"
# The comparison operators of an alarm on an anomaly detection band (and only of one).
ANOMALY_OPERATORS = {
    "GreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
}
# How long CloudWatch evaluates an alarm over at most (Period x EvaluationPeriods, PutMetricAlarm):
# a day for periods under an hour, 7 days for periods of an hour or more.
ALARM_WINDOW_SHORT_PERIODS = 86400
ALARM_WINDOW_LONG_PERIODS = 604800
# An id of a metric math query: a lowercase letter first (CloudWatch's rule), then letters,
# digits and underscores; in an expression, a word of that form not followed by "(" (functions
# are in capitals).
METRIC_ID = re.compile(r"[a-z][A-Za-z0-9_]*")
EXPRESSION_ID = re.compile(r"(?<![A-Za-z0-9_.])([a-z][A-Za-z0-9_]*)\b(?!\s*\()")
# InsiderSettings::default() in shared/src/insider/client.rs, for variables a function leaves out.
INSIDER_DEFAULT_ATTEMPT_MS = 10000
INSIDER_DEFAULT_CONNECT_MS = 3000


# --------------------------------------------------------------------------------------------
# Loading: CloudFormation's short tags become their long form, as CloudFormation reads them.
# --------------------------------------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


# --------------------------------------------------------------------------------------------
# The checks. Each returns a list of problems, one line each.
# --------------------------------------------------------------------------------------------
def check_references(t: dict) -> list[str]:
    problems: list[str] = []
    parameters = set(t.get("Parameters") or {})
    resources = dict(t.get("Resources") or {})
    for name, resource in list(resources.items()):
        for pattern in SAM_GENERATED.get(resource.get("Type"), []):
            resources.setdefault(pattern.format(name), {"Type": "(generated by SAM)"})
    conditions = set(t.get("Conditions") or {})
    mappings = set(t.get("Mappings") or {})

    def ref_ok(name: str) -> bool:
        return name in parameters or name in resources or name in PSEUDO_PARAMETERS

    def getatt_problem(logical: str, attribute: str) -> str | None:
        if logical not in resources:
            return f"GetAtt of {logical}.{attribute}: no resource {logical}"
        known = ATTRIBUTES.get(resources[logical].get("Type"))
        if known is not None and attribute.split(".")[0] not in known:
            return f"GetAtt of {logical}.{attribute}: a {resources[logical]['Type']} has no attribute {attribute}"
        return None

    def sub_problems(text: str, local: set[str], where: str) -> None:
        for variable in SUB_VARIABLE.findall(text):
            if variable.startswith("!"):
                continue  # ${!Literal} is a literal "${Literal}"
            if variable in local or ref_ok(variable):
                continue
            if "." in variable:
                problem = getatt_problem(*variable.split(".", 1))
                if problem is None:
                    continue
                problems.append(f"{where}: Sub {problem}")
            else:
                problems.append(f"{where}: Sub variable ${{{variable}}} is no parameter, resource or pseudo parameter")

    def walk(node, where: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref" and isinstance(value, str):
                if not ref_ok(value):
                    problems.append(f"{where}: Ref {value} is no parameter, resource or pseudo parameter")
                return
            if key == "Fn::GetAtt":
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    if isinstance(value[1], str):
                        problem = getatt_problem(value[0], value[1])
                        if problem:
                            problems.append(f"{where}: {problem}")
                    else:
                        walk(value[1], f"{where}.Fn::GetAtt")
                else:
                    problems.append(f"{where}: malformed GetAtt {value!r}")
                return
            if key == "Fn::Sub":
                if isinstance(value, str):
                    sub_problems(value, set(), where)
                elif isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
                    if isinstance(value[0], str):
                        sub_problems(value[0], set(value[1]), where)
                    walk(value[1], f"{where}.Fn::Sub")
                else:
                    problems.append(f"{where}: malformed Sub {value!r}")
                return
            if key == "Fn::If":
                if isinstance(value, list) and len(value) == 3:
                    if value[0] not in conditions:
                        problems.append(f"{where}: If on unknown condition {value[0]}")
                    walk(value[1:], f"{where}.Fn::If")
                else:
                    problems.append(f"{where}: malformed If {value!r}")
                return
            if key == "Condition" and isinstance(value, str) and where.startswith("Conditions"):
                if value not in conditions:
                    problems.append(f"{where}: unknown condition {value}")
                return
            if key == "Fn::FindInMap":
                if isinstance(value, list) and value and isinstance(value[0], str) and value[0] not in mappings:
                    problems.append(f"{where}: FindInMap of unknown mapping {value[0]}")
        for key, value in node.items():
            walk(value, f"{where}.{key}")

    for section in ("Conditions", "Globals", "Resources", "Outputs"):
        for name, body in (t.get(section) or {}).items():
            walk(body, f"{section}.{name}")

    for name, resource in (t.get("Resources") or {}).items():
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends:
            if target not in resources:
                problems.append(f"Resources.{name}.DependsOn: no resource {target}")
        condition = resource.get("Condition")
        if condition is not None and condition not in conditions:
            problems.append(f"Resources.{name}.Condition: unknown condition {condition}")
    for name, output in (t.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition is not None and condition not in conditions:
            problems.append(f"Outputs.{name}.Condition: unknown condition {condition}")
    return problems


def _ref_target(value) -> str | None:
    return value["Ref"] if isinstance(value, dict) and set(value) == {"Ref"} else None


def _statements(policies) -> list[dict]:
    """The IAM statements of a SAM function's Policies, both branches of an If included."""
    found: list[dict] = []

    def add(statement) -> None:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            for branch in statement["Fn::If"][1:]:
                add(branch)
        elif isinstance(statement, dict) and "Effect" in statement:
            found.append(statement)

    for policy in policies or []:
        if isinstance(policy, dict):
            for statement in policy.get("Statement", []):
                add(statement)
    return found


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _workspace_binaries() -> set[str]:
    """Binary targets of the crates under functions/: a package's src/main.rs (named after the
    package), src/bin/<name>.rs, src/bin/<name>/main.rs, and [[bin]] sections."""
    names = set()
    for manifest in (ROOT / "functions").glob("*/Cargo.toml"):
        crate = manifest.parent
        text = manifest.read_text(encoding="utf-8")
        package = re.search(r'^\[package\][^\[]*?^name\s*=\s*"([^"]+)"', text, re.M | re.S)
        if package and (crate / "src" / "main.rs").is_file():
            names.add(package.group(1))
        names.update(p.stem for p in (crate / "src" / "bin").glob("*.rs"))
        names.update(p.parent.name for p in (crate / "src" / "bin").glob("*/main.rs"))
        for section in re.findall(r'^\[\[bin\]\]([^\[]*)', text, re.M):
            name = re.search(r'^name\s*=\s*"([^"]+)"', section, re.M)
            if name:
                names.add(name.group(1))
    return names


def _insider_problems(where: str, env: dict, timeout) -> list[str]:
    """The Insider One budget of a function whose environment has INSIDER_* variables."""
    if not any(variable.startswith("INSIDER_") for variable in env):
        return []
    if "INSIDER_REQUEST_BUDGET_MS" not in env:
        return [
            f"{where}: calls Insider One without INSIDER_REQUEST_BUDGET_MS; set it below the function's "
            "timeout so that a slow vendor is answered with vendor_timeout, not by API Gateway"
        ]
    try:
        budget_ms = int(env["INSIDER_REQUEST_BUDGET_MS"])
        attempt_ms = int(env.get("INSIDER_TIMEOUT_MS", INSIDER_DEFAULT_ATTEMPT_MS))
        connect_ms = int(env.get("INSIDER_CONNECT_TIMEOUT_MS", INSIDER_DEFAULT_CONNECT_MS))
        store_ms = int(env.get("STORE_TIMEOUT_MS", DEFAULT_STORE_TIMEOUT_MS))
        timeout_ms = int(timeout) * 1000
    except (TypeError, ValueError):
        return [
            f"{where}: INSIDER_REQUEST_BUDGET_MS, INSIDER_TIMEOUT_MS, INSIDER_CONNECT_TIMEOUT_MS, "
            "STORE_TIMEOUT_MS and Timeout must be literal numbers"
        ]
    problems = []
    if budget_ms < 1 or attempt_ms < 1:
        problems.append(f"{where}: INSIDER_REQUEST_BUDGET_MS and INSIDER_TIMEOUT_MS must be at least 1")
    if budget_ms + store_ms + INSIDER_HEADROOM_MS > timeout_ms:
        problems.append(
            f"{where}: INSIDER_REQUEST_BUDGET_MS {budget_ms} ms + STORE_TIMEOUT_MS {store_ms} ms (withdrawing "
            f"minted credentials) is not {INSIDER_HEADROOM_MS} ms under the {timeout} s timeout"
        )
    if attempt_ms > budget_ms:
        problems.append(f"{where}: INSIDER_TIMEOUT_MS {attempt_ms} exceeds INSIDER_REQUEST_BUDGET_MS {budget_ms}")
    if connect_ms > attempt_ms:
        problems.append(f"{where}: INSIDER_CONNECT_TIMEOUT_MS {connect_ms} exceeds INSIDER_TIMEOUT_MS {attempt_ms}")
    return problems


def _budget_problems(where: str, env: dict, timeout) -> list[str]:
    """STORE_BUDGET_MS, and with a fallback queue FALLBACK_BUDGET_MS after it, inside the timeout."""
    has_fallback = "FALLBACK_QUEUE_URL" in env
    if "FALLBACK_BUDGET_MS" in env and not has_fallback:
        return [f"{where}: FALLBACK_BUDGET_MS without FALLBACK_QUEUE_URL, which it bounds"]
    if "STORE_BUDGET_MS" not in env and not has_fallback:
        return []
    try:
        store_ms = int(env.get("STORE_BUDGET_MS", DEFAULT_STORE_BUDGET_MS))
        fallback_ms = int(env.get("FALLBACK_BUDGET_MS", DEFAULT_FALLBACK_BUDGET_MS)) if has_fallback else 0
        timeout_ms = int(timeout) * 1000
    except (TypeError, ValueError):
        return [f"{where}: STORE_BUDGET_MS, FALLBACK_BUDGET_MS and Timeout must be literal numbers"]
    if store_ms + fallback_ms + BUDGET_HEADROOM_MS <= timeout_ms:
        return []
    if has_fallback:
        return [
            f"{where}: STORE_BUDGET_MS {store_ms} ms + FALLBACK_BUDGET_MS {fallback_ms} ms (parking the delivery) "
            f"is not {BUDGET_HEADROOM_MS} ms under the {timeout} s timeout"
        ]
    return [f"{where}: STORE_BUDGET_MS {store_ms} leaves less than a second of the {timeout} s timeout"]


def _getatt_target(value, attribute: str = "Arn") -> str | None:
    """X of a GetAtt X.<attribute>, in either form."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, list) and len(target) == 2 and target[1] == attribute and isinstance(target[0], str):
            return target[0]
    return None


def _is_queue(resources: dict, name: str | None) -> bool:
    return name is not None and (resources.get(name) or {}).get("Type") == "AWS::SQS::Queue"


def _fallback_problems(where: str, env: dict, props: dict, resources: dict) -> list[str]:
    """A function with a fallback queue may send to it, and do nothing else in SQS."""
    if "FALLBACK_QUEUE_URL" not in env:
        return []
    queue = _ref_target(env["FALLBACK_QUEUE_URL"])
    if not _is_queue(resources, queue):
        return [f"{where}: FALLBACK_QUEUE_URL must be a Ref to an AWS::SQS::Queue of this template (its URL)"]
    problems = []
    may_send = False
    for statement in _statements(props.get("Policies")):
        actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
        sqs = [a for a in actions if a.lower().startswith("sqs:") or a == "*"]
        if not sqs:
            continue
        targets = _as_list(statement.get("Resource", []))
        if sqs != ["sqs:SendMessage"] or len(actions) != 1 or [_getatt_target(r) for r in targets] != [queue]:
            problems.append(
                f"{where}: with FALLBACK_QUEUE_URL its only SQS permission is sqs:SendMessage on !GetAtt {queue}.Arn, "
                f"not {actions} on {targets!r}"
            )
        elif statement.get("Effect") == "Allow":
            may_send = True
    if not may_send and not problems:
        problems.append(f"{where}: parks deliveries in {queue} (FALLBACK_QUEUE_URL) without sqs:SendMessage on !GetAtt {queue}.Arn")
    return problems


def check_functions(t: dict) -> list[str]:
    problems: list[str] = []
    resources = t.get("Resources") or {}
    function_globals = (t.get("Globals") or {}).get("Function") or {}
    global_env = ((function_globals.get("Environment") or {}).get("Variables")) or {}
    binaries = _workspace_binaries()
    throttled = {
        _ref_target(d.get("Value"))
        for r in resources.values()
        if r.get("Type") == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Throttles"
        for d in r["Properties"].get("Dimensions", [])
        if d.get("Name") == "FunctionName"
    }

    # Functions given TRUSTED_ISSUERS: the receiver must trust whatever the management
    # functions accept as a tokenUrl, or a registration they accept is refused every delivery.
    trusting: dict[str, object] = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        where = f"Resources.{name}"
        props = resource.get("Properties") or {}
        metadata = resource.get("Metadata") or {}

        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if metadata.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{where}: Metadata.BuildMethod must be rust-cargolambda")
        if binary not in binaries:
            problems.append(f"{where}: Metadata.BuildProperties.Binary {binary!r} is no binary of the crates under functions/")

        log_group = _ref_target((props.get("LoggingConfig") or {}).get("LogGroup"))
        group = resources.get(log_group) or {}
        if group.get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{where}: LoggingConfig.LogGroup must be a Ref to its own AWS::Logs::LogGroup")
        elif "RetentionInDays" not in (group.get("Properties") or {}):
            problems.append(f"Resources.{log_group}: a function's log group needs RetentionInDays")

        if name not in throttled:
            problems.append(f"{where}: no Throttles alarm on this function (FunctionName: !Ref {name})")

        timeout = props.get("Timeout", function_globals.get("Timeout", 3))
        env = dict(global_env)
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        store_timeout = env.get("STORE_TIMEOUT_MS")
        if store_timeout is not None:
            try:
                if int(store_timeout) * 2 > int(timeout) * 1000:
                    problems.append(f"{where}: STORE_TIMEOUT_MS {store_timeout} is not well below the {timeout} s timeout")
            except (TypeError, ValueError):
                problems.append(f"{where}: STORE_TIMEOUT_MS and Timeout must be literal numbers")
        problems.extend(_budget_problems(where, env, timeout))
        problems.extend(_fallback_problems(where, env, props, resources))
        problems.extend(_insider_problems(where, env, timeout))
        behind_api = any(e.get("Type") == "HttpApi" for e in (props.get("Events") or {}).values())
        if behind_api and isinstance(timeout, int) and timeout >= API_GATEWAY_TIMEOUT_SECONDS:
            problems.append(
                f"{where}: Timeout {timeout} s; API Gateway gives up after {API_GATEWAY_TIMEOUT_SECONDS} s, "
                f"so a function behind it stops at {API_GATEWAY_TIMEOUT_SECONDS - 1} s at most"
            )

        readable = set()
        for statement in _statements(props.get("Policies")):
            actions = _as_list(statement.get("Action", []))
            if statement.get("Effect") == "Allow" and "secretsmanager:GetSecretValue" in actions:
                for target in _as_list(statement.get("Resource", [])):
                    ref = _ref_target(target)
                    if ref is None:
                        problems.append(f"{where}: GetSecretValue only on secrets of this template (a Ref), not {target!r}")
                    readable.add(ref)
            for action in actions:
                if isinstance(action, str) and action.endswith("*"):
                    problems.append(f"{where}: wildcard action {action}; list the actions the code calls")
        needed = set()
        for variable, value in env.items():
            ref = _ref_target(value)
            if variable.endswith("_SECRET"):
                if ref is None or (resources.get(ref) or {}).get("Type") != "AWS::SecretsManager::Secret":
                    problems.append(f"{where}: {variable} must be a Ref to an AWS::SecretsManager::Secret")
                else:
                    needed.add(ref)
            elif re.search(r"TOKEN|PASSWORD|SECRET|KEY", variable) and isinstance(value, str):
                problems.append(f"{where}: {variable} holds a literal; credentials belong in Secrets Manager")
        for missing in sorted(needed - readable):
            problems.append(f"{where}: reads secret {missing} (environment) without secretsmanager:GetSecretValue on it")
        for extra in sorted(readable - needed - {None}):
            problems.append(f"{where}: may read secret {extra}, which none of its environment variables names")

        if ("TRUSTED_ISSUERS" in env) != ("TRUSTED_AUDIENCE" in env):
            problems.append(f"{where}: TRUSTED_ISSUERS and TRUSTED_AUDIENCE go together")
        if "TRUSTED_ISSUERS" in env:
            trusting[name] = env["TRUSTED_ISSUERS"]

        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            e = event.get("Properties") or {}
            route = (str(e.get("Method", "")).upper(), e.get("Path"))
            authorizer = (e.get("Auth") or {}).get("Authorizer")
            if authorizer != "AWS_IAM" and route not in PUBLIC_ROUTES:
                problems.append(
                    f"{where}.Events.{event_name}: route {route[0]} {route[1]} is public; "
                    "add Auth: {Authorizer: AWS_IAM} or list it in PUBLIC_ROUTES with a reason"
                )
    receiver_trusts = trusting.get("WebhookReceiverFunction")
    for name, issuers in trusting.items():
        if issuers != receiver_trusts:
            problems.append(
                f"Resources.{name}: TRUSTED_ISSUERS differs from the receiver's, which must trust every issuer a registration may name"
            )
    return problems


def check_parameters(t: dict) -> list[str]:
    problems = []
    for name, parameter in (t.get("Parameters") or {}).items():
        if re.search(r"secret|token|password|credential", name, re.I) and parameter.get("Default"):
            problems.append(f"Parameters.{name}: a secret value must never be a parameter default")
    return problems


def check_dashboard(t: dict) -> list[str]:
    problems = []
    resources = t.get("Resources") or {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = resource["Properties"].get("DashboardBody")
        text = body.get("Fn::Sub") if isinstance(body, dict) else body
        if isinstance(text, list):
            text = text[0]
        if not isinstance(text, str):
            problems.append(f"Resources.{name}: DashboardBody must be a string or a Sub of one")
            continue
        substituted = SUB_VARIABLE.sub(lambda m: "x" if not m.group(1).startswith("!") else "$" + "{" + m.group(1)[1:] + "}", text)
        try:
            json.loads(substituted)
        except json.JSONDecodeError as e:
            problems.append(f"Resources.{name}: DashboardBody is not valid JSON once substituted: {e}")
            continue
        used = set(SUB_VARIABLE.findall(text))
        for other, r in resources.items():
            if r.get("Type") == "AWS::CloudWatch::Alarm" and f"{other}.Arn" not in used:
                problems.append(f"Resources.{name}: alarm {other} is missing from the alarm widget")
            if r.get("Type") == "AWS::Serverless::Function" and other not in used:
                problems.append(f"Resources.{name}: function {other} is missing from the Lambda widgets")
    return problems


def check_route_throttles(t: dict) -> list[str]:
    resources = t.get("Resources") or {}
    routes: dict[str, dict[str, str]] = {}  # API -> route key -> where it is declared
    problems = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            e = event.get("Properties") or {}
            api = _ref_target(e.get("ApiId"))
            if api is None:
                # SAM would put the route on an implicit API of its own, with no throttles.
                problems.append(f"Resources.{name}.Events.{event_name}: an HttpApi event without ApiId: !Ref HttpApi")
                continue
            # SAM's route key (ImplicitHttpApiPlugin): the method in capitals, a space, the path.
            key = f"{str(e.get('Method', '')).upper()} {e.get('Path')}"
            where = f"Resources.{name}.Events.{event_name}"
            first = routes.setdefault(api, {}).setdefault(key, where)
            if first != where:
                # One route key, one integration: two events of it cannot both be served (SAM
                # refuses the template, or one shadows the other). DELETE /contacts/{wa_id} and
                # GET /contacts/{wa_id}/messages are two keys.
                problems.append(f"{where}: route {key} is declared already by {first}")
    for api, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        settings = (resource.get("Properties") or {}).get("RouteSettings") or {}
        declared = routes.get(api, {})
        for key, where in sorted(declared.items()):
            if key not in settings:
                problems.append(
                    f"{where}: route {key} has no throttles of its own; add \"{key}\" to "
                    f"Resources.{api}.Properties.RouteSettings"
                )
        for key, setting in sorted(settings.items()):
            if key not in declared:
                problems.append(
                    f"Resources.{api}.Properties.RouteSettings: \"{key}\" is no route of the API "
                    "(the deploy would fail: Unable to find Route by key)"
                )
            elif not isinstance(setting, dict) or not {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(setting):
                problems.append(
                    f"Resources.{api}.Properties.RouteSettings: \"{key}\" needs both ThrottlingRateLimit "
                    "and ThrottlingBurstLimit"
                )
    return problems


def check_indexes(t: dict) -> list[str]:
    resources = t.get("Resources") or {}
    queryable = set()
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for statement in _statements((resource.get("Properties") or {}).get("Policies")):
            if statement.get("Effect") != "Allow" or "dynamodb:Query" not in _as_list(statement.get("Action", [])):
                continue
            for target in _as_list(statement.get("Resource", [])):
                sub = target.get("Fn::Sub") if isinstance(target, dict) else None
                found = isinstance(sub, str) and re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w.-]+)", sub)
                if found:
                    queryable.add((found.group(1), found.group(2)))
    problems = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        for index in (resource.get("Properties") or {}).get("GlobalSecondaryIndexes") or []:
            index_name = index.get("IndexName")
            if (name, index_name) not in queryable:
                problems.append(
                    f"Resources.{name}: no function may query its index {index_name} "
                    f"(dynamodb:Query on !Sub ${{{name}.Arn}}/index/{index_name})"
                )
    return problems


def _drain_concurrency() -> int | None:
    """DRAIN_CONCURRENCY of the drain's handler: how many parked deliveries it stores at once."""
    try:
        text = DRAIN_SOURCE.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"^pub const DRAIN_CONCURRENCY: usize = (\d+);", text, re.M)
    return int(found.group(1)) if found else None


def _queue_mapping_problems(t: dict, where: str, props: dict, queue: str) -> list[str]:
    """An event source mapping from the SQS queue `queue` of the template."""
    resources = t.get("Resources") or {}
    function_globals = (t.get("Globals") or {}).get("Function") or {}
    problems = []
    if "ReportBatchItemFailures" not in (props.get("FunctionResponseTypes") or []):
        problems.append(
            f"{where}: FunctionResponseTypes must include ReportBatchItemFailures, or one message the function "
            "fails on makes the whole batch come back (and count a receive each)"
        )
    q = (resources[queue].get("Properties")) or {}
    visibility = q.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT)
    retention = q.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
    redrive = q.get("RedrivePolicy")
    dead_letter = _getatt_target((redrive or {}).get("deadLetterTargetArn")) if isinstance(redrive, dict) else None
    receives = (redrive or {}).get("maxReceiveCount") if isinstance(redrive, dict) else None
    if not _is_queue(resources, dead_letter):
        problems.append(
            f"Resources.{queue}: fed to a function ({where}) without a RedrivePolicy to a dead-letter queue of the "
            "template (deadLetterTargetArn: !GetAtt <queue>.Arn): a message it keeps failing on would come back "
            "until it expires"
        )
    if redrive is not None and (not isinstance(receives, int) or receives < 1):
        problems.append(f"Resources.{queue}: RedrivePolicy.maxReceiveCount must be a literal number of receives, at least 1")
    elif isinstance(receives, int) and isinstance(visibility, int) and isinstance(retention, int) and receives * visibility >= retention:
        problems.append(
            f"Resources.{queue}: {receives} receives {visibility} s apart (maxReceiveCount, VisibilityTimeout) outlast "
            f"its {retention} s retention: a failing message would expire before reaching the dead-letter queue"
        )
    if _is_queue(resources, dead_letter):
        dlq_retention = ((resources[dead_letter].get("Properties")) or {}).get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
        if isinstance(dlq_retention, int) and isinstance(retention, int) and dlq_retention < retention:
            problems.append(
                f"Resources.{dead_letter}: keeps messages {dlq_retention} s, less than {queue}'s {retention} s; a message "
                "moved there keeps its enqueue time and would expire sooner than where it came from"
            )

    function = _ref_target(props.get("FunctionName"))
    f = resources.get(function) or {}
    if f.get("Type") != "AWS::Serverless::Function":
        problems.append(f"{where}: FunctionName must be a Ref to an AWS::Serverless::Function of the template")
        return problems
    fprops = f.get("Properties") or {}
    timeout = fprops.get("Timeout", function_globals.get("Timeout", 3))
    if not isinstance(visibility, int) or not isinstance(timeout, int):
        problems.append(f"Resources.{queue}: VisibilityTimeout and {function}'s Timeout must be literal numbers")
    elif visibility < VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * timeout:
        problems.append(
            f"Resources.{queue}: VisibilityTimeout {visibility} s is under {VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT} times "
            f"{function}'s {timeout} s timeout (AWS's advice for a Lambda event source): a batch being handled or "
            "retried after a throttle would come back and count another receive"
        )
    granted = set()
    for s in _statements(fprops.get("Policies")):
        if s.get("Effect") == "Allow" and queue in [_getatt_target(r) for r in _as_list(s.get("Resource", []))]:
            granted.update(a for a in _as_list(s.get("Action", [])) if isinstance(a, str))
    for missing in sorted(SQS_CONSUME_ACTIONS - granted):
        problems.append(f"{where}: the function {function} may not {missing} on its queue {queue} (Lambda polls with its role)")

    env = dict(((function_globals.get("Environment") or {}).get("Variables")) or {})
    env.update(((fprops.get("Environment") or {}).get("Variables")) or {})
    if "STORE_BUDGET_MS" in env:
        concurrency = _drain_concurrency()
        batch = props.get("BatchSize", 10)
        try:
            budget_ms, timeout_ms = int(env["STORE_BUDGET_MS"]), int(timeout) * 1000
        except (TypeError, ValueError):
            budget_ms = timeout_ms = None
        if concurrency is None or concurrency < 1:
            problems.append(f"{where}: no DRAIN_CONCURRENCY in {DRAIN_SOURCE.relative_to(ROOT)} to size a batch's time with")
        elif not isinstance(batch, int) or budget_ms is None:
            problems.append(f"{where}: BatchSize, {function}'s STORE_BUDGET_MS and Timeout must be literal numbers")
        else:
            rounds = -(-batch // concurrency)
            if rounds * budget_ms + BUDGET_HEADROOM_MS > timeout_ms:
                problems.append(
                    f"{where}: a batch of {batch}, stored {concurrency} at a time (DRAIN_CONCURRENCY), takes up to "
                    f"{rounds} x STORE_BUDGET_MS {budget_ms} ms, not {BUDGET_HEADROOM_MS} ms under {function}'s "
                    f"{timeout} s timeout: a batch cut off comes back whole"
                )
    return problems


def check_event_source_mappings(t: dict) -> list[str]:
    problems = []
    resources = t.get("Resources") or {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        where = f"Resources.{name}"
        props = resource.get("Properties") or {}
        queue = _getatt_target(props.get("EventSourceArn"))
        if _is_queue(resources, queue):
            problems.extend(_queue_mapping_problems(t, where, props, queue))
            continue
        # A stream (DynamoDB, Kinesis): retried from the failed record on, until given up on.
        if "ReportBatchItemFailures" not in (props.get("FunctionResponseTypes") or []):
            problems.append(
                f"{where}: FunctionResponseTypes must include ReportBatchItemFailures, or one failed "
                "record makes Lambda retry (and republish) the whole batch"
            )
        retries = props.get("MaximumRetryAttempts", -1)
        if not isinstance(retries, int) or retries < 0:
            problems.append(f"{where}: MaximumRetryAttempts must be a bound (the default retries until the record expires)")
        destination = (((props.get("DestinationConfig") or {}).get("OnFailure")) or {}).get("Destination")
        if destination is None:
            problems.append(f"{where}: no DestinationConfig.OnFailure: batches given up on would leave no trace")
            continue
        function = _ref_target(props.get("FunctionName"))
        statements = _statements(((resources.get(function) or {}).get("Properties") or {}).get("Policies"))
        if not any(
            s.get("Effect") == "Allow"
            and "sqs:SendMessage" in _as_list(s.get("Action", []))
            and destination in _as_list(s.get("Resource", []))
            for s in statements
        ):
            problems.append(f"{where}: the function {function} may not send to its OnFailure destination {destination!r}")
    return problems


def _dead_letter_queues(resources: dict) -> dict[str, str]:
    """Queues of the template used as dead-letter queues -> what uses one so."""
    found: dict[str, str] = {}
    for name, resource in resources.items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        targets = []
        if kind == "AWS::SQS::Queue" and isinstance(props.get("RedrivePolicy"), dict):
            targets.append(props["RedrivePolicy"].get("deadLetterTargetArn"))
        elif kind == "AWS::Lambda::EventSourceMapping":
            targets.append((((props.get("DestinationConfig") or {}).get("OnFailure")) or {}).get("Destination"))
        elif kind == "AWS::Events::Rule":
            targets.extend((target.get("DeadLetterConfig") or {}).get("Arn") for target in props.get("Targets") or [])
        for target in targets:
            queue = _getatt_target(target)
            if _is_queue(resources, queue):
                found.setdefault(queue, name)
    return found


def check_queues(t: dict) -> list[str]:
    problems = []
    resources = t.get("Resources") or {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        props = resource.get("Properties") or {}
        if props.get("SqsManagedSseEnabled") not in (True, "true") and not props.get("KmsMasterKeyId"):
            problems.append(f"Resources.{name}: not encrypted at rest; set SqsManagedSseEnabled: true (or a KmsMasterKeyId)")
    watched = {
        _getatt_target(d.get("Value"), "QueueName")
        for r in resources.values()
        if r.get("Type") == "AWS::CloudWatch::Alarm"
        and (r.get("Properties") or {}).get("Namespace") == "AWS/SQS"
        and (r.get("Properties") or {}).get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in (r.get("Properties") or {}).get("Dimensions") or []
        if d.get("Name") == "QueueName"
    }
    for queue, user in sorted(_dead_letter_queues(resources).items()):
        if queue not in watched:
            problems.append(
                f"Resources.{queue}: the dead-letter queue of {user} has no alarm on its ApproximateNumberOfMessagesVisible "
                f"(AWS/SQS, QueueName: !GetAtt {queue}.QueueName): what lands there would go unseen"
            )
    return problems


def _expression_text(expression) -> str | None:
    """An alarm expression as CloudWatch gets it: a string, or a Sub of one with its variables
    standing for numbers (parameters)."""
    if isinstance(expression, dict) and set(expression) == {"Fn::Sub"}:
        expression = expression["Fn::Sub"]
        if isinstance(expression, list):
            expression = expression[0]
    if not isinstance(expression, str):
        return None
    return SUB_VARIABLE.sub("0", expression)


def check_alarm_metrics(t: dict) -> list[str]:
    problems = []
    for name, resource in (t.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        where = f"Resources.{name}"
        props = resource.get("Properties") or {}
        operator = props.get("ComparisonOperator")
        threshold_id = props.get("ThresholdMetricId")
        metrics = props.get("Metrics")
        if metrics is None:
            if threshold_id is not None or operator in ANOMALY_OPERATORS:
                problems.append(f"{where}: {operator} and ThresholdMetricId need an ANOMALY_DETECTION_BAND in Metrics")
            continue
        ids = [m.get("Id") for m in metrics]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}, key=str):
            problems.append(f"{where}: the metric id {duplicate!r} is used twice")
        for i in ids:
            if not isinstance(i, str) or not METRIC_ID.fullmatch(i):
                problems.append(f"{where}: metric id {i!r} must begin with a lowercase letter (letters, digits, _)")
        bands: dict[str, str] = {}  # band id -> the id it bands
        for query in metrics:
            if "Expression" not in query:
                continue
            text = _expression_text(query["Expression"])
            if text is None:
                problems.append(f"{where}: the expression of {query.get('Id')!r} must be a string or a Sub of one")
                continue
            named = set(EXPRESSION_ID.findall(re.sub(r"'[^']*'|\"[^\"]*\"", "", text)))
            for unknown in sorted(named - set(ids)):
                problems.append(f"{where}: the expression of {query.get('Id')!r} names {unknown!r}, no metric id of this alarm")
            if query.get("Id") in named:
                problems.append(f"{where}: the expression of {query.get('Id')!r} names itself")
            band = re.fullmatch(r"\s*ANOMALY_DETECTION_BAND\(\s*([a-z][A-Za-z0-9_]*)\s*(,[^)]*)?\)\s*", text)
            if band:
                bands[query.get("Id")] = band.group(1)
        returned = [m.get("Id") for m in metrics if m.get("ReturnData", True) is not False]
        if threshold_id is None:
            if operator in ANOMALY_OPERATORS:
                problems.append(f"{where}: {operator} needs ThresholdMetricId, the id of an ANOMALY_DETECTION_BAND")
            if len(returned) != 1:
                problems.append(
                    f"{where}: returns {returned} (ReturnData, true unless set false); an alarm on metric math "
                    "returns exactly one series"
                )
            if "Threshold" not in props:
                problems.append(f"{where}: no Threshold")
            continue
        if threshold_id not in bands:
            problems.append(f"{where}: ThresholdMetricId {threshold_id!r} names no ANOMALY_DETECTION_BAND expression of the alarm")
            continue
        if operator not in ANOMALY_OPERATORS:
            problems.append(f"{where}: an alarm on an anomaly detection band compares with one of {sorted(ANOMALY_OPERATORS)}, not {operator}")
        if "Threshold" in props:
            problems.append(f"{where}: Threshold and ThresholdMetricId exclude each other")
        if sorted(returned) != sorted([threshold_id, bands[threshold_id]]):
            problems.append(
                f"{where}: returns {returned}; an anomaly detection alarm returns the band {threshold_id!r} and the "
                f"series it bands, {bands[threshold_id]!r}, and nothing else"
            )
    return problems


def check_alarm_windows(t: dict) -> list[str]:
    problems = []
    parameters = t.get("Parameters") or {}
    for name, resource in (t.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        where = f"Resources.{name}"
        props = resource.get("Properties") or {}
        periods = [props.get("Period")] if "Period" in props else [
            ((m.get("MetricStat") or {}).get("Period")) for m in props.get("Metrics") or [] if "MetricStat" in m
        ]
        evaluations = props.get("EvaluationPeriods")
        reference = _ref_target(evaluations)
        if reference is not None:
            evaluations = (parameters.get(reference) or {}).get("MaxValue")
            if evaluations is None:
                problems.append(
                    f"{where}: EvaluationPeriods is the parameter {reference}, which needs a MaxValue that keeps the "
                    "alarm's window within CloudWatch's limit"
                )
                continue
        datapoints, declared = props.get("DatapointsToAlarm"), props.get("EvaluationPeriods")
        if datapoints is not None and datapoints != declared and not (
            isinstance(datapoints, int) and isinstance(declared, int) and datapoints <= declared
        ):
            problems.append(f"{where}: DatapointsToAlarm must be at most EvaluationPeriods (the same Ref, or literal numbers)")
        if not isinstance(evaluations, int) or not periods or not all(isinstance(p, int) for p in periods):
            continue
        period = max(periods)
        limit = ALARM_WINDOW_LONG_PERIODS if period >= 3600 else ALARM_WINDOW_SHORT_PERIODS
        if period * evaluations > limit:
            problems.append(
                f"{where}: {evaluations} periods of {period} s (EvaluationPeriods{' at ' + reference + ' MaxValue' if reference else ''}) "
                f"exceed the {limit} s CloudWatch evaluates an alarm over with such periods"
            )
    return problems


CHECKS = [
    check_references,
    check_functions,
    check_parameters,
    check_dashboard,
    check_route_throttles,
    check_indexes,
    check_event_source_mappings,
    check_queues,
    check_alarm_metrics,
    check_alarm_windows,
]


def problems_of(t: dict) -> list[str]:
    return [p for check in CHECKS for p in check(t)]


# --------------------------------------------------------------------------------------------
# Self-test: each kind of mistake, made on a copy of the real template, must be reported.
# --------------------------------------------------------------------------------------------
def self_test(path: Path) -> int:
    original = load(path)
    if problems_of(original):
        print("self-test: the template itself has problems; run without --self-test", file=sys.stderr)
        return 1
    r = "Resources"
    receiver = lambda t: t[r]["WebhookReceiverFunction"]["Properties"]  # noqa: E731
    manage = lambda t: t[r]["ManageWebhooksListFunction"]["Properties"]  # noqa: E731
    route_settings = lambda t: t[r]["HttpApi"]["Properties"]["RouteSettings"]  # noqa: E731
    statement = lambda t, function, sid: next(  # noqa: E731
        s for s in _statements(t[r][function]["Properties"]["Policies"]) if s.get("Sid") == sid
    )
    fallback_queue = lambda t: t[r]["FallbackQueue"]["Properties"]  # noqa: E731
    drain = lambda t: t[r]["FallbackDrainFunction"]["Properties"]  # noqa: E731
    alarm = lambda t, name: t[r][name]["Properties"]  # noqa: E731

    def unqueried(t: dict, index: str) -> None:
        """Takes `index` out of every function's Query statements (several query ByContact)."""
        arn = {"Fn::Sub": "${EventsTable.Arn}/index/" + index}
        for resource in t[r].values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for s in _statements(resource["Properties"].get("Policies")):
                if arn in _as_list(s.get("Resource", [])):
                    s["Resource"] = [x for x in _as_list(s["Resource"]) if x != arn] or {"Fn::GetAtt": ["EventsTable", "Arn"]}

    mutations = {
        "dangling Ref in a SAM function's environment": lambda t: receiver(t)["Environment"]["Variables"].update(X={"Ref": "NoSuchSecret"}),
        "route on SAM's implicit API": lambda t: receiver(t)["Events"]["Deliver"]["Properties"].pop("ApiId"),
        "dangling Ref in an event": lambda t: receiver(t)["Events"]["Deliver"]["Properties"].update(ApiId={"Ref": "NoSuchApi"}),
        "dangling Sub variable": lambda t: t["Outputs"]["TokenUrl"].update(Value={"Fn::Sub": "https://${NoSuchApi}/oauth/token"}),
        "GetAtt of an unknown attribute": lambda t: t[r]["HttpApi"]["Properties"]["AccessLogSettings"].update(DestinationArn={"Fn::GetAtt": ["ApiAccessLogGroup", "Arnn"]}),
        "GetAtt in a Sub of an unknown resource": lambda t: t[r]["Dashboard"]["Properties"].update(DashboardBody={"Fn::Sub": '{"a": "${NoSuchAlarm.Arn}"}'}),
        "If on an unknown condition": lambda t: t[r]["EventsTable"]["Properties"]["SSESpecification"].update(KMSMasterKeyId={"Fn::If": ["NoSuchCondition", "a", "b"]}),
        "DependsOn an unknown resource": lambda t: t[r]["Dashboard"].update(DependsOn="NoSuchResource"),
        "secret read without permission": lambda t: receiver(t)["Environment"]["Variables"].update(OAUTH_CLIENTS_SECRET={"Ref": "OAuthClientsSecret"}),
        "public management route": lambda t: receiver(t)["Events"].update(Manage={"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/manage/webhooks"}}),
        "function without its log group": lambda t: receiver(t).pop("LoggingConfig"),
        "literal credential in the environment": lambda t: receiver(t)["Environment"]["Variables"].update(WEBHOOK_TOKEN="abc"),
        "store timeout near the function timeout": lambda t: receiver(t).update(Timeout=5),
        "store budget up to the function timeout": lambda t: receiver(t)["Environment"]["Variables"].update(STORE_BUDGET_MS="9500"),
        "function timeout beyond API Gateway's": lambda t: manage(t).update(Timeout=30),
        "Insider One request budget up to the function's timeout": lambda t: manage(t)["Environment"]["Variables"].update(INSIDER_REQUEST_BUDGET_MS="26000"),
        "Insider One calls without a request budget": lambda t: manage(t)["Environment"]["Variables"].pop("INSIDER_REQUEST_BUDGET_MS"),
        "Insider One attempt longer than the request budget": lambda t: manage(t)["Environment"]["Variables"].update(INSIDER_TIMEOUT_MS="26000"),
        "Insider One connect timeout above the attempt's": lambda t: manage(t)["Environment"]["Variables"].update(INSIDER_CONNECT_TIMEOUT_MS="9000"),
        "unknown binary": lambda t: t[r]["WebhookReceiverFunction"]["Metadata"]["BuildProperties"].update(Binary="no-such-binary"),
        "dashboard not JSON": lambda t: t[r]["Dashboard"]["Properties"].update(DashboardBody={"Fn::Sub": '{"widgets": [}'}),
        "route without its own throttles": lambda t: route_settings(t).pop("POST /oauth/revoke"),
        "throttles of a route that does not exist": lambda t: route_settings(t).update({"POST /webhooks/{subProduct}": route_settings(t)["POST /webhooks/{sub_product}"]}),
        "route declared twice": lambda t: t[r]["ContactErasureFunction"]["Properties"]["Events"].update(Read={"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "get", "Path": "/contacts/{wa_id}/messages", "Auth": {"Authorizer": "AWS_IAM"}}}),
        "route throttles without a burst limit": lambda t: route_settings(t)["POST /webhooks/{sub_product}"].pop("ThrottlingBurstLimit"),
        "index no function may query": lambda t: unqueried(t, "ByContact"),
        "stream mapping without partial batch failures": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].pop("FunctionResponseTypes"),
        "stream mapping retrying without bound": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].update(MaximumRetryAttempts=-1),
        "stream mapping without a dead-letter queue": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].pop("DestinationConfig"),
        "trusted issuers without an audience": lambda t: receiver(t)["Environment"]["Variables"].pop("TRUSTED_AUDIENCE"),
        "management trusting issuers the receiver does not": lambda t: receiver(t)["Environment"]["Variables"].update(TRUSTED_ISSUERS=""),
        "dead-letter queue the function may not send to": lambda t: t[r]["EventPublisherFunction"]["Properties"]["Policies"][0]["Statement"].pop(2),
        "fallback queue the receiver may not send to": lambda t: receiver(t)["Policies"][0]["Statement"].remove(statement(t, "WebhookReceiverFunction", "ParkRefusedDeliveries")),
        "fallback queue the receiver may also read": lambda t: statement(t, "WebhookReceiverFunction", "ParkRefusedDeliveries").update(Action=["sqs:SendMessage", "sqs:ReceiveMessage"]),
        "fallback permission on every queue": lambda t: statement(t, "WebhookReceiverFunction", "ParkRefusedDeliveries").update(Resource="*"),
        "fallback queue URL that is no queue": lambda t: receiver(t)["Environment"]["Variables"].update(FALLBACK_QUEUE_URL={"Ref": "RawFragmentsBucket"}),
        "store and fallback budgets over the timeout": lambda t: receiver(t)["Environment"]["Variables"].update(FALLBACK_BUDGET_MS="4000"),
        "fallback budget without a fallback queue": lambda t: manage(t)["Environment"]["Variables"].update(FALLBACK_BUDGET_MS="2000"),
        "queue mapping without partial batch failures": lambda t: t[r]["FallbackDrainQueueMapping"]["Properties"].pop("FunctionResponseTypes"),
        "consumed queue without a dead-letter queue": lambda t: fallback_queue(t).pop("RedrivePolicy"),
        "consumed queue without a bound on receives": lambda t: fallback_queue(t)["RedrivePolicy"].pop("maxReceiveCount"),
        "receives outlasting the queue's retention": lambda t: fallback_queue(t).update(MessageRetentionPeriod=1800),
        "dead-letter queue expiring messages sooner": lambda t: t[r]["FallbackDeadLetterQueue"]["Properties"].update(MessageRetentionPeriod=345600),
        "visibility timeout under six function timeouts": lambda t: fallback_queue(t).update(VisibilityTimeout=300),
        "queue the function may not consume": lambda t: statement(t, "FallbackDrainFunction", "ConsumeParkedDeliveries")["Action"].remove("sqs:DeleteMessage"),
        "drained batch over the function's timeout": lambda t: drain(t)["Environment"]["Variables"].update(STORE_BUDGET_MS="20000"),
        "queue not encrypted at rest": lambda t: t[r]["FallbackDeadLetterQueue"]["Properties"].pop("SqsManagedSseEnabled"),
        "dead-letter queue without an alarm": lambda t: t[r]["FallbackDeadLetterAlarm"]["Properties"]["Dimensions"][0].update(Value={"Fn::GetAtt": ["FallbackQueue", "QueueName"]}),
        "alarm expression naming no metric of the alarm": lambda t: alarm(t, "FailureRateAlarm")["Metrics"][0].update(Expression={"Fn::Sub": "100 * FILL(failed, 0) / FILL(sends, 0)"}),
        "metric math alarm returning two series": lambda t: alarm(t, "FailureRateAlarm")["Metrics"][1].update(ReturnData=True),
        "anomaly alarm whose threshold is no band": lambda t: alarm(t, "FailuresCode368Alarm").update(ThresholdMetricId="failures"),
        "anomaly alarm with a static operator": lambda t: alarm(t, "FailuresCode368Alarm").update(ComparisonOperator="GreaterThanThreshold"),
        "anomaly alarm with a static threshold too": lambda t: alarm(t, "FailuresCode131026Alarm").update(Threshold=0),
        "alarm window past CloudWatch's 7 days": lambda t: t["Parameters"]["NoDeliveryAlarmHours"].update(MaxValue=169),
        "alarm window of an unbounded parameter": lambda t: t["Parameters"]["NoDeliveryAlarmHours"].pop("MaxValue"),
        "alarm on more datapoints than it evaluates": lambda t: alarm(t, "NoDeliveryAlarm").update(DatapointsToAlarm=200),
    }
    failed = 0
    for label, mutate in mutations.items():
        broken = copy.deepcopy(original)
        mutate(broken)
        found = problems_of(broken)
        if found:
            print(f"self-test: ok, {label}: {found[0]}")
        else:
            print(f"self-test: NOT DETECTED: {label}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--self-test"]
    path = Path(args[0]) if args else DEFAULT_TEMPLATE
    if "--self-test" in argv:
        return self_test(path)
    problems = problems_of(load(path))
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print(f"check_template: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_template: {path.name}: references, functions, parameters, dashboard, route throttles, indexes, event source mappings, queues and alarms OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
