variable "name_prefix" {
  description = "Prefix of the pool (<name_prefix>-users) and app client (<name_prefix>-web) names."
  type        = string
}

variable "region" {
  description = "AWS region of the pool (builds the issuer URL https://cognito-idp.<region>.amazonaws.com/<pool id>)."
  type        = string
}

variable "self_sign_up" {
  description = "Let users create their own accounts; false: only administrators create users."
  type        = bool
  default     = false
}

variable "mfa" {
  description = "Multi-factor authentication: OFF, OPTIONAL (users may enrol a TOTP app) or ON (required)."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "OPTIONAL", "ON"], var.mfa)
    error_message = "mfa must be OFF, OPTIONAL or ON."
  }
}

variable "password_minimum_length" {
  description = "Minimum password length (Cognito allows 6 to 99)."
  type        = number
  default     = 12

  validation {
    condition     = var.password_minimum_length >= 8 && var.password_minimum_length <= 99
    error_message = "password_minimum_length must be between 8 and 99."
  }
}

variable "allow_password_auth" {
  description = "Also allow USER_PASSWORD_AUTH (the password sent to Cognito over TLS; handy for CLIs and tests). SRP is always allowed."
  type        = bool
  default     = false
}

variable "token_validity_minutes" {
  description = "Lifetime of ID and access tokens in minutes (5 to 1440)."
  type        = number
  default     = 60

  validation {
    condition     = var.token_validity_minutes >= 5 && var.token_validity_minutes <= 1440
    error_message = "token_validity_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_validity_days" {
  description = "Lifetime of refresh tokens in days (1 to 3650)."
  type        = number
  default     = 30

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650
    error_message = "refresh_token_validity_days must be between 1 and 3650."
  }
}

variable "callback_urls" {
  description = "Hosted UI / OAuth redirect URLs of the chat front-end; empty disables the OAuth code flow."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for url in var.callback_urls : can(regex("^(https://|http://localhost)", url))])
    error_message = "callback_urls must be https:// URLs (http://localhost for development)."
  }
}

variable "logout_urls" {
  description = "Where the hosted UI may send users after sign-out."
  type        = list(string)
  default     = []
}

variable "domain_prefix" {
  description = "Hosted UI domain prefix (https://<prefix>.auth.<region>.amazoncognito.com); empty: no hosted UI domain."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_prefix == "" || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix))
    error_message = "domain_prefix must be lower-case letters, digits and hyphens (1-63), or empty."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the pool (and its users) while true."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to the pool."
  type        = map(string)
  default     = {}
}
