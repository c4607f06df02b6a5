output "user_pool_id" {
  description = "Cognito user pool id."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "Cognito user pool ARN."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "App client id: the audience (`aud` of ID tokens, `client_id` of access tokens) the authorizer accepts."
  value       = aws_cognito_user_pool_client.this.id
}

output "issuer" {
  description = "OIDC issuer URL of the pool (the tokens' `iss`; discovery at <issuer>/.well-known/openid-configuration)."
  value       = "https://cognito-idp.${var.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "jwks_uri" {
  description = "The pool's public signing keys."
  value       = "https://cognito-idp.${var.region}.amazonaws.com/${aws_cognito_user_pool.this.id}/.well-known/jwks.json"
}

output "hosted_ui_url" {
  description = "Hosted sign-in UI base URL, or null without domain_prefix."
  value       = var.domain_prefix == "" ? null : "https://${var.domain_prefix}.auth.${var.region}.amazoncognito.com"
}
