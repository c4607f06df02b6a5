# A Cognito user pool + app client so a team gets working sign-in from `make apply` (off by default:
# root variable `cognito`). The authorizer trusts the pool in oidc mode: issuer
# https://cognito-idp.<region>.amazonaws.com/<pool id>, audience = the app client id. The pool's JWKS
# is a public HTTPS endpoint: the authorizer needs no IAM permission (and no VPC route) to read it.
resource "aws_cognito_user_pool" "this" {
  name                = "${var.name_prefix}-users"
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration   = var.mfa

  # Users sign in with a username (it becomes their chat identity with OIDC_USER_CLAIM =
  # cognito:username) and verify an e-mail address for account recovery.
  auto_verified_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = !var.self_sign_up
  }

  password_policy {
    minimum_length                   = var.password_minimum_length
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa == "OFF" ? [] : [true]
    content {
      enabled = true
    }
  }

  tags = var.tags
}

# A public client (no secret) for browser and mobile apps: SRP sign-in, refresh tokens, and the
# hosted UI's authorization code flow when callback URLs are given.
resource "aws_cognito_user_pool_client" "this" {
  name         = "${var.name_prefix}-web"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret               = false
  explicit_auth_flows           = concat(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], var.allow_password_auth ? ["ALLOW_USER_PASSWORD_AUTH"] : [])
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true
  supported_identity_providers  = ["COGNITO"]

  id_token_validity      = var.token_validity_minutes
  access_token_validity  = var.token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days
  token_validity_units {
    id_token      = "minutes"
    access_token  = "minutes"
    refresh_token = "days"
  }

  allowed_oauth_flows_user_pool_client = length(var.callback_urls) > 0
  allowed_oauth_flows                  = length(var.callback_urls) > 0 ? ["code"] : []
  allowed_oauth_scopes                 = length(var.callback_urls) > 0 ? ["openid", "email", "profile"] : []
  callback_urls                        = var.callback_urls
  logout_urls                          = var.logout_urls
}

# The hosted sign-in UI at https://<domain_prefix>.auth.<region>.amazoncognito.com (optional).
resource "aws_cognito_user_pool_domain" "this" {
  count = var.domain_prefix == "" ? 0 : 1

  domain       = var.domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
}
