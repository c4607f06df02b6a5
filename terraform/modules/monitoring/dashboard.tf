# The body of the stack's CloudWatch dashboard (the resource is in main.tf; locals only here, so the
# tests can render it without a provider), generated from the manifest (which functions deliver, send, use
# tables, authorize, continue fan-outs: var.metric_sources) like everything else. It charts what AWS
# publishes for the API, the functions, the tables and the fan-out failure queues, and the stack's own
# metrics (shared/chat/metrics.py CATALOG, written in the embedded metric format under
# var.metrics_namespace with the FunctionName dimension). tools/tf_e2e_checks.py reads the applied
# dashboard back and checks that every metric on it is one the code emits or AWS publishes, for
# resources of this stack, and that every metric of the catalogue is on it.

locals {
  # The closed values of the two breakdown dimensions (chat.metrics.KINDS, DENIAL_REASONS; tf-e2e
  # checks they match the code).
  message_kinds  = ["direct", "room", "broadcast"]
  denial_reasons = ["missing_token", "invalid_token", "expired_token", "two_tokens", "provider_unavailable"]

  fn      = var.function_names
  ns      = var.metrics_namespace
  api     = ["ApiId", var.api_id, "Stage", var.stage_name]
  senders = var.metric_sources.senders
  # Functions that post to @connections (they fan out): the route senders and the fan-out worker.
  deliverers = var.metric_sources.deliverers

  per_function = {
    for metric, stat in {
      Invocations = "Sum", Errors = "Sum", Throttles = "Sum", ConcurrentExecutions = "Maximum"
    } : metric => [for name in sort(keys(local.fn)) : ["AWS/Lambda", metric, "FunctionName", local.fn[name], { stat = stat, label = name }]]
  }
  duration = {
    for p in ["p50", "p99"] : p => [for name in sort(keys(local.fn)) : ["AWS/Lambda", "Duration", "FunctionName", local.fn[name], { stat = p, label = name }]]
  }
  per_table = {
    for pair in [["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"], ["ReadThrottleEvents", "WriteThrottleEvents"]] : pair[0] => concat([], [
      for name in sort(keys(var.table_names)) : [
        for metric in pair : ["AWS/DynamoDB", metric, "TableName", var.table_names[name], { stat = "Sum", label = "${name} ${metric}" }]
      ]
    ]...)
  }

  # Delivered / gone / failed per deliverer; ids d<i>, g<i>, f<i> for the failed-rate expressions, where
  # they are drawn hidden. (concat(..., rows...) joins one level: flatten would take the rows apart.)
  delivery_metrics = { d = "DeliveriesDelivered", g = "DeliveriesGone", f = "DeliveriesFailed" }
  delivery_rows = {
    for shown in [true, false] : tostring(shown) => concat([], [
      for i, name in local.deliverers : [
        for key, metric in local.delivery_metrics :
        [local.ns, metric, "FunctionName", local.fn[name], { stat = "Sum", label = "${name} ${metric}", id = "${key}${i}", visible = shown }]
      ]
    ]...)
  }
  failed_rate_rows = concat(
    [for i, name in local.deliverers : [{ expression = "100 * f${i} / (d${i} + g${i} + f${i})", label = "${name} failed %", id = "r${i}" }]],
    local.delivery_rows["false"],
  )

  widgets = [
    {
      title   = "WebSocket API: connections and messages"
      metrics = [for m in ["ConnectCount", "MessageCount"] : concat(["AWS/ApiGateway", m], local.api, [{ stat = "Sum" }])]
    },
    {
      title   = "WebSocket API: errors"
      metrics = [for m in ["IntegrationError", "ClientError", "ExecutionError"] : concat(["AWS/ApiGateway", m], local.api, [{ stat = "Sum" }])]
    },
    {
      title   = "WebSocket API: integration latency (ms)"
      metrics = [for p in ["p50", "p99"] : concat(["AWS/ApiGateway", "IntegrationLatency"], local.api, [{ stat = p, label = p }])]
    },
    {
      title = "Messages sent (by kind) and duplicates"
      metrics = concat(
        concat([], [for name in local.senders : [for kind in local.message_kinds : [local.ns, "MessagesSent", "FunctionName", local.fn[name], "Kind", kind, { stat = "Sum", label = "${name} ${kind}" }]]]...),
        [for name in local.senders : [local.ns, "DuplicateMessages", "FunctionName", local.fn[name], { stat = "Sum", label = "${name} duplicates" }]],
      )
    },
    { title = "Deliveries: delivered / gone / failed", metrics = local.delivery_rows["true"] },
    { title = "Failed deliveries (% of posts)", metrics = local.failed_rate_rows },
    {
      title   = "Fan-out: time to last delivery (ms)"
      metrics = concat([], [for name in local.deliverers : [for p in ["p50", "p99"] : [local.ns, "FanoutTimeToLastDelivery", "FunctionName", local.fn[name], { stat = p, label = "${name} ${p}" }]]]...)
    },
    {
      title = "Fan-out: continuations, deepest hop, hop limit"
      metrics = concat(
        [for name in local.deliverers : [local.ns, "FanoutContinuations", "FunctionName", local.fn[name], { stat = "Sum", label = "${name} continuations" }]],
        [[local.ns, "FanoutHop", "FunctionName", local.fn[var.metric_sources.fanout_worker], { stat = "Maximum", label = "deepest hop" }]],
        [[local.ns, "FanoutHopLimitReached", "FunctionName", local.fn[var.metric_sources.fanout_worker], { stat = "Sum", label = "hop limit reached" }]],
      )
    },
    {
      title   = "Fan-out failure queue depth (events to replay)"
      metrics = [for name, f in var.async_functions : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f.queue_name, { stat = "Maximum", label = name }]]
    },
    {
      title = "Rate-limited and throttled answers"
      metrics = concat(
        [for name in local.senders : [local.ns, "RateLimited", "FunctionName", local.fn[name], { stat = "Sum", label = "${name} rate-limited" }]],
        [for name in var.metric_sources.routes_with_tables : [local.ns, "Throttled", "FunctionName", local.fn[name], { stat = "Sum", label = "${name} throttled" }]],
      )
    },
    {
      title   = "Authorizer denials (by reason)"
      metrics = [for reason in local.denial_reasons : [local.ns, "AuthorizerDenials", "FunctionName", local.fn[var.metric_sources.authorizer], "Reason", reason, { stat = "Sum", label = reason }]]
    },
    { title = "Lambda: invocations", metrics = local.per_function["Invocations"] },
    { title = "Lambda: errors", metrics = local.per_function["Errors"] },
    { title = "Lambda: throttles", metrics = local.per_function["Throttles"] },
    { title = "Lambda: duration p50 (ms)", metrics = local.duration["p50"] },
    { title = "Lambda: duration p99 (ms)", metrics = local.duration["p99"] },
    { title = "Lambda: concurrent executions (max)", metrics = local.per_function["ConcurrentExecutions"] },
    { title = "DynamoDB: consumed capacity", metrics = local.per_table["ConsumedReadCapacityUnits"] },
    { title = "DynamoDB: throttle events", metrics = local.per_table["ReadThrottleEvents"] },
  ]

  dashboard_body = jsonencode({
    widgets = concat(
      [{
        type = "text", x = 0, y = 0, width = 24, height = 2
        properties = {
          markdown = join("", [
            "## ${var.name_prefix}\n",
            "Stack metrics: namespace `${local.ns}`, dimension `FunctionName` (shared/chat/metrics.py). ",
            "Stage `${var.stage_name}` of WebSocket API `${var.api_id}`.",
          ])
        }
      }],
      [for i, w in local.widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = 2 + floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          region  = var.region
          view    = "timeSeries"
          stacked = false
          period  = var.period_seconds
          metrics = w.metrics
        }
      }],
    )
  })
}
