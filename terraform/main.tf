provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Service   = local.manifest.service
      Stage     = var.stage_name
      ManagedBy = "terraform"
    })
  }
}

locals {
  # The one manifest read by Terraform, the packager, the emulator and the tests.
  manifest = jsondecode(file("${path.root}/../manifest.json"))
  # Relative, so a saved plan applies on another runner checked out at a different path.
  build_dir = coalesce(var.build_dir, "${path.root}/../build")

  # The identity provider the authorizer trusts in oidc mode: the configured one, else the Cognito
  # pool of this stack; its app client is always an accepted audience.
  cognito_enabled = var.cognito.enabled
  oidc = {
    issuer          = var.oidc.issuer != "" ? var.oidc.issuer : one(module.cognito[*].issuer)
    audiences       = distinct(concat(var.oidc.audiences, module.cognito[*].client_id))
    user_claim      = coalesce(var.oidc.user_claim, local.cognito_enabled ? "cognito:username" : "sub")
    token_use       = var.oidc.token_use != null ? var.oidc.token_use : (local.cognito_enabled ? ["id"] : [])
    jwks_uri        = var.oidc.jwks_uri
    http_timeout_ms = var.oidc.http_timeout_ms
  }

  # Which functions write which of the stack's own metrics (shared/chat/metrics.py), by what the
  # manifest says they may do.
  route_functions = distinct([for route in local.manifest.routes : route.function])
  deliverers      = sort([for name, fn in local.manifest.functions : name if contains(fn.permissions.manageConnections, "POST")])
  metric_sources = {
    deliverers         = local.deliverers
    senders            = [for name in local.deliverers : name if contains(local.route_functions, name)]
    routes_with_tables = sort([for name in local.route_functions : name if length(local.manifest.functions[name].permissions.dynamodb) > 0])
    authorizer         = local.manifest.authorizer.function
    fanout_worker      = local.manifest.fanoutWorker.function
  }
}

module "cognito" {
  source = "./modules/cognito"
  count  = var.cognito.enabled ? 1 : 0

  name_prefix                 = var.name_prefix
  region                      = var.region
  self_sign_up                = var.cognito.self_sign_up
  mfa                         = var.cognito.mfa
  password_minimum_length     = var.cognito.password_minimum_length
  allow_password_auth         = var.cognito.allow_password_auth
  token_validity_minutes      = var.cognito.token_validity_minutes
  refresh_token_validity_days = var.cognito.refresh_token_validity_days
  callback_urls               = var.cognito.callback_urls
  logout_urls                 = var.cognito.logout_urls
  domain_prefix               = var.cognito.domain_prefix
  deletion_protection         = var.cognito.deletion_protection
  tags                        = var.tags
}

check "cognito_pool_is_trusted" {
  assert {
    condition     = !var.cognito.enabled || var.auth_mode == "oidc"
    error_message = "cognito.enabled creates a user pool, but the authorizer trusts it only with auth_mode = \"oidc\"."
  }
}

module "tables" {
  source = "./modules/dynamodb"

  name_prefix         = var.name_prefix
  kms_key_arn         = var.kms_key_arn
  deletion_protection = var.deletion_protection
  tags                = var.tags
}

module "functions" {
  source = "./modules/functions"

  name_prefix            = var.name_prefix
  functions              = local.manifest.functions
  fanout_function        = local.manifest.fanoutWorker.function
  client_actions         = [for key in keys(local.manifest.routes) : key if !startswith(key, "$")]
  build_dir              = local.build_dir
  runtime                = local.manifest.runtime
  architecture           = var.lambda_architecture
  reserved_concurrency   = var.reserved_concurrency
  region                 = var.region
  table_names            = module.tables.table_names
  table_arns             = module.tables.table_arns
  management_endpoint    = module.api.management_endpoint
  api_execution_arn      = module.api.execution_arn
  stage_name             = var.stage_name
  log_retention_days     = var.log_retention_days
  log_level              = var.log_level
  metrics_namespace      = var.metrics_namespace
  function_settings      = var.function_settings
  auth_mode              = var.auth_mode
  token_sources          = var.token_sources
  oidc                   = local.oidc
  jwt_secret_parameter   = var.jwt_secret_parameter
  jwt_secret_kms_key_arn = var.jwt_secret_kms_key_arn
  jwt_issuer             = var.jwt_issuer
  jwt_audience           = var.jwt_audience
  kms_key_arn            = var.kms_key_arn
  tags                   = var.tags
}

# module.api and module.functions reference each other's outputs, but no resource depends on itself:
# API (id) -> functions (env, IAM) -> integrations, routes, permissions -> deployment -> stage.
module "api" {
  source = "./modules/websocket_api"

  name_prefix                    = var.name_prefix
  stage_name                     = var.stage_name
  route_selection_expression     = local.manifest.routeSelectionExpression
  routes                         = local.manifest.routes
  authorizer                     = local.manifest.authorizer
  token_sources                  = var.token_sources
  function_names                 = module.functions.function_names
  function_timeouts              = { for name, fn in local.manifest.functions : name => fn.timeout }
  invoke_arns                    = module.functions.invoke_arns
  throttling_rate_limit          = var.throttling_rate_limit
  throttling_burst_limit         = var.throttling_burst_limit
  logging_level                  = var.api_logging_level
  log_retention_days             = var.log_retention_days
  kms_key_arn                    = var.kms_key_arn
  manage_account_cloudwatch_role = var.manage_apigateway_account
  tags                           = var.tags
}

module "monitoring" {
  source = "./modules/monitoring"

  name_prefix            = var.name_prefix
  region                 = var.region
  function_names         = module.functions.function_names
  metric_sources         = local.metric_sources
  metrics_namespace      = var.metrics_namespace
  api_id                 = module.api.api_id
  stage_name             = module.api.stage_name
  table_names            = module.tables.table_names
  async_functions        = module.functions.async_functions
  alarm_topic_enabled    = var.alarm_topic_enabled
  alarm_emails           = var.alarm_emails
  kms_key_arn            = var.kms_key_arn
  lambda_error_threshold = var.lambda_error_threshold
  api_error_threshold    = var.api_error_threshold
  tags                   = var.tags

  failed_delivery_alarm_percent       = var.failed_delivery_alarm_percent
  failed_delivery_alarm_minimum_posts = var.failed_delivery_alarm_minimum_posts
  delivery_latency_alarm_ms           = var.delivery_latency_alarm_ms
}
