# Environment of every function: exactly the names shared/chat/config.py reads (tests/terraform
# checks that every name set here is REQUIRED or OPTIONAL there and every REQUIRED one is set).
# AWS_REGION is set by the Lambda runtime (reserved), so it is never set here.
locals {
  common_environment = {
    CONNECTIONS_TABLE    = var.table_names["connections"]
    ROOM_MEMBERS_TABLE   = var.table_names["room_members"]
    MESSAGES_TABLE       = var.table_names["messages"]
    MANAGEMENT_ENDPOINT  = "https://${var.api_id}.execute-api.${var.region}.amazonaws.com/${var.stage_name}"
    FANOUT_FUNCTION_NAME = local.function_names[var.fanout_function]
    CLIENT_ACTIONS       = join(",", sort(var.client_actions))
    LOG_LEVEL            = var.log_level
  }

  # Only the functions allowed to read the JWT secret (the authorizer) learn where it is.
  jwt_environment = {
    for key, value in {
      JWT_SECRET_PARAMETER = var.jwt_secret_parameter
      JWT_ISSUER           = var.jwt_issuer
      JWT_AUDIENCE         = var.jwt_audience
    } : key => value if value != ""
  }

  environment = {
    for name, fn in var.functions : name => merge(
      var.function_settings,
      local.common_environment,
      fn.permissions.jwtSecret ? local.jwt_environment : {},
    )
  }
}
