# make plan ENV=dev  (the JWT secret lives in SSM; only its parameter name is here)
region                 = "eu-west-1"
name_prefix            = "wschat-dev"
stage_name             = "dev"
throttling_rate_limit  = 500
throttling_burst_limit = 1000
log_level              = "DEBUG"
log_retention_days     = 14
jwt_secret_parameter   = "/wschat/dev/jwt-secret"
deletion_protection    = false
function_settings = {
  RATE_LIMIT_PER_MINUTE = "120"
  BROADCAST_SHARDS      = "16"
}
# Sign in with Cognito instead of the HS256 secret (see README "Sign-in with Cognito or another OIDC provider"):
# auth_mode     = "oidc"
# cognito       = { enabled = true, self_sign_up = true, callback_urls = ["http://localhost:8080/"] }
# token_sources = ["subprotocol"]   # keep tokens out of URLs entirely
