data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  layer_zip  = "${var.build_dir}/layer.zip"
  # cryptography + cffi for this architecture (tools/build.py --architecture): oidc mode only
  crypto_layer_zip = "${var.build_dir}/crypto-layer-${var.architecture}.zip"
}

# Shared code (the `chat` package) and its pure-Python dependencies, built by tools/build.py.
resource "aws_lambda_layer_version" "this" {
  layer_name               = "${var.name_prefix}-shared"
  filename                 = local.layer_zip
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
  description              = "chat package + pinned dependencies (requirements/layer.txt)"
}

# Compiled wheels (requirements/crypto-layer.txt) the authorizer needs to verify RS/ES signatures in
# oidc mode. Attached to the token verifier only, and only in oidc mode: hs256 never loads them.
resource "aws_lambda_layer_version" "crypto" {
  count = var.auth_mode == "oidc" ? 1 : 0

  layer_name               = "${var.name_prefix}-crypto"
  filename                 = local.crypto_layer_zip
  source_code_hash         = filebase64sha256(local.crypto_layer_zip)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
  description              = "cryptography + cffi for ${var.runtime} on ${var.architecture} (requirements/crypto-layer.txt)"

  lifecycle {
    precondition {
      condition     = fileexists(local.crypto_layer_zip)
      error_message = "oidc mode needs build/crypto-layer-${var.architecture}.zip: run `make build ARCH=${var.architecture}` (the wheels must match lambda_architecture)."
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = var.functions

  name              = local.log_group_names[each.key]
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# One role per function: a compromised handler can reach only what its manifest entry lists.
resource "aws_iam_role" "this" {
  for_each = var.functions

  name               = "${local.function_names[each.key]}-role"
  description        = "Execution role of ${local.function_names[each.key]} (least privilege from manifest.json)"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = var.functions

  name   = "least-privilege"
  role   = aws_iam_role.this[each.key].id
  policy = jsonencode(local.policy_documents[each.key])
}

resource "aws_sqs_queue" "dlq" {
  for_each = local.dlq_names

  name                      = each.value
  message_retention_seconds = 1209600 # 14 days: time to inspect and replay failed fan-outs
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:No VPC: the functions reach only DynamoDB, SSM, Lambda and the execute-api management endpoint (public AWS APIs, IAM-authorised); a VPC adds NAT/endpoint cost and cold-start latency without protecting any private resource.
  #checkov:skip=CKV_AWS_116:A DLQ applies only to asynchronous invocations: API Gateway invokes the route functions synchronously, and the asynchronously invoked fan-out worker sends failed events to an on-failure destination (aws_lambda_function_event_invoke_config), which carries more than a DLQ and also receives what recursive-loop detection stops.
  #checkov:skip=CKV_AWS_272:Code signing is not used: zips are built deterministically in CI and the exact plan + zip artifacts are applied (see docs/terraform.md); enable an aws_lambda_code_signing_config if the org requires signed code.
  for_each = var.functions

  function_name    = local.function_names[each.key]
  description      = substr(each.value.description, 0, 256)
  role             = aws_iam_role.this[each.key].arn
  handler          = each.value.handler
  runtime          = var.runtime
  architectures    = [var.architecture]
  memory_size      = each.value.memory
  timeout          = each.value.timeout
  filename         = local.zips[each.key]
  source_code_hash = filebase64sha256(local.zips[each.key])
  layers           = concat([aws_lambda_layer_version.this.arn], each.value.permissions.jwtSecret ? aws_lambda_layer_version.crypto[*].arn : [])
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = lookup(var.reserved_concurrency, each.key, -1)

  environment {
    variables = local.environment[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  tags = merge(var.tags, { Function = each.key })

  # The log group and the policy exist before the first invocation can log or call anything.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition     = contains(keys(var.functions), var.fanout_function)
      error_message = "fanout_function must name a function of the manifest."
    }

    precondition {
      # the authorizer must fail closed on a slow identity provider before Lambda times it out
      condition     = var.auth_mode != "oidc" || !each.value.permissions.jwtSecret || var.oidc.http_timeout_ms + 500 <= each.value.timeout * 1000
      error_message = "oidc.http_timeout_ms + 500 ms must fit in the token verifier's timeout (manifest.json)."
    }
  }
}

# Failed asynchronous fan-out continuations are retried once, then go to the on-failure destination
# (the function's dead-letter queue) with the request and the error: nothing is dropped silently.
# Recursive-loop detection also sends the events it stops there.
resource "aws_lambda_function_event_invoke_config" "async" {
  for_each = local.dlq_names

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 1
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq[each.key].arn
    }
  }
}

# A function that invokes itself (the fan-out worker hands the rest of a big audience to a fresh
# invocation of itself) forms a Lambda->Lambda chain, which Lambda's recursive-loop detection stops
# after about 16 invocations, dropping the event. The chain is intentional and bounded in code
# (FANOUT_MAX_HOPS, with a log line, a metric and the on-failure destination), so it is allowed here.
resource "aws_lambda_function_recursion_config" "self_invoking" {
  for_each = local.self_invoking_functions

  function_name  = aws_lambda_function.this[each.key].function_name
  recursive_loop = "Allow"
}

# Code pushed by `make deploy-fn` is invisible to plans: the provider no longer compares
# source_code_hash with AWS (hashicorp/terraform-provider-aws#37669, #42826), so an apply from main
# would not put main's code back. The refreshed code_sha256 is compared with the zip here instead,
# and tools/tf.py reports a failed check as drift.
check "deployed_code_is_the_build" {
  assert {
    condition = alltrue([
      for name, fn in aws_lambda_function.this : fn.code_sha256 == filebase64sha256(local.zips[name])
    ])
    error_message = "Lambda code differs from build/ (deployed with make deploy-fn?): ${join(", ", [
      for name, fn in aws_lambda_function.this : "${fn.function_name} runs ${fn.code_sha256}, build/functions/${name}.zip is ${filebase64sha256(local.zips[name])}"
      if fn.code_sha256 != filebase64sha256(local.zips[name])
    ])}. Terraform will not put the build's code back: run make deploy-fn FN=<name> from the commit you want."
  }
}
