variable "region" {
  description = "AWS region of the whole stack."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. wschat-dev; a function is <name_prefix>-<manifest name>."
  type        = string
  default     = "wschat-dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name_prefix))
    error_message = "name_prefix: lower-case letter first, then up to 39 lower-case letters, digits or '-'."
  }
}

variable "stage_name" {
  description = "WebSocket API stage name (also read by the local emulator)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name: 1-128 letters, digits, '_' or '-'."
  }
}

variable "throttling_rate_limit" {
  description = "Stage default route steady-state rate limit in requests per second (the local emulator enforces the same value)."
  type        = number
  default     = 500

  validation {
    condition     = var.throttling_rate_limit > 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be > 0 and <= 10000 (the account-level steady-state quota)."
  }
}

variable "throttling_burst_limit" {
  description = "Stage default route burst limit in requests (the local emulator enforces the same value)."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttling_burst_limit >= 0 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number between 0 and 5000 (the account-level burst quota)."
  }
}

variable "api_logging_level" {
  description = "Execution logging level of the stage: OFF, ERROR or INFO (message bodies are never logged)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.api_logging_level)
    error_message = "api_logging_level must be OFF, ERROR or INFO."
  }
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

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "reserved_concurrency" {
  description = "Manifest function name -> reserved concurrent executions (-1 or absent = unreserved)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for value in values(var.reserved_concurrency) : value >= -1 && floor(value) == value])
    error_message = "reserved_concurrency values must be whole numbers >= -1."
  }
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

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group (functions and API access logs)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "auth_mode" {
  description = "How the $connect authorizer verifies tokens: hs256 (a shared secret in SSM, tokens minted by your backend) or oidc (an OpenID Connect provider's JWKS: Cognito, Auth0, Okta, Keycloak, ...)."
  type        = string
  default     = "hs256"

  validation {
    condition     = contains(["hs256", "oidc"], var.auth_mode)
    error_message = "auth_mode must be hs256 or oidc."
  }

  validation {
    condition     = var.auth_mode != "oidc" || var.oidc.issuer != "" || var.cognito.enabled
    error_message = "auth_mode = \"oidc\" needs oidc.issuer (your provider's issuer URL) or cognito.enabled = true."
  }

  validation {
    condition     = var.auth_mode != "oidc" || length(var.oidc.audiences) > 0 || var.cognito.enabled
    error_message = "auth_mode = \"oidc\" needs oidc.audiences (your app client id) or cognito.enabled = true."
  }
}

variable "token_sources" {
  description = "Where clients send the token at $connect: query (?token=, in URLs and logs), subprotocol (Sec-WebSocket-Protocol: wschat, bearer.<jwt>; what browsers use), or both (default)."
  type        = list(string)
  default     = ["query", "subprotocol"]

  validation {
    condition     = length(var.token_sources) > 0 && length(var.token_sources) == length(distinct(var.token_sources)) && alltrue([for source in var.token_sources : contains(["query", "subprotocol"], source)])
    error_message = "token_sources must list query and/or subprotocol, each once."
  }
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

  validation {
    condition     = var.oidc.issuer == "" || startswith(var.oidc.issuer, "https://")
    error_message = "oidc.issuer must be an https:// URL."
  }
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

  validation {
    condition     = var.auth_mode != "hs256" || length(var.jwt_secret_parameter) > 0
    error_message = "auth_mode = \"hs256\" needs jwt_secret_parameter (an SSM parameter name)."
  }
}

variable "jwt_secret_kms_key_arn" {
  description = "Customer KMS key encrypting the JWT secret parameter (grants the authorizer kms:Decrypt via SSM); null when the parameter uses aws/ssm."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.jwt_secret_kms_key_arn))
    error_message = "jwt_secret_kms_key_arn must be a KMS key ARN or null."
  }
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

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
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

  validation {
    condition     = var.lambda_error_threshold >= 1
    error_message = "lambda_error_threshold must be >= 1."
  }
}

variable "api_error_threshold" {
  description = "API IntegrationError/ExecutionError count per 5 minutes at or above which the API alarms fire."
  type        = number
  default     = 5

  validation {
    condition     = var.api_error_threshold >= 1
    error_message = "api_error_threshold must be >= 1."
  }
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
