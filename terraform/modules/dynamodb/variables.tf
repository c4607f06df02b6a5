variable "name_prefix" {
  description = "Prefix of every table name: <name_prefix>-<logical table name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,200}$", var.name_prefix))
    error_message = "name_prefix may contain only letters, digits, '_', '-' and '.' (DynamoDB table name rules)."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key ARN for server-side encryption; null uses the AWS managed aws/dynamodb key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "deletion_protection" {
  description = "Enable DynamoDB deletion protection on every table (turn off only to destroy an environment)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every table."
  type        = map(string)
  default     = {}
}
