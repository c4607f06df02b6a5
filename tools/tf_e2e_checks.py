"""What `make tf-e2e` asserts about a stack applied to the local cloud, read back with boto3.

Every expectation is computed here from the sources of truth (manifest.json, the PynamoDB models,
the environment's tfvars and Terraform's outputs), never from the Terraform code under test, so a
module that drifts from the manifest or the models fails here. Each check raises CheckFailed naming
what differs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def equal(actual: Any, expected: Any, what: str) -> None:
    expect(actual == expected, f"{what}: expected {expected!r}, found {actual!r}")


@dataclass(frozen=True)
class Stack:
    """What the checks need to know: the environment's inputs and Terraform's outputs."""

    manifest: dict[str, Any]
    tfvars: dict[str, Any]
    outputs: dict[str, Any]
    region: str
    account: str
    client: Callable[[str], Any]

    def var(self, name: str, default: Any = None) -> Any:
        return self.tfvars.get(name, default)

    @property
    def token_sources(self) -> list[str]:
        return list(self.tfvars.get("token_sources", ["query", "subprotocol"]))

    @property
    def prefix(self) -> str:
        return self.tfvars["name_prefix"]

    @property
    def stage(self) -> str:
        return self.tfvars.get("stage_name", "dev")

    def function_name(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 (and Terraform's filebase64sha256): base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


# ---- API Gateway ---------------------------------------------------------------------------------

def check_api(stack: Stack) -> dict[str, int]:
    v2 = stack.client("apigatewayv2")
    api_id = stack.outputs["api_id"]
    api = v2.get_api(ApiId=api_id)
    equal(api["ProtocolType"], "WEBSOCKET", "API protocol")
    equal(api["RouteSelectionExpression"], stack.manifest["routeSelectionExpression"], "route selection expression")
    equal(stack.outputs["websocket_url"], f"{api['ApiEndpoint']}/{stack.stage}", "websocket_url output")
    equal(stack.outputs["management_endpoint"],
          f"{api['ApiEndpoint'].replace('wss://', 'https://', 1)}/{stack.stage}", "management_endpoint output")

    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id)["Items"]}
    equal(sorted(routes), sorted(stack.manifest["routes"]), "route keys")
    integrations = {i["IntegrationId"]: i for i in v2.get_integrations(ApiId=api_id)["Items"]}
    equal(len(integrations), len(routes), "one integration per route")
    authorizers = v2.get_authorizers(ApiId=api_id)["Items"]
    equal(len(authorizers), 1, "authorizers")
    authorizer = authorizers[0]
    equal(authorizer["AuthorizerType"], "REQUEST", "authorizer type")
    # One token source enabled: its expression; several: none (API Gateway ANDs identity sources)
    sources = stack.token_sources
    expected_sources = [stack.manifest["authorizer"]["tokenSources"][sources[0]]] if len(sources) == 1 else []
    equal(authorizer.get("IdentitySource") or [], expected_sources, "authorizer identity source")
    expect(stack.function_name(stack.manifest["authorizer"]["function"]) in authorizer["AuthorizerUri"],
           f"authorizer invokes {stack.manifest['authorizer']['function']}: {authorizer['AuthorizerUri']}")

    for key, spec in stack.manifest["routes"].items():
        route = routes[key]
        integration = integrations[route["Target"].removeprefix("integrations/")]
        function_arn = stack.arn("lambda", f"function:{stack.function_name(spec['function'])}")
        equal(integration["IntegrationType"], "AWS_PROXY", f"{key} integration type")
        expect(function_arn in integration["IntegrationUri"],
               f"route {key} integrates {integration['IntegrationUri']}, not its own function {function_arn}")
        guarded = bool(spec.get("authorizer"))
        equal(route.get("AuthorizationType"), "CUSTOM" if guarded else "NONE", f"{key} authorization type")
        if guarded:
            equal(route.get("AuthorizerId"), authorizer["AuthorizerId"], f"{key} authorizer")
        two_way = bool(spec.get("routeResponse"))
        responses = v2.get_route_responses(ApiId=api_id, RouteId=route["RouteId"])["Items"]
        equal(route.get("RouteResponseSelectionExpression"), "$default" if two_way else None,
              f"{key} route response selection")
        equal([r["RouteResponseKey"] for r in responses], ["$default"] if two_way else [], f"{key} route responses")

    stage = v2.get_stage(ApiId=api_id, StageName=stack.stage)
    settings = stage["DefaultRouteSettings"]
    equal(settings.get("ThrottlingRateLimit"), float(stack.var("throttling_rate_limit", 500)), "stage rate limit")
    equal(settings.get("ThrottlingBurstLimit"), int(stack.var("throttling_burst_limit", 1000)), "stage burst limit")
    equal(settings.get("LoggingLevel"), stack.var("api_logging_level", "ERROR"), "stage logging level")
    equal(settings.get("DataTraceEnabled"), False, "stage data trace (would log bodies and tokens)")
    equal(settings.get("DetailedMetricsEnabled"), True, "stage detailed metrics")
    access = stage.get("AccessLogSettings") or {}
    log_group = f"/aws/apigateway/{stack.prefix}-ws/{stack.stage}/access"
    equal(access.get("DestinationArn"), stack.arn("logs", f"log-group:{log_group}"), "access log destination")
    expect('"connectionId":"$context.connectionId"' in access.get("Format", "").replace(" ", ""),
           f"access log format is JSON with the connection id: {access.get('Format')}")
    deployments = {d["DeploymentId"] for d in v2.get_deployments(ApiId=api_id)["Items"]}
    expect(stage.get("DeploymentId") in deployments, f"stage deployment {stage.get('DeploymentId')} exists")
    return {"routes": len(routes), "integrations": len(integrations)}


# ---- Lambda --------------------------------------------------------------------------------------

def expected_environment(stack: Stack, name: str) -> dict[str, str]:
    fn = stack.manifest["functions"][name]
    env = {
        **stack.var("function_settings", {}),
        "CONNECTIONS_TABLE": stack.outputs["table_names"]["connections"],
        "ROOM_MEMBERS_TABLE": stack.outputs["table_names"]["room_members"],
        "MESSAGES_TABLE": stack.outputs["table_names"]["messages"],
        "MANAGEMENT_ENDPOINT": stack.outputs["management_endpoint"],
        "FANOUT_FUNCTION_NAME": stack.function_name(stack.manifest["fanoutWorker"]["function"]),
        "LOG_LEVEL": stack.var("log_level", "INFO"),
        "POWERTOOLS_METRICS_NAMESPACE": stack.var("metrics_namespace", "wschat"),
        # the manifest's custom routes: the actions $default lists
        "CLIENT_ACTIONS": ",".join(sorted(key for key in stack.manifest["routes"] if not key.startswith("$"))),
    }
    if fn["permissions"].get("jwtSecret"):
        env["TOKEN_SOURCES"] = ",".join(stack.token_sources)
        if stack.var("auth_mode", "hs256") == "hs256":
            env["JWT_SECRET_PARAMETER"] = stack.var("jwt_secret_parameter")
            env.update({key: stack.var(var) for key, var in (("JWT_ISSUER", "jwt_issuer"),
                                                             ("JWT_AUDIENCE", "jwt_audience")) if stack.var(var)})
        else:
            raise CheckFailed("tf-e2e checks the hs256 environment only: add the oidc variables here first")
    return env


def check_functions(stack: Stack, zips: dict[str, bytes]) -> dict[str, int]:
    lam = stack.client("lambda")
    layer_arn = stack.outputs.get("layer_arn")
    for name, fn in stack.manifest["functions"].items():
        config = lam.get_function_configuration(FunctionName=stack.function_name(name))
        what = f"function {name}"
        equal(config["Handler"], fn["handler"], f"{what} handler")
        equal(config["Runtime"], stack.manifest["runtime"], f"{what} runtime")
        equal(config["Architectures"], [stack.var("lambda_architecture", "arm64")], f"{what} architecture")
        equal(config["MemorySize"], fn["memory"], f"{what} memory")
        equal(config["Timeout"], fn["timeout"], f"{what} timeout")
        equal(config["CodeSha256"], code_sha256(zips[name]), f"{what} code (sha256 of build/functions/{name}.zip)")
        equal(config["TracingConfig"], {"Mode": "Active"}, f"{what} tracing")
        layers = [layer["Arn"] for layer in config.get("Layers", [])]
        equal(len(layers), 1, f"{what} layers")
        expect(layers[0].startswith(stack.arn("lambda", f"layer:{stack.prefix}-shared:")),
               f"{what} uses the shared layer: {layers}")
        if layer_arn:
            equal(layers[0], layer_arn, f"{what} layer version")
        equal(config.get("Environment", {}).get("Variables", {}), expected_environment(stack, name), f"{what} environment")
        reserved = stack.var("reserved_concurrency", {}).get(name)
        if reserved is not None:
            concurrency = lam.get_function_concurrency(FunctionName=stack.function_name(name))
            equal(concurrency.get("ReservedConcurrentExecutions"), reserved, f"{what} reserved concurrency")
    layer_name, layer_version = layers[0].split(":")[-2:]
    layer = lam.get_layer_version(LayerName=layer_name, VersionNumber=int(layer_version))
    equal(layer["Content"]["CodeSha256"], code_sha256(zips["layer"]), "layer code (sha256 of build/layer.zip)")
    return {"functions": len(stack.manifest["functions"])}


# ---- DynamoDB ------------------------------------------------------------------------------------

def model_schema(model: Any) -> dict[str, Any]:
    """The table definition a PynamoDB model implies: keys, key attribute types, GSIs, TTL."""
    attributes = {a.attr_name: a.attr_type for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key}
    indexes = {}
    for name, index in model._indexes.items():
        if not isinstance(index, GlobalSecondaryIndex):
            raise CheckFailed(f"{model.__name__}.{name}: only global secondary indexes are modelled")
        keys = index.Meta.attributes.values()
        attributes.update({a.attr_name: a.attr_type for a in keys})
        indexes[name] = {
            "hash_key": next(a.attr_name for a in keys if a.is_hash_key),
            "range_key": next((a.attr_name for a in keys if a.is_range_key), None),
            "projection_type": index.Meta.projection.projection_type,
            "non_key_attributes": sorted(index.Meta.projection.non_key_attributes or []),
        }
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    if len(ttl) != 1:
        raise CheckFailed(f"{model.__name__} must have exactly one TTLAttribute, has {ttl}")
    return {"hash_key": model._hash_keyname, "range_key": model._range_keyname, "attributes": attributes,
            "ttl_attribute": ttl[0], "global_secondary_indexes": indexes}


def described_schema(description: dict[str, Any], ttl_attribute: str | None) -> dict[str, Any]:
    def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
        by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
        return by_type["HASH"], by_type.get("RANGE")

    hash_key, range_key = keys(description["KeySchema"])
    indexes = {}
    for index in description.get("GlobalSecondaryIndexes", []):
        index_hash, index_range = keys(index["KeySchema"])
        indexes[index["IndexName"]] = {
            "hash_key": index_hash, "range_key": index_range,
            "projection_type": index["Projection"]["ProjectionType"],
            "non_key_attributes": sorted(index["Projection"].get("NonKeyAttributes", [])),
        }
    return {"hash_key": hash_key, "range_key": range_key,
            "attributes": {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]},
            "ttl_attribute": ttl_attribute, "global_secondary_indexes": indexes}


def check_tables(stack: Stack, table_models: dict[str, Any]) -> dict[str, int]:
    ddb = stack.client("dynamodb")
    equal(sorted(stack.outputs["table_names"]), sorted(table_models), "tables")
    for logical, model in table_models.items():
        name = stack.outputs["table_names"][logical]
        equal(name, f"{stack.prefix}-{logical}", f"table {logical} name")
        description = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        equal(ttl.get("TimeToLiveStatus"), "ENABLED", f"table {logical} TTL")
        equal(described_schema(description, ttl.get("AttributeName")), model_schema(model), f"table {logical} schema")
        equal(description.get("BillingModeSummary", {}).get("BillingMode"), "PAY_PER_REQUEST", f"table {logical} billing")
        sse = description.get("SSEDescription", {})
        equal((sse.get("Status"), sse.get("SSEType")), ("ENABLED", "KMS"), f"table {logical} encryption")
        if stack.var("kms_key_arn"):
            equal(sse.get("KMSMasterKeyArn"), stack.var("kms_key_arn"), f"table {logical} KMS key")
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        equal(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "ENABLED", f"table {logical} PITR")
        equal(description.get("DeletionProtectionEnabled", False), stack.var("deletion_protection", True),
              f"table {logical} deletion protection")
    return {"tables": len(table_models)}


# ---- IAM -----------------------------------------------------------------------------------------

def expected_grants(stack: Stack, name: str) -> set[tuple[str, str]]:
    """(action, resource) pairs a function's role must allow: its manifest entry plus the baseline."""
    perms = stack.manifest["functions"][name]["permissions"]
    log_group = stack.arn("logs", f"log-group:/aws/lambda/{stack.function_name(name)}:*")
    grants = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group),
              ("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    for grant in perms["dynamodb"]:
        table = stack.arn("dynamodb", f"table/{stack.outputs['table_names'][grant['table']]}")
        arns = [table, *(f"{table}/index/{index}" for index in grant.get("indexes", []))]
        grants |= {(action, arn) for action in grant["actions"] for arn in arns}
    execution_arn = stack.arn("execute-api", stack.outputs["api_id"])
    grants |= {("execute-api:ManageConnections", f"{execution_arn}/{stack.stage}/{method}/@connections/*")
               for method in perms["manageConnections"]}
    grants |= {("lambda:InvokeFunction", stack.arn("lambda", f"function:{stack.function_name(target)}"))
               for target in perms["invoke"]}
    if perms.get("jwtSecret"):
        grants.add(("ssm:GetParameter", stack.arn("ssm", f"parameter/{stack.var('jwt_secret_parameter').lstrip('/')}")))
        if stack.var("jwt_secret_kms_key_arn"):
            grants.add(("kms:Decrypt", stack.var("jwt_secret_kms_key_arn")))
    if any(name in fn["permissions"]["invoke"] for fn in stack.manifest["functions"].values()):
        grants.add(("sqs:SendMessage", stack.arn("sqs", f"{stack.function_name(name)}-dlq")))
    return grants


def actual_grants(document: dict[str, Any], what: str) -> set[tuple[str, str]]:
    grants = set()
    for statement in document["Statement"]:
        expect(statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement,
               f"{what}: only Allow statements with Action/Resource: {statement}")
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        grants |= {(action, resource) for action in actions for resource in resources}
    return grants


def check_roles(stack: Stack) -> dict[str, int]:
    iam = stack.client("iam")
    ours = sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{stack.prefix}-"))
    equal(ours, sorted(f"{stack.function_name(name)}-role" for name in stack.manifest["functions"]),
          "the stack's roles (one per function; the account-wide API Gateway role belongs to the baseline)")
    for name in stack.manifest["functions"]:
        role = f"{stack.function_name(name)}-role"
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        principals = [s["Principal"] for s in trust["Statement"]]
        equal(principals, [{"Service": "lambda.amazonaws.com"}], f"role {role} trust")
        policies = iam.list_role_policies(RoleName=role)["PolicyNames"]
        equal(policies, ["least-privilege"], f"role {role} inline policies")
        equal(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [], f"role {role} attached policies")
        document = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
        actual, expected = actual_grants(document, role), expected_grants(stack, name)
        expect(actual == expected, f"role {role}: grants beyond the manifest {sorted(actual - expected)}, "
                                   f"missing {sorted(expected - actual)}")
    return {"roles": len(stack.manifest["functions"])}


# ---- After destroy -------------------------------------------------------------------------------

def leftovers(client: Callable[[str], Any], prefix: str) -> list[str]:
    """Everything named <prefix>-... still in the cloud (moto's own defaults have other names)."""
    left: list[str] = []
    left += [f"lambda {f['FunctionName']}" for f in client("lambda").list_functions()["Functions"]
             if f["FunctionName"].startswith(prefix)]
    left += [f"layer {layer['LayerName']}" for layer in client("lambda").list_layers()["Layers"]
             if layer["LayerName"].startswith(prefix)]
    left += [f"table {t}" for t in client("dynamodb").list_tables()["TableNames"] if t.startswith(prefix)]
    left += [f"api {a['Name']}" for a in client("apigatewayv2").get_apis()["Items"] if a["Name"].startswith(prefix)]
    left += [f"role {r['RoleName']}" for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    left += [f"log group {g['logGroupName']}" for g in client("logs").describe_log_groups()["logGroups"]
             if prefix in g["logGroupName"]]
    left += [f"queue {q}" for q in client("sqs").list_queues().get("QueueUrls", []) if f"/{prefix}" in q]
    left += [f"alarm {a['AlarmName']}" for a in client("cloudwatch").describe_alarms()["MetricAlarms"]
             if a["AlarmName"].startswith(prefix)]
    left += [f"dashboard {d['DashboardName']}" for d in client("cloudwatch").list_dashboards()["DashboardEntries"]
             if d["DashboardName"].startswith(prefix)]
    left += [f"topic {t['TopicArn']}" for t in client("sns").list_topics()["Topics"] if f":{prefix}" in t["TopicArn"]]
    kms = client("kms")
    for key in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if prefix in meta.get("Description", "") and meta["KeyState"] != "PendingDeletion":
            left.append(f"kms key {key['KeyId']} ({meta['KeyState']})")
    return left


# ---- Asynchronous fan-out: failures kept, loops allowed but capped, alarms ------------------------

def check_async(stack: Stack) -> dict[str, int]:
    lam, cloudwatch, logs = stack.client("lambda"), stack.client("cloudwatch"), stack.client("logs")
    functions = stack.manifest["functions"]
    async_targets = sorted({target for fn in functions.values() for target in fn["permissions"]["invoke"]})
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix=stack.prefix)["MetricAlarms"]}
    for name in async_targets:
        function = stack.function_name(name)
        queue = stack.arn("sqs", f"{function}-dlq")
        config = lam.get_function_event_invoke_config(FunctionName=function)
        equal(config.get("MaximumRetryAttempts"), 1, f"{name} async retries")
        equal(config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"), queue,
              f"{name} on-failure destination")
        expect("DeadLetterConfig" not in lam.get_function_configuration(FunctionName=function),
               f"{name}: failures go to the on-failure destination, not a second DLQ")
        for alarm in ("failed-events", "async-events-dropped", "recursive-invocations-dropped", "hop-limit"):
            expect(f"{stack.prefix}-{name}-{alarm}" in alarms, f"alarm {stack.prefix}-{name}-{alarm} exists")
        hop_limit = alarms[f"{stack.prefix}-{name}-hop-limit"]
        equal((hop_limit["Namespace"], hop_limit["MetricName"], hop_limit["Dimensions"]),
              (stack.var("metrics_namespace", "wschat"), "FanoutHopLimitReached",
               [{"Name": "FunctionName", "Value": function}]), f"{name} hop-limit alarm (the worker's EMF metric)")
        filters = logs.describe_metric_filters(logGroupName=f"/aws/lambda/{function}")["metricFilters"]
        equal(filters, [], f"{name} log metric filters (the EMF metric replaced the hop-limit filter)")
    for name, fn in functions.items():
        loop = lam.get_function_recursion_config(FunctionName=stack.function_name(name))["RecursiveLoop"]
        equal(loop, "Allow" if name in fn["permissions"]["invoke"] else "Terminate", f"{name} recursive loop")
    return {"async_functions": len(async_targets), "alarms": len(alarms)}


# ---- Dashboard and the alarms on the stack's own metrics -----------------------------------------

# What AWS publishes that the dashboard may chart: namespace -> (metric names, dimension names).
AWS_METRICS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "AWS/ApiGateway": (frozenset({"ConnectCount", "MessageCount", "IntegrationError", "ClientError", "ExecutionError",
                                  "IntegrationLatency"}), frozenset({"ApiId", "Stage"})),
    "AWS/Lambda": (frozenset({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}),
                   frozenset({"FunctionName"})),
    "AWS/DynamoDB": (frozenset({"ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "ReadThrottleEvents",
                                "WriteThrottleEvents"}), frozenset({"TableName"})),
    "AWS/SQS": (frozenset({"ApproximateNumberOfMessagesVisible"}), frozenset({"QueueName"})),
}
GRID_COLUMNS = 24
STATISTIC = re.compile(r"^(Sum|Average|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d+)?)$")


def metric_emitters(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Which manifest functions write the metrics of each chat.metrics role, from what the manifest lets
    them do (the code's view: a function that may POST to @connections delivers, and so on)."""
    from chat import metrics

    functions = manifest["functions"]
    routed = {route["function"] for route in manifest["routes"].values()}
    deliverers = sorted(n for n, f in functions.items() if "POST" in f["permissions"]["manageConnections"])
    return {
        metrics.DELIVERERS: deliverers,
        metrics.SENDERS: [n for n in deliverers if n in routed],
        metrics.ROUTES_WITH_TABLES: sorted(n for n in routed if functions[n]["permissions"]["dynamodb"]),
        metrics.AUTHORIZER: [manifest["authorizer"]["function"]],
        metrics.FANOUT_WORKER: [manifest["fanoutWorker"]["function"]],
    }


def expected_custom_metrics(stack: Stack) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (metric, dimensions) the code writes on this stack: chat.metrics.CATALOG x its emitters x its
    breakdown values."""
    from chat import metrics

    emitters = metric_emitters(stack.manifest)
    out = set()
    for m in metrics.CATALOG.values():
        for name in emitters[m.emitted_by]:
            for value in m.values or (None,):
                dims = {"FunctionName": stack.function_name(name), **({m.breakdown: value} if m.breakdown else {})}
                out.add((m.name, tuple(sorted(dims.items()))))
    return out


def dashboard_metrics(body: dict[str, Any], region: str) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Checks the dashboard body's structure (CloudWatch's dashboard body: a grid of 24 columns, metric
    widgets with a region and rows [namespace, name, dim, value, ..., {options}] or expressions over the
    widget's ids); returns every (namespace, metric, dimensions) it charts."""
    widgets = body.get("widgets")
    expect(isinstance(widgets, list) and widgets, "dashboard body has widgets")
    charted = []
    for n, widget in enumerate(widgets):
        where = f"widget {n} ({widget.get('properties', {}).get('title', widget.get('type'))})"
        expect(widget.get("type") in ("metric", "text"), f"{where}: type {widget.get('type')!r}")
        x, y, width, height = (widget.get(k) for k in ("x", "y", "width", "height"))
        expect(all(isinstance(v, int) for v in (x, y, width, height)), f"{where}: integer x, y, width, height")
        expect(0 <= x and 1 <= width and x + width <= GRID_COLUMNS and y >= 0 and 1 <= height <= 1000,
               f"{where}: inside the {GRID_COLUMNS}-column grid")
        props = widget.get("properties") or {}
        if widget["type"] == "text":
            expect(isinstance(props.get("markdown"), str), f"{where}: markdown")
            continue
        equal(props.get("region"), region, f"{where} region")
        rows = props.get("metrics")
        expect(isinstance(rows, list) and rows, f"{where}: metrics")
        ids = {row[-1]["id"] for row in rows if isinstance(row[-1], dict) and "id" in row[-1]}
        for row in rows:
            options = row[-1] if isinstance(row[-1], dict) else {}
            if "expression" in options:
                expect(len(row) == 1, f"{where}: an expression row holds only its options")
                used = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", options["expression"])) - {"IF", "FILL"}
                expect(used <= ids, f"{where}: expression {options['expression']!r} uses unknown ids {used - ids}")
                continue
            names = row[:-1] if options else row
            expect(len(names) >= 2 and len(names) % 2 == 0 and all(isinstance(v, str) and v for v in names)
                   and names[0] != ".", f"{where}: row {row} is [namespace, name, (dimension, value)...]")
            stat = options.get("stat", props.get("stat"))
            expect(isinstance(stat, str) and STATISTIC.match(stat) is not None, f"{where}: statistic {stat!r}")
            dims = tuple(sorted(zip(names[2::2], names[3::2], strict=True)))
            charted.append((names[0], names[1], dims))
    return charted


def check_dashboard(stack: Stack) -> dict[str, int]:
    """The dashboard exists, is well-formed, and charts only metrics the code writes (chat.metrics) or AWS
    publishes, for resources of this stack; every metric of the catalogue is on it."""
    from chat import metrics

    cloudwatch = stack.client("cloudwatch")
    name = stack.prefix
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    equal(stack.outputs["dashboard_url"],
          f"https://{stack.region}.console.aws.amazon.com/cloudwatch/home?region={stack.region}"
          f"#dashboards/dashboard/{name}", "dashboard_url output")
    namespace = stack.var("metrics_namespace", "wschat")
    functions = {stack.function_name(n) for n in stack.manifest["functions"]}
    resources = {
        "ApiId": {stack.outputs["api_id"]}, "Stage": {stack.stage}, "FunctionName": functions,
        "TableName": set(stack.outputs["table_names"].values()),
        "QueueName": {f"{stack.function_name(n)}-dlq" for n in stack.outputs["dead_letter_queue_urls"]},
    }
    expected_custom = expected_custom_metrics(stack)
    custom, published = set(), set()
    for ns, metric, dims in dashboard_metrics(body, stack.region):
        if ns == namespace:
            expect((metric, dims) in expected_custom,
                   f"dashboard charts {metric} {dict(dims)}, which the code never writes (chat.metrics.CATALOG)")
            custom.add((metric, dims))
            continue
        expect(ns in AWS_METRICS, f"dashboard charts namespace {ns!r}: neither {namespace!r} nor a known AWS one")
        names, dimension_names = AWS_METRICS[ns]
        expect(metric in names, f"dashboard charts {ns} {metric}, which is not a metric it publishes here")
        equal({k for k, _ in dims}, set(dimension_names), f"dimensions of {ns} {metric}")
        for key, value in dims:
            expect(value in resources[key], f"dashboard charts {ns} {metric} for {key}={value}, not of this stack")
        published.add((ns, metric, dims))
    missing = expected_custom - custom
    expect(not missing, f"metrics the code writes missing from the dashboard: {sorted(missing)}")
    for ns, (names, _) in AWS_METRICS.items():
        for metric in names:
            charted = {dims for n, m, dims in published if (n, m) == (ns, metric)}
            key = next(iter(AWS_METRICS[ns][1])) if len(AWS_METRICS[ns][1]) == 1 else None
            wanted = len(resources[key]) if key else 1
            equal(len(charted), wanted, f"{ns} {metric}: charted for every resource")
    equal({m.name for m in metrics.CATALOG.values()}, {m for m, _ in custom}, "catalogue metrics on the dashboard")
    return {"dashboard_metrics": len(custom) + len(published)}


def check_custom_alarms(stack: Stack) -> dict[str, int]:
    """Alarms on the stack's own metrics: the failed-delivery share and the p99 delivery time per deliverer,
    the identity provider unreachable for the authorizer; each on a metric the code writes."""
    cloudwatch = stack.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix=stack.prefix)["MetricAlarms"]}
    namespace = stack.var("metrics_namespace", "wschat")
    expected_custom = expected_custom_metrics(stack)
    emitters = metric_emitters(stack.manifest)
    from chat import metrics

    checked = 0
    for name in emitters[metrics.DELIVERERS]:
        function = stack.function_name(name)
        rate = alarms.get(f"{stack.prefix}-{name}-failed-deliveries")
        expect(rate is not None, f"failed-delivery alarm of {name}")
        queries = {q["Id"]: q for q in rate["Metrics"]}
        expect(rate["Threshold"] == float(stack.var("failed_delivery_alarm_percent", 5)), f"{name} failed % threshold")
        expect(queries["rate"].get("ReturnData") is True and "100 * f" in queries["rate"]["Expression"],
               f"{name} failed-delivery expression: {queries['rate']}")
        for qid, metric in (("d", "DeliveriesDelivered"), ("g", "DeliveriesGone"), ("f", "DeliveriesFailed")):
            stat = queries[qid]["MetricStat"]
            dims = tuple(sorted((d["Name"], d["Value"]) for d in stat["Metric"]["Dimensions"]))
            equal((stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]),
                  (namespace, metric, "Sum"), f"{name} failed-delivery query {qid}")
            expect((metric, dims) in expected_custom, f"{name} failed-delivery query {qid} on a written metric")
        latency = alarms.get(f"{stack.prefix}-{name}-delivery-latency")
        expect(latency is not None, f"delivery-latency alarm of {name}")
        equal((latency["Namespace"], latency["MetricName"], latency.get("ExtendedStatistic"), latency["Dimensions"]),
              (namespace, "FanoutTimeToLastDelivery", "p99", [{"Name": "FunctionName", "Value": function}]),
              f"{name} delivery-latency alarm")
        checked += 2
    authorizer = emitters[metrics.AUTHORIZER][0]
    idp = alarms.get(f"{stack.prefix}-{authorizer}-identity-provider-unavailable")
    expect(idp is not None, "identity-provider-unavailable alarm")
    dims = tuple(sorted((d["Name"], d["Value"]) for d in idp["Dimensions"]))
    expect((idp["MetricName"], dims) in expected_custom and idp["Namespace"] == namespace,
           f"identity-provider alarm on a written metric: {idp['MetricName']} {dims}")
    return {"custom_alarms": checked + 1}
