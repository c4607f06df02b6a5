variable "region" {
  description = "AWS region whose API Gateway account setting this baseline manages."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "role_name" {
  description = "Name of the IAM role API Gateway assumes to write CloudWatch logs."
  type        = string
  default     = "apigateway-cloudwatch-logs"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
