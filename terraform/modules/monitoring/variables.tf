variable "name_prefix" {
  description = "Prefix of alarm and topic names."
  type        = string
}

variable "function_names" {
  description = "Manifest function name -> Lambda function name (one errors and one throttles alarm each)."
  type        = map(string)
}

variable "api_id" {
  description = "WebSocket API id (ApiId dimension)."
  type        = string
}

variable "stage_name" {
  description = "Stage name (Stage dimension)."
  type        = string
}

variable "async_functions" {
  description = "Asynchronously invoked function -> { function_name, queue_name (its on-failure queue) }: alarms on failed and dropped events and on the fan-out hop cap, the queue depth on the dashboard."
  type = map(object({
    function_name = string
    queue_name    = string
  }))
  default = {}
}

variable "region" {
  description = "Region of the stack (the dashboard's widgets and its console URL)."
  type        = string
}

variable "metric_sources" {
  description = "Which manifest functions write which of the stack's own metrics (shared/chat/metrics.py): deliverers (POST to @connections), senders (deliverers serving a route), routes_with_tables (route functions with DynamoDB permissions), the authorizer and the fan-out worker."
  type = object({
    deliverers         = list(string)
    senders            = list(string)
    routes_with_tables = list(string)
    authorizer         = string
    fanout_worker      = string
  })
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the stack's own metrics (FunctionName dimension = the Lambda function name, unique per stack)."
  type        = string
  default     = "wschat"

  validation {
    condition     = can(regex("^[A-Za-z0-9./#:_-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace: 1-255 of A-Z a-z 0-9 . / # : _ -, not starting with AWS/."
  }
}

variable "failed_delivery_alarm_percent" {
  description = "Failed posts to @connections, in % of a deliverer's posts per period, at or above which it alarms."
  type        = number
  default     = 5

  validation {
    condition     = var.failed_delivery_alarm_percent > 0 && var.failed_delivery_alarm_percent <= 100
    error_message = "failed_delivery_alarm_percent must be in (0, 100]."
  }
}

variable "failed_delivery_alarm_minimum_posts" {
  description = "Posts per period below which the failed-delivery share is not judged (a few posts make a noisy share)."
  type        = number
  default     = 20

  validation {
    condition     = var.failed_delivery_alarm_minimum_posts >= 1
    error_message = "failed_delivery_alarm_minimum_posts must be >= 1."
  }
}

variable "delivery_latency_alarm_ms" {
  description = "p99 of FanoutTimeToLastDelivery (message sentAt to its last delivery, ms) at or above which a deliverer alarms."
  type        = number
  default     = 10000

  validation {
    condition     = var.delivery_latency_alarm_ms >= 100
    error_message = "delivery_latency_alarm_ms must be >= 100."
  }
}

variable "table_names" {
  description = "Logical table name -> DynamoDB table name (read/write throttle alarms)."
  type        = map(string)
}

variable "alarm_topic_enabled" {
  description = "Create an SNS topic that every alarm notifies (on ALARM and OK)."
  type        = bool
  default     = false
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm); needs alarm_topic_enabled."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", email))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "kms_key_arn" {
  description = "Customer KMS key for the SNS topic (its key policy must let cloudwatch.amazonaws.com use it); null creates a dedicated key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "period_seconds" {
  description = "Evaluation period of every alarm."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 300, 900, 3600], var.period_seconds)
    error_message = "period_seconds must be 60, 300, 900 or 3600."
  }
}

variable "lambda_error_threshold" {
  description = "Lambda Errors (sum per period) at or above which a function alarms."
  type        = number
  default     = 1

  validation {
    condition     = var.lambda_error_threshold >= 1
    error_message = "lambda_error_threshold must be >= 1."
  }
}

variable "api_error_threshold" {
  description = "API IntegrationError / ExecutionError count (sum per period) at or above which the API alarms."
  type        = number
  default     = 5

  validation {
    condition     = var.api_error_threshold >= 1
    error_message = "api_error_threshold must be >= 1."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
