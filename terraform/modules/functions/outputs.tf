output "function_names" {
  description = "Manifest function name -> Lambda function name."
  value       = { for name, fn in aws_lambda_function.this : name => fn.function_name }
}

output "function_arns" {
  description = "Manifest function name -> Lambda function ARN."
  value       = { for name, fn in aws_lambda_function.this : name => fn.arn }
}

output "invoke_arns" {
  description = "Manifest function name -> invoke ARN for API Gateway integrations."
  value       = { for name, fn in aws_lambda_function.this : name => fn.invoke_arn }
}

output "role_arns" {
  description = "Manifest function name -> execution role ARN."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "log_group_names" {
  description = "Manifest function name -> CloudWatch log group name."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.name }
}

output "dead_letter_queue_urls" {
  description = "Asynchronously invoked function -> its dead-letter queue URL."
  value       = { for name, queue in aws_sqs_queue.dlq : name => queue.url }
}

output "layer_arn" {
  description = "ARN (with version) of the shared layer."
  value       = aws_lambda_layer_version.this.arn
}

output "async_functions" {
  description = "Asynchronously invoked function (manifest name) -> its Lambda name and failure queue, for the alarms and the dashboard."
  value = {
    for name, queue in aws_sqs_queue.dlq : name => {
      function_name = aws_lambda_function.this[name].function_name
      queue_name    = queue.name
    }
  }
}
