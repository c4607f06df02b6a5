output "api_id" {
  description = "WebSocket API id."
  value       = aws_apigatewayv2_api.this.id
}

output "execution_arn" {
  description = "Execution ARN of the API (prefix of every execute-api resource ARN)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_name" {
  description = "Stage name."
  value       = aws_apigatewayv2_stage.this.name
}

output "websocket_url" {
  description = "wss:// URL clients connect to (pass the token as ?token=...)."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

# The API's own endpoint (wss://<id>.execute-api.<region>.<partition DNS suffix>) with https and the
# stage: right in every partition, and known before the stage exists, so the functions (which the
# stage's deployment depends on) can take it as MANAGEMENT_ENDPOINT without a dependency cycle.
output "management_endpoint" {
  description = "https:// endpoint of the @connections management API of this stage."
  value       = "${replace(aws_apigatewayv2_api.this.api_endpoint, "/^wss:/", "https:")}/${var.stage_name}"
}

output "access_log_group_name" {
  description = "CloudWatch log group of the stage's JSON access logs."
  value       = aws_cloudwatch_log_group.access.name
}
