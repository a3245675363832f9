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
  calls of one delivery) a second below it, so a slow store is answered 503, not cut off;
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
  route fails the deploy ("Unable to find Route by key");
- every global secondary index of a table is one some function may `dynamodb:Query` (an index
  the code reads without that permission fails only at run time, with AccessDenied).
- a stream's event source mapping reports batch item failures, retries a bounded number of
  times, sends what it gives up on to an OnFailure destination, and its function's role may
  send there.

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
# STORE_TIMEOUT_MS when a function leaves it out (shared/src/config.rs).
DEFAULT_STORE_TIMEOUT_MS = 3000
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
        store_budget = env.get("STORE_BUDGET_MS")
        if store_budget is not None:
            try:
                if int(store_budget) + 1000 > int(timeout) * 1000:
                    problems.append(f"{where}: STORE_BUDGET_MS {store_budget} leaves less than a second of the {timeout} s timeout")
            except (TypeError, ValueError):
                problems.append(f"{where}: STORE_BUDGET_MS and Timeout must be literal numbers")
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
            routes.setdefault(api, {})[key] = f"Resources.{name}.Events.{event_name}"
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


def check_event_source_mappings(t: dict) -> list[str]:
    problems = []
    resources = t.get("Resources") or {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        where = f"Resources.{name}"
        props = resource.get("Properties") or {}
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


CHECKS = [
    check_references,
    check_functions,
    check_parameters,
    check_dashboard,
    check_route_throttles,
    check_indexes,
    check_event_source_mappings,
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
    query_resources = lambda t: next(  # noqa: E731
        s for s in _statements(t[r]["MessageQueryFunction"]["Properties"]["Policies"]) if s.get("Sid") == "QueryEventIndexes"
    )["Resource"]
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
        "route throttles without a burst limit": lambda t: route_settings(t)["POST /webhooks/{sub_product}"].pop("ThrottlingBurstLimit"),
        "index no function may query": lambda t: query_resources(t).pop(),
        "stream mapping without partial batch failures": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].pop("FunctionResponseTypes"),
        "stream mapping retrying without bound": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].update(MaximumRetryAttempts=-1),
        "stream mapping without a dead-letter queue": lambda t: t[r]["EventPublisherStreamMapping"]["Properties"].pop("DestinationConfig"),
        "trusted issuers without an audience": lambda t: receiver(t)["Environment"]["Variables"].pop("TRUSTED_AUDIENCE"),
        "management trusting issuers the receiver does not": lambda t: receiver(t)["Environment"]["Variables"].update(TRUSTED_ISSUERS=""),
        "dead-letter queue the function may not send to": lambda t: t[r]["EventPublisherFunction"]["Properties"]["Policies"][0]["Statement"].pop(2),
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
    print(f"check_template: {path.name}: references, functions, parameters, dashboard, route throttles, indexes and stream mappings OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
