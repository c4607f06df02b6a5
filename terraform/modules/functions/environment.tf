# Environment of every function: exactly the names shared/chat/config.py reads (tests/terraform
# checks that every name set here is REQUIRED or OPTIONAL there and every REQUIRED one is set).
# AWS_REGION is set by the Lambda runtime (reserved), so it is never set here.
locals {
  common_environment = {
    CONNECTIONS_TABLE    = var.table_names["connections"]
    ROOM_MEMBERS_TABLE   = var.table_names["room_members"]
    MESSAGES_TABLE       = var.table_names["messages"]
    MANAGEMENT_ENDPOINT  = var.management_endpoint
    FANOUT_FUNCTION_NAME = local.function_names[var.fanout_function]
    CLIENT_ACTIONS       = join(",", sort(var.client_actions))
    LOG_LEVEL            = var.log_level
    # the stack's own metrics (EMF, shared/chat/metrics.py) go to this namespace
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
  }

  # Only the function that verifies tokens (permissions.jwtSecret: the authorizer) learns how: where
  # the HS256 secret is (hs256), or which identity provider to trust (oidc). Empty settings are left out.
  hs256_environment = {
    for key, value in {
      JWT_SECRET_PARAMETER = var.jwt_secret_parameter
      JWT_ISSUER           = var.jwt_issuer
      JWT_AUDIENCE         = var.jwt_audience
    } : key => value if value != ""
  }
  oidc_environment = {
    for key, value in {
      AUTH_MODE            = "oidc"
      OIDC_ISSUER          = var.oidc.issuer
      OIDC_AUDIENCE        = join(",", var.oidc.audiences)
      OIDC_USER_CLAIM      = var.oidc.user_claim
      OIDC_TOKEN_USE       = join(",", var.oidc.token_use)
      OIDC_JWKS_URI        = var.oidc.jwks_uri
      OIDC_HTTP_TIMEOUT_MS = tostring(var.oidc.http_timeout_ms)
    } : key => value if value != ""
  }
  jwt_environment = merge(
    { TOKEN_SOURCES = join(",", var.token_sources) },
    var.auth_mode == "oidc" ? tomap(local.oidc_environment) : tomap(local.hs256_environment),
  )

  environment = {
    for name, fn in var.functions : name => merge(
      var.function_settings,
      local.common_environment,
      fn.permissions.jwtSecret ? local.jwt_environment : {},
    )
  }
}
