output "alarm_topic_arn" {
  description = "ARN of the alarm SNS topic, or null when alarm_topic_enabled is false."
  value       = var.alarm_topic_enabled ? aws_sns_topic.alarms[0].arn : null
}

output "alarm_names" {
  description = "Names of every CloudWatch alarm of the stack."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.lambda : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.api : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.dynamodb : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.metric : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.failed_deliveries : alarm.alarm_name],
  )
}

output "dashboard_name" {
  description = "Name of the stack's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the stack's CloudWatch dashboard."
  value       = "https://${var.region}.${local.console_host}/cloudwatch/home?region=${var.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}
