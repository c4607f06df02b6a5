# The per-region API Gateway account setting: the IAM role API Gateway uses to write execution and
# access logs. It is ONE setting for the whole account and region: whoever manages it owns it for
# every API there, and destroying it resets it (provider 6.x always resets on destroy). So it lives in
# its own one-time baseline (terraform/account-baseline), not in every stack.
data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume_apigateway" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.role_name
  description        = "Lets API Gateway write execution and access logs to CloudWatch Logs (account-wide)"
  assume_role_policy = data.aws_iam_policy_document.assume_apigateway.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.this.arn

  depends_on = [aws_iam_role_policy_attachment.this]
}
