# Least-privilege IAM policy of every function, derived from manifest.json permissions only.
# Locals only (ARNs are built from names, not read from resources) so tests/terraform can evaluate
# this file without a provider and compare every role with the manifest.
locals {
  function_names = { for name in keys(var.functions) : name => "${var.name_prefix}-${name}" }
  zips           = { for name in keys(var.functions) : name => "${var.build_dir}/functions/${name}.zip" }
  function_arns = {
    for name, function_name in local.function_names :
    name => "arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${function_name}"
  }
  log_group_names = { for name, function_name in local.function_names : name => "/aws/lambda/${function_name}" }
  log_group_arns = {
    for name, log_group in local.log_group_names :
    name => "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${log_group}"
  }

  # Functions some other function invokes asynchronously (the fan-out continuation worker): they get
  # a dead-letter queue, since a failed async event is otherwise dropped after two retries.
  async_functions         = toset(flatten([for fn in values(var.functions) : fn.permissions.invoke]))
  self_invoking_functions = toset([for name, fn in var.functions : name if contains(fn.permissions.invoke, name)])
  dlq_names               = { for name in local.async_functions : name => "${local.function_names[name]}-dlq" }
  dlq_arns = {
    for name, queue in local.dlq_names : name => "arn:${local.partition}:sqs:${var.region}:${local.account_id}:${queue}"
  }

  ssm_parameter_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/${trimprefix(var.jwt_secret_parameter, "/")}"

  policy_statements = {
    for name, fn in var.functions : name => concat(
      [
        {
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${local.log_group_arns[name]}:*"]
        },
        {
          # X-Ray has no resource-level permissions: AWS requires "*" for these two actions.
          Sid      = "XRayTracing"
          Effect   = "Allow"
          Action   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
          Resource = ["*"]
        },
      ],
      [
        for grant in fn.permissions.dynamodb : {
          Sid    = "DynamoDB${replace(title(replace(grant.table, "_", " ")), " ", "")}"
          Effect = "Allow"
          Action = sort(distinct(grant.actions))
          Resource = concat(
            [var.table_arns[grant.table]],
            [for index in grant.indexes : "${var.table_arns[grant.table]}/index/${index}"],
          )
        }
      ],
      length(fn.permissions.manageConnections) == 0 ? [] : [
        {
          Sid    = "ManageConnectionsOfThisStage"
          Effect = "Allow"
          Action = ["execute-api:ManageConnections"]
          Resource = [
            for method in sort(distinct(fn.permissions.manageConnections)) :
            "${var.api_execution_arn}/${var.stage_name}/${method}/@connections/*"
          ]
        }
      ],
      length(fn.permissions.invoke) == 0 ? [] : [
        {
          Sid      = "InvokeContinuation"
          Effect   = "Allow"
          Action   = ["lambda:InvokeFunction"]
          Resource = [for target in sort(distinct(fn.permissions.invoke)) : local.function_arns[target]]
        }
      ],
      # oidc mode reads no secret: the authorizer only fetches the provider's public JWKS over HTTPS
      # (no IAM involved; the functions run outside a VPC, so they reach public endpoints directly).
      !fn.permissions.jwtSecret || var.auth_mode != "hs256" ? [] : [
        {
          Sid      = "ReadJwtSecret"
          Effect   = "Allow"
          Action   = ["ssm:GetParameter"]
          Resource = [local.ssm_parameter_arn]
        }
      ],
      !fn.permissions.jwtSecret || var.auth_mode != "hs256" || var.jwt_secret_kms_key_arn == null ? [] : [
        {
          Sid       = "DecryptJwtSecret"
          Effect    = "Allow"
          Action    = ["kms:Decrypt"]
          Resource  = [var.jwt_secret_kms_key_arn]
          Condition = { StringEquals = { "kms:ViaService" = "ssm.${var.region}.${local.dns_suffix}" } }
        }
      ],
      # Tables encrypted with a customer key: whoever reads or writes one needs these two on that key,
      # and only through DynamoDB.
      length(fn.permissions.dynamodb) == 0 || var.kms_key_arn == null ? [] : [
        {
          Sid       = "UseTableKeyViaDynamoDB"
          Effect    = "Allow"
          Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource  = [var.kms_key_arn]
          Condition = { StringEquals = { "kms:ViaService" = "dynamodb.${var.region}.${local.dns_suffix}" } }
        }
      ],
      !contains(local.async_functions, name) ? [] : [
        {
          Sid      = "SendToOwnDeadLetterQueue"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = [local.dlq_arns[name]]
        }
      ],
    )
  }

  policy_documents = {
    for name, statements in local.policy_statements : name => {
      Version   = "2012-10-17"
      Statement = statements
    }
  }
}
