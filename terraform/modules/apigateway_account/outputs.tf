output "cloudwatch_role_arn" {
  description = "ARN of the role API Gateway uses for CloudWatch logging in this account and region."
  value       = aws_api_gateway_account.this.cloudwatch_role_arn
}
