variable "name_prefix" {
  description = "Prefix of every resource name (the API is named <name_prefix>-ws)."
  type        = string
}

variable "stage_name" {
  description = "Stage name (part of the wss:// URL and of every execute-api ARN)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name: 1-128 letters, digits, '_' or '-'."
  }
}

variable "route_selection_expression" {
  description = "How the gateway picks a route from an incoming frame (manifest routeSelectionExpression)."
  type        = string
  default     = "$request.body.action"
}

variable "routes" {
  description = "manifest.json `routes`: route key -> function, whether the REQUEST authorizer guards it and whether the route is two-way."
  type = map(object({
    function      = string
    authorizer    = optional(bool, false)
    routeResponse = optional(bool, false)
  }))

  validation {
    condition     = alltrue([for key, route in var.routes : !route.authorizer || key == "$connect"])
    error_message = "WebSocket APIs authorize only at $connect: no other route may set authorizer = true."
  }

  validation {
    condition     = length(var.routes) <= 300
    error_message = "API Gateway allows at most 300 routes per API."
  }
}

variable "authorizer" {
  description = "manifest.json `authorizer`: the REQUEST authorizer function and, per token source (query, subprotocol), its identity-source expression."
  type = object({
    function     = string
    tokenSources = map(string)
  })

  validation {
    condition     = alltrue([for expression in values(var.authorizer.tokenSources) : can(regex("^route\\.request\\.(querystring|header)\\.[A-Za-z0-9._-]+$", expression))])
    error_message = "authorizer.tokenSources values must be route.request.querystring.<name> or route.request.header.<name> expressions."
  }
}

variable "token_sources" {
  description = "Where clients may send the token at $connect: query (?token=), subprotocol (Sec-WebSocket-Protocol), or both."
  type        = list(string)
  default     = ["query", "subprotocol"]

  validation {
    condition     = length(var.token_sources) > 0 && length(var.token_sources) == length(distinct(var.token_sources))
    error_message = "token_sources must name at least one source, each once."
  }

  validation {
    condition     = alltrue([for source in var.token_sources : contains(keys(var.authorizer.tokenSources), source)])
    error_message = "token_sources may name only the token sources of manifest.json authorizer.tokenSources (query, subprotocol)."
  }
}

variable "function_names" {
  description = "Manifest function name -> Lambda function name (for the invoke permissions)."
  type        = map(string)
}

variable "function_timeouts" {
  description = "Manifest function name -> its timeout in seconds (each route's must stay under the 29 s integration timeout)."
  type        = map(number)

  validation {
    condition     = alltrue([for key, route in var.routes : lookup(var.function_timeouts, route.function, 29) < 29])
    error_message = "Every route's function must time out in under 29 s, the WebSocket integration timeout: otherwise the gateway gives up first and the client gets an error frame. Lower its timeout in manifest.json."
  }
}

variable "invoke_arns" {
  description = "Manifest function name -> Lambda invoke ARN (for the AWS_PROXY integrations)."
  type        = map(string)
}

variable "throttling_rate_limit" {
  description = "Stage default route steady-state rate limit (requests per second)."
  type        = number

  validation {
    condition     = var.throttling_rate_limit > 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be > 0 and <= 10000 (the account-level steady-state quota)."
  }
}

variable "throttling_burst_limit" {
  description = "Stage default route burst limit (requests)."
  type        = number

  validation {
    condition     = var.throttling_burst_limit >= 0 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number between 0 and 5000 (the account-level burst quota)."
  }
}

variable "logging_level" {
  description = "Execution logging level of the stage (OFF, ERROR or INFO); message bodies are never logged (data trace off)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.logging_level)
    error_message = "logging_level must be OFF, ERROR or INFO."
  }
}

variable "log_retention_days" {
  description = "Retention of the access log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "kms_key_arn" {
  description = "Customer KMS key for the access log group; null uses CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "manage_account_cloudwatch_role" {
  description = "Also manage the account-level (per region) API Gateway CloudWatch role that stage logging requires. Off: one setting serves every API of the account and region, so the one-time baseline (terraform/account-baseline) owns it; turn on only for a stack alone in its account."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
