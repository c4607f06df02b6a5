output "websocket_url" {
  description = "wss:// URL clients connect to (token in the `token` query string parameter)."
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

output "layer_arn" {
  description = "ARN (with version) of the shared layer every function uses."
  value       = module.functions.layer_arn
}
