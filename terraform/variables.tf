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
  description = "Also manage the per-region API Gateway account CloudWatch role that stage logs need. Off by default: it is one setting for the whole account and region, applied once by terraform/account-baseline (docs/terraform.md); turn on only for a stack alone in its account."
  type        = bool
  default     = false
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

variable "auth_mode" {
  description = "How the $connect authorizer verifies tokens: hs256 (a shared secret in SSM, tokens minted by your backend) or oidc (an OpenID Connect provider's JWKS: Cognito, Auth0, Okta, Keycloak, ...)."
  type        = string
  default     = "hs256"
}

variable "token_sources" {
  description = "Where clients send the token at $connect: query (?token=, in URLs and logs), subprotocol (Sec-WebSocket-Protocol: wschat, bearer.<jwt>; what browsers use), or both (default)."
  type        = list(string)
  default     = ["query", "subprotocol"]
}

variable "oidc" {
  description = "oidc mode: issuer URL (exactly the tokens' iss), audiences (app client ids), user id claim (default sub, or cognito:username with the Cognito module), accepted Cognito token_use values (default: any, or [\"id\"] with the Cognito module), optional JWKS URL skipping discovery, fetch time budget in ms. The Cognito module's issuer and client id are added when it is enabled."
  type = object({
    issuer          = optional(string, "")
    audiences       = optional(list(string), [])
    user_claim      = optional(string)
    token_use       = optional(list(string))
    jwks_uri        = optional(string, "")
    http_timeout_ms = optional(number, 2000)
  })
  default = {}
}

variable "cognito" {
  description = "Optional Cognito user pool + app client for sign-in (enabled = false by default); with auth_mode = \"oidc\" the authorizer trusts it. See terraform/modules/cognito/variables.tf for each setting."
  type = object({
    enabled                     = optional(bool, false)
    self_sign_up                = optional(bool, false)
    mfa                         = optional(string, "OPTIONAL")
    password_minimum_length     = optional(number, 12)
    allow_password_auth         = optional(bool, false)
    token_validity_minutes      = optional(number, 60)
    refresh_token_validity_days = optional(number, 30)
    callback_urls               = optional(list(string), [])
    logout_urls                 = optional(list(string), [])
    domain_prefix               = optional(string, "")
    deletion_protection         = optional(bool, true)
  })
  default = {}
}

variable "jwt_secret_parameter" {
  description = "hs256 mode: name of the SSM SecureString parameter holding the HS256 token secret. Create it out of band (aws ssm put-parameter --type SecureString); the secret never appears in code, tfvars or state. Not used in oidc mode."
  type        = string
  default     = ""
}

variable "jwt_secret_kms_key_arn" {
  description = "Customer KMS key encrypting the JWT secret parameter (grants the authorizer kms:Decrypt via SSM); null when the parameter uses aws/ssm."
  type        = string
  default     = null
}

variable "jwt_issuer" {
  description = "hs256 mode: required `iss` claim of tokens (JWT_ISSUER); empty = not checked."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "hs256 mode: required `aud` claim of tokens (JWT_AUDIENCE); empty = not checked."
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

variable "metrics_namespace" {
  description = "CloudWatch namespace of the stack's own metrics (delivery counts, fan-out, denials; see README 'Metrics')."
  type        = string
  default     = "wschat"
}

variable "failed_delivery_alarm_percent" {
  description = "Failed posts to @connections, in % of a function's posts per 5 minutes, at or above which it alarms."
  type        = number
  default     = 5
}

variable "failed_delivery_alarm_minimum_posts" {
  description = "Posts per 5 minutes below which the failed-delivery share is not judged."
  type        = number
  default     = 20
}

variable "delivery_latency_alarm_ms" {
  description = "p99 time from a message's sentAt to its last delivery (ms) at or above which a delivering function alarms."
  type        = number
  default     = 10000
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
