output "websocket_url" {
  description = "wss:// URL clients connect to (token in ?token= or in Sec-WebSocket-Protocol: wschat, bearer.<jwt>)."
  value       = module.api.websocket_url
}

output "management_endpoint" {
  description = "https:// endpoint of the @connections management API (what MANAGEMENT_ENDPOINT is set to)."
  value       = module.api.management_endpoint
}

output "api_id" {
  description = "WebSocket API id."
  value       = module.api.api_id
}

output "stage_name" {
  description = "Stage name."
  value       = module.api.stage_name
}

output "table_names" {
  description = "Logical table name -> DynamoDB table name."
  value       = module.tables.table_names
}

output "function_names" {
  description = "Manifest function name -> Lambda function name (what `make deploy-fn FN=<name>` updates)."
  value       = module.functions.function_names
}

output "dead_letter_queue_urls" {
  description = "Asynchronously invoked function -> dead-letter queue URL."
  value       = module.functions.dead_letter_queue_urls
}

output "alarm_topic_arn" {
  description = "Alarm SNS topic ARN, or null."
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_url" {
  description = "Console URL of the stack's CloudWatch dashboard (API, functions, tables, deliveries, fan-out)."
  value       = module.monitoring.dashboard_url
}

output "layer_arn" {
  description = "ARN (with version) of the shared layer every function uses."
  value       = module.functions.layer_arn
}

output "auth_mode" {
  description = "How the authorizer verifies tokens: hs256 or oidc."
  value       = var.auth_mode
}

output "oidc_issuer" {
  description = "oidc mode: the issuer the authorizer trusts (the Cognito pool's when enabled), else null."
  value       = var.auth_mode == "oidc" ? local.oidc.issuer : null
}

output "oidc_client_id" {
  description = "The app client id to sign in with: the Cognito pool's when enabled, else the first oidc.audiences entry, else null."
  value       = try(coalesce(one(module.cognito[*].client_id), try(var.oidc.audiences[0], null)), null)
}

output "cognito_user_pool_id" {
  description = "Cognito user pool id (aws cognito-idp admin-create-user --user-pool-id ...), or null."
  value       = one(module.cognito[*].user_pool_id)
}

output "cognito_hosted_ui_url" {
  description = "Cognito hosted sign-in UI base URL, or null."
  value       = one(module.cognito[*].hosted_ui_url)
}
