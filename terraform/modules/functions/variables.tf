variable "name_prefix" {
  description = "Prefix of every resource name; a function is named <name_prefix>-<manifest function name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name_prefix))
    error_message = "name_prefix: lower-case letter first, then up to 39 lower-case letters, digits or '-' (function and role names must stay within 64 characters)."
  }
}

variable "functions" {
  description = "manifest.json `functions`: name -> handler, memory, timeout and least-privilege permissions."
  type = map(object({
    description = optional(string, "")
    handler     = string
    memory      = number
    timeout     = number
    permissions = object({
      dynamodb = list(object({
        table   = string
        actions = list(string)
        indexes = optional(list(string), [])
      }))
      manageConnections = list(string)
      invoke            = list(string)
      jwtSecret         = optional(bool, false)
    })
  }))

  validation {
    condition     = alltrue([for fn in values(var.functions) : fn.memory >= 128 && fn.memory <= 10240])
    error_message = "Every function's memory must be between 128 and 10240 MB."
  }

  validation {
    condition     = alltrue([for fn in values(var.functions) : fn.timeout >= 1 && fn.timeout <= 900])
    error_message = "Every function's timeout must be between 1 and 900 seconds."
  }

  validation {
    condition = alltrue(flatten([
      for fn in values(var.functions) : [for method in fn.permissions.manageConnections : contains(["POST", "GET", "DELETE"], method)]
    ]))
    error_message = "permissions.manageConnections may list only POST, GET and DELETE."
  }

  validation {
    condition = alltrue(flatten([
      for fn in values(var.functions) : [for target in fn.permissions.invoke : contains(keys(var.functions), target)]
    ]))
    error_message = "permissions.invoke may name only functions of the manifest."
  }
}

variable "fanout_function" {
  description = "manifest.json `fanoutWorker.function`: the continuation worker; its real name is given to every function as FANOUT_FUNCTION_NAME."
  type        = string
}

variable "client_actions" {
  description = "The actions clients may send (manifest.json custom routes); every function gets them, sorted, as CLIENT_ACTIONS ($default lists them)."
  type        = list(string)

  validation {
    condition     = length(var.client_actions) > 0 && alltrue([for action in var.client_actions : can(regex("^[^,$][^,]*$", action))])
    error_message = "client_actions must list at least one action; an action may not start with '$' or contain ','."
  }
}

variable "build_dir" {
  description = "Directory holding functions/<name>.zip and layer.zip, built by tools/build.py (make build)."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime of every function and of the layer."
  type        = string
  default     = "python3.12"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python3.12."
  }
}

variable "architecture" {
  description = "Instruction set of every function (arm64 starts faster and costs less)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "reserved_concurrency" {
  description = "Function name -> reserved concurrent executions; functions not listed use the default (-1: unreserved)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for value in values(var.reserved_concurrency) : value >= -1 && floor(value) == value])
    error_message = "reserved_concurrency values must be whole numbers >= -1 (-1 = unreserved, 0 = disabled)."
  }
}

variable "region" {
  description = "AWS region of the stack (builds resource ARNs)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "table_names" {
  description = "Logical table name (connections, room_members, messages) -> DynamoDB table name."
  type        = map(string)
}

variable "table_arns" {
  description = "Logical table name -> DynamoDB table ARN."
  type        = map(string)
}

variable "management_endpoint" {
  description = "https:// endpoint of the stage's @connections API (MANAGEMENT_ENDPOINT), derived from the API's endpoint so other partitions work."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+/[A-Za-z0-9_-]+$", var.management_endpoint))
    error_message = "management_endpoint must be https://<host>/<stage>."
  }
}

variable "api_execution_arn" {
  description = "WebSocket API execution ARN (scopes execute-api:ManageConnections to the stage)."
  type        = string
}

variable "stage_name" {
  description = "WebSocket API stage name."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of each function's CloudWatch log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the stack's own metrics (POWERTOOLS_METRICS_NAMESPACE of every function)."
  type        = string
  default     = "wschat"

  validation {
    condition     = can(regex("^[A-Za-z0-9./#:_-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace: 1-255 of A-Z a-z 0-9 . / # : _ -, not starting with AWS/."
  }
}

variable "function_settings" {
  description = "Optional tunables (environment variables from shared/chat/config.py OPTIONAL) set on every function."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for name in keys(var.function_settings) : contains([
      "CONNECTION_TTL_SECONDS", "MESSAGE_RETENTION_DAYS", "IDEMPOTENCY_TTL_SECONDS", "MAX_TEXT_CHARS",
      "MAX_ROOMS_PER_CONNECTION", "FANOUT_CONCURRENCY", "FANOUT_PAGE_SIZE", "FANOUT_TIME_MARGIN_MS",
      "FANOUT_MAX_HOPS", "BROADCAST_SHARDS", "RATE_LIMIT_PER_MINUTE",
    ], name)])
    error_message = "function_settings accepts only the tunables of shared/chat/config.py (table names, endpoint, JWT and LOG_LEVEL are set by Terraform)."
  }
}

variable "auth_mode" {
  description = "How the token verifier (the function with permissions.jwtSecret) checks tokens: hs256 (shared secret in SSM) or oidc (an OpenID Connect provider's JWKS)."
  type        = string
  default     = "hs256"

  validation {
    condition     = contains(["hs256", "oidc"], var.auth_mode)
    error_message = "auth_mode must be hs256 or oidc."
  }
}

variable "token_sources" {
  description = "Where the authorizer takes the token from (TOKEN_SOURCES): query, subprotocol, or both."
  type        = list(string)
  default     = ["query", "subprotocol"]

  validation {
    condition     = length(var.token_sources) > 0 && length(var.token_sources) == length(distinct(var.token_sources)) && alltrue([for source in var.token_sources : contains(["query", "subprotocol"], source)])
    error_message = "token_sources must list query and/or subprotocol, each once."
  }
}

variable "oidc" {
  description = "oidc mode: the issuer URL (tokens' iss), accepted audiences / app client ids, the user id claim, accepted Cognito token_use values ([] = not checked), an optional JWKS URL that skips discovery, and the fetch time budget."
  type = object({
    issuer          = optional(string, "")
    audiences       = optional(list(string), [])
    user_claim      = optional(string, "sub")
    token_use       = optional(list(string), [])
    jwks_uri        = optional(string, "")
    http_timeout_ms = optional(number, 2000)
  })
  default = {}

  validation {
    condition     = var.auth_mode != "oidc" || (startswith(var.oidc.issuer, "https://") && length(var.oidc.audiences) > 0)
    error_message = "auth_mode = \"oidc\" needs oidc.issuer (https://...) and at least one oidc.audiences entry (the app client id)."
  }

  validation {
    condition     = alltrue([for use in var.oidc.token_use : contains(["id", "access"], use)])
    error_message = "oidc.token_use may list only id and access."
  }

  validation {
    condition     = var.oidc.jwks_uri == "" || startswith(var.oidc.jwks_uri, "https://")
    error_message = "oidc.jwks_uri must be an https:// URL (or empty to use discovery)."
  }

  validation {
    condition     = var.oidc.http_timeout_ms >= 100 && var.oidc.http_timeout_ms <= 20000
    error_message = "oidc.http_timeout_ms must be between 100 and 20000."
  }
}

variable "jwt_secret_parameter" {
  description = "hs256 mode: name of the SSM SecureString parameter holding the HS256 secret (created outside Terraform; the secret never enters code or state). Unused in oidc mode."
  type        = string
  default     = ""

  validation {
    condition     = length(var.jwt_secret_parameter) <= 2048 && can(regex("^[A-Za-z0-9_./-]*$", var.jwt_secret_parameter))
    error_message = "jwt_secret_parameter must be a valid SSM parameter name."
  }

  validation {
    condition     = var.auth_mode != "hs256" || var.jwt_secret_parameter != ""
    error_message = "auth_mode = \"hs256\" needs jwt_secret_parameter."
  }
}

variable "jwt_secret_kms_key_arn" {
  description = "Customer KMS key that encrypts the JWT secret parameter; null when it uses the AWS managed aws/ssm key."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.jwt_secret_kms_key_arn))
    error_message = "jwt_secret_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "jwt_issuer" {
  description = "Required `iss` claim (JWT_ISSUER); empty = not checked."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "Required `aud` claim (JWT_AUDIENCE); empty = not checked."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "Customer KMS key of the tables, log groups and environment variables (its key policy must allow CloudWatch Logs); every role that touches a table gets kms:Decrypt and kms:GenerateDataKey on it, via DynamoDB only. null uses AWS managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
