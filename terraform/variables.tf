# Inputs of the whole stack. Each value is validated once, by the module that uses it
# (terraform/modules/*/variables.tf); the root passes values through unchanged.

variable "region" {
  description = "AWS region of the whole stack."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. wschat-dev; a function is <name_prefix>-<manifest name>."
  type        = string
  default     = "wschat-dev"
}

variable "stage_name" {
  description = "WebSocket API stage name (also read by the local emulator)."
  type        = string
  default     = "dev"
}

variable "throttling_rate_limit" {
  description = "Stage default route steady-state rate limit in requests per second (the local emulator enforces the same value)."
  type        = number
  default     = 500
}

variable "throttling_burst_limit" {
  description = "Stage default route burst limit in requests (the local emulator enforces the same value)."
  type        = number
  default     = 1000
}

variable "api_logging_level" {
  description = "Execution logging level of the stage: OFF, ERROR or INFO (message bodies are never logged)."
  type        = string
  default     = "ERROR"
}

variable "manage_apigateway_account" {
  description = "Manage the per-region API Gateway account CloudWatch role (needed for stage logs). Set false if another stack owns aws_api_gateway_account."
  type        = bool
  default     = true
}

variable "lambda_architecture" {
  description = "Instruction set of every function: arm64 (default: faster cold starts, cheaper) or x86_64."
  type        = string
  default     = "arm64"
}

variable "reserved_concurrency" {
  description = "Manifest function name -> reserved concurrent executions (-1 or absent = unreserved)."
  type        = map(number)
  default     = {}
}

variable "function_settings" {
  description = "Optional tunables set on every function, e.g. { RATE_LIMIT_PER_MINUTE = \"120\", BROADCAST_SHARDS = \"16\" } (names from shared/chat/config.py OPTIONAL)."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "LOG_LEVEL of every function: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "Retention of every log group (functions and API access logs)."
  type        = number
  default     = 30
}

variable "jwt_secret_parameter" {
  description = "Name of the SSM SecureString parameter holding the HS256 token secret. Create it out of band (aws ssm put-parameter --type SecureString); the secret never appears in code, tfvars or state."
  type        = string
}

variable "jwt_secret_kms_key_arn" {
  description = "Customer KMS key encrypting the JWT secret parameter (grants the authorizer kms:Decrypt via SSM); null when the parameter uses aws/ssm."
  type        = string
  default     = null
}

variable "jwt_issuer" {
  description = "Required `iss` claim of tokens (JWT_ISSUER); empty = not checked."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "Required `aud` claim of tokens (JWT_AUDIENCE); empty = not checked."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "Optional customer managed KMS key for tables, log groups, Lambda environment and the alarm topic; null uses AWS managed keys (and a dedicated alarm-topic key). Its key policy must allow CloudWatch Logs and CloudWatch alarms."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection (set false, apply, then destroy to remove an environment)."
  type        = bool
  default     = true
}

variable "alarm_topic_enabled" {
  description = "Create an SNS topic notified by every alarm."
  type        = bool
  default     = false
}

variable "alarm_emails" {
  description = "E-mail subscribers of the alarm topic (requires alarm_topic_enabled)."
  type        = list(string)
  default     = []
}

variable "lambda_error_threshold" {
  description = "Lambda errors per 5 minutes at or above which a function's alarm fires."
  type        = number
  default     = 1
}

variable "api_error_threshold" {
  description = "API IntegrationError/ExecutionError count per 5 minutes at or above which the API alarms fire."
  type        = number
  default     = 5
}

variable "build_dir" {
  description = "Directory with functions/<name>.zip and layer.zip (default: <repo>/build, made by `make build`)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}
