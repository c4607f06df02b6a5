"""Each function's role allows exactly what its manifest entry declares (plus the documented
baseline: its own log group, X-Ray, its own dead-letter queue when invoked asynchronously)."""

from __future__ import annotations

import pytest

from tests.terraform.conftest import (
    ACCOUNT,
    EXECUTION_ARN,
    MANIFEST,
    MODULES,
    REGION,
    TABLE_ARNS,
    blocks,
    evaluate_functions,
    first,
    resource,
)

FUNCTIONS = MANIFEST["functions"]
ASYNC_TARGETS = {target for fn in FUNCTIONS.values() for target in fn["permissions"]["invoke"]}
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


def expected_grants(name: str, jwt_kms_key: str | None = None, table_key: str | None = None) -> set[tuple[str, str]]:
    perms = FUNCTIONS[name]["permissions"]
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/wschat-test-{name}:*"
    grants = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group),
              ("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    for grant in perms["dynamodb"]:
        table = TABLE_ARNS[grant["table"]]
        arns = [table] + [f"{table}/index/{index}" for index in grant.get("indexes", [])]
        grants |= {(action, arn) for action in grant["actions"] for arn in arns}
    for method in perms["manageConnections"]:
        grants.add(("execute-api:ManageConnections", f"{EXECUTION_ARN}/dev/{method}/@connections/*"))
    for target in perms["invoke"]:
        grants.add(("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:wschat-test-{target}"))
    if perms.get("jwtSecret"):
        grants.add(("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/wschat/test/jwt-secret"))
        if jwt_kms_key:
            grants.add(("kms:Decrypt", jwt_kms_key))
    if name in ASYNC_TARGETS:
        grants.add(("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wschat-test-{name}-dlq"))
    if table_key and perms["dynamodb"]:
        grants |= {("kms:Decrypt", table_key), ("kms:GenerateDataKey", table_key)}
    return grants


def actual_grants(document: dict) -> set[tuple[str, str]]:
    grants = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        for action in statement["Action"]:
            for arn in statement["Resource"]:
                grants.add((action, arn))
    return grants


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_role_allows_exactly_the_manifest_permissions(functions_eval, name):
    # GIVEN the manifest entry of a function / WHEN Terraform computes its policy
    document = functions_eval["policies"][name]

    # THEN every (action, resource) pair is one the manifest (or the baseline) grants, and all of them are there
    assert actual_grants(document) == expected_grants(name)


def test_every_manifest_function_gets_its_own_role_and_policy():
    # GIVEN the functions module / THEN roles and policies are per function (for_each over the manifest)
    role = resource(MODULES / "functions", "aws_iam_role", "this")
    policy = resource(MODULES / "functions", "aws_iam_role_policy", "this")
    assert role["for_each"] == policy["for_each"] == "${var.functions}"
    assert policy["role"] == "${aws_iam_role.this[each.key].id}"
    assert policy["policy"] == "${jsonencode(local.policy_documents[each.key])}"
    assert len([k for k in blocks(MODULES / "functions", "resource") if k[0] == "aws_iam_role"]) == 1


def test_only_xray_uses_a_wildcard_resource(functions_eval):
    # GIVEN every policy / THEN "*" appears only on the X-Ray actions, which have no resource-level permissions
    for name, document in functions_eval["policies"].items():
        for statement in document["Statement"]:
            if "*" in statement["Resource"] or any("*" == part for part in statement["Action"]):
                assert set(statement["Action"]) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, name
            assert all(action.count("*") == 0 for action in statement["Action"]), name


def test_manage_connections_is_scoped_to_this_api_stage_and_declared_methods(functions_eval):
    # GIVEN the policies / THEN execute-api:ManageConnections names this API, this stage and only declared methods
    for name, document in functions_eval["policies"].items():
        arns = {arn for action, arn in actual_grants(document) if action == "execute-api:ManageConnections"}
        methods = FUNCTIONS[name]["permissions"]["manageConnections"]
        assert arns == {f"{EXECUTION_ARN}/dev/{method}/@connections/*" for method in methods}, name


def test_functions_without_manage_connections_cannot_post_to_clients(functions_eval):
    silent = [n for n, fn in FUNCTIONS.items() if not fn["permissions"]["manageConnections"]]
    assert silent, "the manifest should have functions that never post to connections"
    for name in silent:
        actions = {action for action, _ in actual_grants(functions_eval["policies"][name])}
        assert not any(action.startswith("execute-api:") for action in actions), name


def test_jwt_secret_key_decrypt_is_granted_only_to_the_secret_reader_and_only_via_ssm():
    # GIVEN a customer KMS key for the JWT secret parameter
    result = evaluate_functions({"policies": "local.policy_documents"}, jwt_secret_kms_key_arn=KMS_KEY)

    # THEN only functions with jwtSecret get kms:Decrypt, on that key, through SSM only
    for name, document in result["policies"].items():
        assert actual_grants(document) == expected_grants(name, jwt_kms_key=KMS_KEY), name
        for statement in document["Statement"]:
            if statement["Action"] == ["kms:Decrypt"]:
                assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}
    assert [n for n, fn in FUNCTIONS.items() if fn["permissions"].get("jwtSecret")] == [MANIFEST["authorizer"]["function"]]


def test_a_customer_table_key_is_usable_by_exactly_the_roles_that_touch_tables_and_only_via_dynamodb():
    # GIVEN tables encrypted with a customer KMS key
    result = evaluate_functions({"policies": "local.policy_documents"}, kms_key_arn=KMS_KEY)

    # THEN each role touching a table may Decrypt/GenerateDataKey with that key, through DynamoDB only;
    # the others (authorizer, $default) get nothing of it
    for name, document in result["policies"].items():
        assert actual_grants(document) == expected_grants(name, table_key=KMS_KEY), name
        for statement in document["Statement"]:
            if KMS_KEY in statement["Resource"]:
                assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}
    without = [n for n, fn in FUNCTIONS.items() if not fn["permissions"]["dynamodb"]]
    assert without and all(not any(KMS_KEY in s["Resource"] for s in result["policies"][n]["Statement"]) for n in without)


def test_a_permission_on_an_unknown_function_is_rejected():
    # GIVEN a manifest whose function invokes a function that does not exist
    broken = {**FUNCTIONS, "ping": {**FUNCTIONS["ping"], "permissions": {**FUNCTIONS["ping"]["permissions"], "invoke": ["nope"]}}}

    # WHEN Terraform evaluates it / THEN the functions variable's validation fails
    with pytest.raises(AssertionError, match="may name only functions of the manifest"):
        evaluate_functions({"policies": "local.policy_documents"}, functions=broken)


def test_lambda_execution_role_trusts_only_the_lambda_service():
    statement = first(blocks(MODULES / "functions", "data")[("aws_iam_policy_document", "assume_lambda")]["statement"])
    assert statement["actions"] == ["sts:AssumeRole"]
    assert first(statement["principals"]) == {"type": "Service", "identifiers": ["lambda.amazonaws.com"]}


def test_in_oidc_mode_the_authorizer_reads_no_secret_at_all():
    # GIVEN oidc mode (the provider's JWKS is public: fetching it needs no IAM permission)
    result = evaluate_functions({"policies": "local.policy_documents"}, auth_mode="oidc", jwt_secret_parameter="",
                                jwt_secret_kms_key_arn=KMS_KEY,
                                oidc={"issuer": "https://idp.example.com", "audiences": ["app"]})
    # THEN no function may read SSM or decrypt with KMS; everything else is unchanged
    for name, document in result["policies"].items():
        assert not any(action.startswith(("ssm:", "kms:")) for action, _ in actual_grants(document)), name
        assert actual_grants(document) == {g for g in expected_grants(name) if not g[0].startswith("ssm:")}, name
