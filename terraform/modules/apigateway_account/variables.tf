variable "role_name" {
  description = "Name of the IAM role API Gateway assumes to write CloudWatch logs."
  type        = string
  default     = "apigateway-cloudwatch-logs"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)."
  }
}

variable "tags" {
  description = "Tags added to the role."
  type        = map(string)
  default     = {}
}
