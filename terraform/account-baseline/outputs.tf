output "cloudwatch_role_arn" {
  description = "ARN of the role API Gateway uses for CloudWatch logging in this account and region."
  value       = module.apigateway_account.cloudwatch_role_arn
}
