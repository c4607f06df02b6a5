data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # CloudWatch cannot publish to a topic encrypted with the AWS managed aws/sns key (its key policy
  # cannot grant cloudwatch.amazonaws.com), so without a customer key the topic gets its own.
  create_alarm_key = var.alarm_topic_enabled && var.kms_key_arn == null
}

resource "aws_kms_key" "alarms" {
  count = local.create_alarm_key ? 1 : 0

  description             = "${var.name_prefix} alarm topic encryption (usable by CloudWatch alarms)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # In a key policy "*" means this key. The account administers it through IAM policies.
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublishEncrypted"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
      },
    ]
  })
  tags = var.tags
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_enabled ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = local.create_alarm_key ? aws_kms_key.alarms[0].arn : var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.alarm_topic_enabled ? toset(var.alarm_emails) : toset([])

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  console_host = lookup({ "aws-cn" = "console.amazonaws.cn", "aws-us-gov" = "console.amazonaws-us-gov.com" },
  data.aws_partition.current.partition, "console.aws.amazon.com")

  alarm_actions = var.alarm_topic_enabled ? [aws_sns_topic.alarms[0].arn] : []

  lambda_alarms = merge([
    for name, function_name in var.function_names : {
      "${name}-errors"    = { function_name = function_name, metric = "Errors", threshold = var.lambda_error_threshold }
      "${name}-throttles" = { function_name = function_name, metric = "Throttles", threshold = 1 }
    }
  ]...)

  # WebSocket APIs publish no 4XX/5XX metrics: IntegrationError (the integration answered with an
  # error) and ExecutionError (API Gateway failed to call it) are their server-side error counts.
  api_alarms = {
    integration-errors = "IntegrationError"
    execution-errors   = "ExecutionError"
  }

  # Asynchronous fan-out continuations: an event that failed twice (on-failure queue not empty), was
  # dropped (too old, or throttled past its retries), was stopped as a recursive loop, or a chain
  # that hit FANOUT_MAX_HOPS (FanoutHopLimitReached, which the worker writes in EMF). Each means
  # recipients still waiting for a message.
  async_alarms = merge([
    for name, fn in var.async_functions : {
      "${name}-failed-events" = {
        namespace  = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum"
        dimensions = { QueueName = fn.queue_name }, description = "${fn.queue_name}: failed events waiting (inspect, then replay) >= 1", threshold = 1
      }
      "${name}-async-events-dropped" = {
        namespace  = "AWS/Lambda", metric = "AsyncEventsDropped", statistic = "Sum"
        dimensions = { FunctionName = fn.function_name }, description = "${fn.function_name}: asynchronous events dropped >= 1", threshold = 1
      }
      "${name}-recursive-invocations-dropped" = {
        namespace  = "AWS/Lambda", metric = "RecursiveInvocationsDropped", statistic = "Sum"
        dimensions = { FunctionName = fn.function_name }, description = "${fn.function_name}: invocations stopped as a recursive loop >= 1", threshold = 1
      }
      "${name}-hop-limit" = {
        namespace  = var.metrics_namespace, metric = "FanoutHopLimitReached", statistic = "Sum"
        dimensions = { FunctionName = fn.function_name }, description = "${fn.function_name}: a fan-out chain reached FANOUT_MAX_HOPS >= 1", threshold = 1
      }
    }
  ]...)

  # Alarms on the stack's own metrics (shared/chat/metrics.py) where a threshold means something: a
  # broadcast that takes too long to reach its last recipient, and (oidc mode) the identity provider
  # unreachable, so the authorizer fails closed and nobody can connect. The failed-delivery rate has
  # its own resource below (metric math).
  custom_alarms = merge(
    {
      for name in var.metric_sources.deliverers : "${name}-delivery-latency" => {
        namespace   = var.metrics_namespace
        metric      = "FanoutTimeToLastDelivery", statistic = "p99", threshold = var.delivery_latency_alarm_ms
        dimensions  = { FunctionName = var.function_names[name] }
        description = "${var.function_names[name]}: p99 time from sentAt to the last delivery >= ${var.delivery_latency_alarm_ms} ms"
      }
    },
    {
      "${var.metric_sources.authorizer}-identity-provider-unavailable" = {
        namespace   = var.metrics_namespace
        metric      = "AuthorizerDenials", statistic = "Sum", threshold = 1
        dimensions  = { FunctionName = var.function_names[var.metric_sources.authorizer], Reason = "provider_unavailable" }
        description = "${var.function_names[var.metric_sources.authorizer]}: the identity provider could not be reached (connections refused, failing closed) >= 1"
      }
    },
  )

  table_alarms = merge([
    for name, table_name in var.table_names : {
      "${name}-read-throttles"  = { table_name = table_name, metric = "ReadThrottleEvents" }
      "${name}-write-throttles" = { table_name = table_name, metric = "WriteThrottleEvents" }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = local.lambda_alarms

  alarm_name          = "${var.name_prefix}-lambda-${each.key}"
  alarm_description   = "${each.value.function_name}: ${each.value.metric} >= ${each.value.threshold} in ${var.period_seconds} s"
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = var.period_seconds
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api" {
  for_each = local.api_alarms

  alarm_name          = "${var.name_prefix}-api-${each.key}"
  alarm_description   = "WebSocket API ${var.api_id}/${var.stage_name}: ${each.value} >= ${var.api_error_threshold} in ${var.period_seconds} s"
  namespace           = "AWS/ApiGateway"
  metric_name         = each.value
  dimensions          = { ApiId = var.api_id, Stage = var.stage_name }
  statistic           = "Sum"
  period              = var.period_seconds
  evaluation_periods  = 1
  threshold           = var.api_error_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# The asynchronous fan-out's alarms and those on the stack's own metrics: each entry names its metric.
resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each = merge(local.async_alarms, local.custom_alarms)

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${each.value.description} (in ${var.period_seconds} s)"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = startswith(each.value.statistic, "p") ? null : each.value.statistic
  extended_statistic  = startswith(each.value.statistic, "p") ? each.value.statistic : null
  period              = var.period_seconds
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

moved {
  from = aws_cloudwatch_metric_alarm.async
  to   = aws_cloudwatch_metric_alarm.metric
}

resource "aws_cloudwatch_metric_alarm" "dynamodb" {
  for_each = local.table_alarms

  alarm_name          = "${var.name_prefix}-dynamodb-${each.key}"
  alarm_description   = "${each.value.table_name}: ${each.value.metric} > 0 in ${var.period_seconds} s"
  namespace           = "AWS/DynamoDB"
  metric_name         = each.value.metric
  dimensions          = { TableName = each.value.table_name }
  statistic           = "Sum"
  period              = var.period_seconds
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Share of posts to @connections that failed for good (403, 413, or 429/5xx/time-outs after the
# retries), per function that delivers, once a period has enough posts to make a share meaningful.
# 410 Gone is a normal end of a connection and is not a failure.
resource "aws_cloudwatch_metric_alarm" "failed_deliveries" {
  for_each = toset(var.metric_sources.deliverers)

  alarm_name          = "${var.name_prefix}-${each.key}-failed-deliveries"
  alarm_description   = "${var.function_names[each.key]}: >= ${var.failed_delivery_alarm_percent}% of posts failed in ${var.period_seconds} s (with >= ${var.failed_delivery_alarm_minimum_posts} posts)"
  evaluation_periods  = 1
  threshold           = var.failed_delivery_alarm_percent
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    label       = "failed deliveries (%)"
    expression  = "IF((d + g + f) >= ${var.failed_delivery_alarm_minimum_posts}, 100 * f / (d + g + f), 0)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { d = "DeliveriesDelivered", g = "DeliveriesGone", f = "DeliveriesFailed" }
    content {
      id = metric_query.key
      metric {
        namespace   = var.metrics_namespace
        metric_name = metric_query.value
        dimensions  = { FunctionName = var.function_names[each.key] }
        stat        = "Sum"
        period      = var.period_seconds
      }
    }
  }
}

# The dashboard (its body: dashboard.tf).
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = local.dashboard_body

  lifecycle {
    precondition {
      condition = alltrue([
        for name in concat(var.metric_sources.deliverers, var.metric_sources.senders, var.metric_sources.routes_with_tables,
        [var.metric_sources.authorizer, var.metric_sources.fanout_worker]) : contains(keys(var.function_names), name)
      ])
      error_message = "metric_sources names functions that are not in function_names."
    }
  }
}
