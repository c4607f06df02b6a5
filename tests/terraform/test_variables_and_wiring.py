"""Variables typed, described and validated; every reference resolves; module calls match the
modules' variables and outputs (what `terraform validate` would check, without a provider)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.terraform.conftest import MODULE_VARS, MODULES, TF, blocks, evaluate, load_hcl, unquote

CONFIG_DIRS = [TF, *sorted(p for p in MODULES.iterdir() if p.is_dir())]
ROOT_VARS = {"region": "eu-west-1", "jwt_secret_parameter": "/wschat/dev/jwt-secret"}


def ids(dirs):
    return [d.relative_to(TF.parent).as_posix() for d in dirs]


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_module_has_the_standard_files(directory):
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= {p.name for p in directory.glob("*.tf")}


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_every_variable_is_typed_and_described_and_every_output_described(directory):
    for name, variable in blocks(directory, "variable").items():
        assert variable.get("type"), f"{directory.name}: variable {name} has no type"
        assert len(variable.get("description", "")) > 10, f"{directory.name}: variable {name} has no description"
    for name, output in blocks(directory, "output").items():
        assert output.get("description"), f"{directory.name}: output {name} has no description"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_terraform_and_provider_versions_are_pinned(directory):
    terraform = load_hcl(directory / "versions.tf")["terraform"][0]
    assert terraform["required_version"] == ">= 1.10, < 2.0"
    # Both provider majors: 5.100 (what a filesystem mirror may hold) and 6.x (the registry; CI runs both)
    assert terraform["required_providers"][0]["aws"] == {"source": "hashicorp/aws", "version": ">= 5.100, < 7.0"}


def test_root_uses_a_partially_configured_s3_backend_with_locking_example():
    terraform = load_hcl(TF / "versions.tf")["terraform"][0]
    assert terraform["backend"] == [{"s3": {}}]
    example = (TF / "backend.hcl.example").read_text()
    assert re.search(r"^use_lockfile\s*=\s*true", example, re.M)
    assert re.search(r"^encrypt\s*=\s*true", example, re.M)


def test_emulator_facing_root_variables_have_the_agreed_names_and_defaults():
    variables = blocks(TF, "variable")
    assert (variables["throttling_rate_limit"]["type"], variables["throttling_rate_limit"]["default"]) == ("number", 500)
    assert (variables["throttling_burst_limit"]["type"], variables["throttling_burst_limit"]["default"]) == ("number", 1000)
    assert (variables["stage_name"]["type"], variables["stage_name"]["default"]) == ("string", "dev")


def receivers(root_variable: str) -> list[tuple[str, str]]:
    """(module, module variable) of every module call that passes ``var.<root_variable>`` through."""
    return [(Path(call["source"]).name, argument) for call in blocks(TF, "module").values()
            for argument, value in call.items() if value == f"${{var.{root_variable}}}"]


def test_the_root_validates_nothing_itself_and_passes_every_variable_through():
    # Validation lives in the modules: one place per rule, so root and module cannot drift apart.
    variables = blocks(TF, "variable")
    assert [name for name, v in variables.items() if v.get("validation")] == []
    # provider / locals use these (and pass them on too); oidc is merged with the Cognito module's issuer
    # and client id into local.oidc, cognito is spread into the Cognito module's arguments
    provider_only = {"region", "tags", "build_dir", "oidc", "cognito"}
    assert [name for name in variables if not receivers(name) and name not in provider_only] == []


BAD_ROOT_VALUES = [
    {"throttling_rate_limit": 0}, {"throttling_rate_limit": 20000}, {"throttling_burst_limit": 6000},
    {"throttling_burst_limit": 1.5}, {"stage_name": "bad stage"}, {"log_retention_days": 10},
    {"lambda_architecture": "mips"}, {"name_prefix": "Bad_Prefix"}, {"name_prefix": "x" * 41},
    {"region": "moon-1"}, {"kms_key_arn": "not-an-arn"}, {"jwt_secret_kms_key_arn": "not-an-arn"},
    {"jwt_secret_parameter": ""}, {"reserved_concurrency": {"ping": -2}}, {"log_level": "LOUD"},
    {"api_logging_level": "ALL"}, {"lambda_error_threshold": 0}, {"api_error_threshold": 0},
]


@pytest.mark.parametrize("bad", BAD_ROOT_VALUES, ids=lambda o: f"{next(iter(o))}={next(iter(o.values()))!s:.12}")
def test_a_value_out_of_bounds_at_the_root_is_refused_by_the_module_it_reaches(bad):
    # GIVEN a bad root value / WHEN it reaches the modules the root passes it to
    (root_variable, value), = bad.items()
    targets = receivers(root_variable)
    assert targets, f"var.{root_variable} reaches no module"
    refused = []
    for module, argument in targets:
        try:
            evaluate(MODULES / module, ["variables.tf"], {**MODULE_VARS[module], argument: value}, {"ok": "true"})
        except AssertionError as e:
            refused.append((module, str(e)))
    # THEN a module refuses it, with its own message
    assert refused, f"no module validates var.{root_variable} = {value!r}"


@pytest.mark.parametrize("module", sorted(MODULE_VARS))
def test_every_module_accepts_what_the_root_passes_from_each_environment(module):
    # GIVEN terraform/envs/<env>.tfvars over the root defaults / WHEN passed through to the module
    defaults = {name: v["default"] for name, v in blocks(TF, "variable").items() if "default" in v}
    for env in ("dev", "prod"):
        values = {**defaults, **{k: unquote(v) for k, v in load_hcl(TF / "envs" / f"{env}.tfvars").items()}}
        tfvars = dict(MODULE_VARS[module])
        for root_variable, value in values.items():
            for target, argument in receivers(root_variable):
                if target == module and value is not None:
                    tfvars[argument] = value
        # THEN every validation of the module passes
        assert evaluate(MODULES / module, ["variables.tf"], tfvars, {"ok": "true"}) == {"ok": True}


def _text_without_comments(directory: Path) -> str:
    lines = []
    for path in sorted(directory.glob("*.tf")):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if not stripped.startswith(("#", "//", "from ")):  # a moved block's `from` names what no longer exists
                lines.append(re.sub(r"\s#[^\"]*$", "", line))
    return "\n".join(lines)


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=ids(CONFIG_DIRS))
def test_every_reference_names_a_declared_object(directory):
    text = _text_without_comments(directory)
    variables = set(blocks(directory, "variable"))
    local_names = set(blocks(directory, "locals"))
    resources = {f"{t}.{n}" for t, n in blocks(directory, "resource")}
    data = {f"data.{t}.{n}" for t, n in blocks(directory, "data")}
    modules = blocks(directory, "module")

    assert set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", text)) <= variables
    assert set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", text)) <= local_names
    assert {m.group(0) for m in re.finditer(r"\bdata\.aws_[a-z0-9_]+\.[a-z0-9_]+", text)} <= data
    used = {m.group(1) for m in re.finditer(r"(?<![.\w\"])(aws_[a-z0-9_]+\.[a-z0-9_]+)", text)}
    assert used <= resources
    for name, output in re.findall(r"\bmodule\.([a-z_]+)\.([a-z_]+)", text):
        assert name in modules, name
        source = (directory / modules[name]["source"]).resolve()
        assert output in blocks(source, "output"), f"module.{name}.{output}"


@pytest.mark.parametrize("call", sorted(blocks(TF, "module")))
def test_module_calls_pass_only_declared_and_all_required_variables(call):
    arguments = blocks(TF, "module")[call]
    source = (TF / arguments["source"]).resolve()
    declared = blocks(source, "variable")
    passed = set(arguments) - {"source", "depends_on", "providers", "count", "for_each"}
    assert passed <= set(declared), passed - set(declared)
    required = {name for name, v in declared.items() if "default" not in v}
    assert required <= passed, required - passed


# A module validates the names it builds from name_prefix by its own resources' rules (DynamoDB table
# names vs Lambda function and IAM role names): different facts, so different conditions. token_sources:
# the API module also checks the names against the manifest's authorizer.tokenSources, which the
# functions module does not receive.
OWN_RULES = {"name_prefix", "token_sources"}


def test_a_rule_several_modules_check_is_written_the_same_in_each():
    # GIVEN every module's validations, by variable name / THEN a value validated twice is validated alike
    rules: dict[str, dict[str, list]] = {}
    for module in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        for name, variable in blocks(module, "variable").items():
            if variable.get("validation"):
                rules.setdefault(name, {})[module.name] = variable["validation"]
    repeated = {name: by_module for name, by_module in rules.items() if len(by_module) > 1}
    assert {"kms_key_arn", "log_retention_days"} <= repeated.keys()
    drifted = [name for name, by_module in repeated.items()
               if name not in OWN_RULES and len({repr(v) for v in by_module.values()}) > 1]
    assert drifted == []
