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
    [for alarm in aws_cloudwatch_metric_alarm.async : alarm.alarm_name],
  )
}
