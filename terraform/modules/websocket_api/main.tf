resource "aws_apigatewayv2_api" "this" {
  name                       = "${var.name_prefix}-ws"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = var.route_selection_expression
  description                = "Serverless WebSocket chat (routes from manifest.json)"
  tags                       = var.tags
}

# Identity sources (routes.tf): the token source when only one is enabled, so API Gateway answers 401
# itself when it is missing; none when both are, because API Gateway requires every identity source to
# be present (they are ANDed) and a client sends its token one way: the function then answers 401.
resource "aws_apigatewayv2_authorizer" "this" {
  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name_prefix}-token"
  authorizer_type  = "REQUEST"
  authorizer_uri   = var.invoke_arns[var.authorizer.function]
  identity_sources = local.identity_sources
}

resource "aws_lambda_permission" "authorizer" {
  statement_id  = "AllowApiGatewayAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = var.function_names[var.authorizer.function]
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.this.id}"
}

resource "aws_apigatewayv2_integration" "this" {
  for_each = var.routes

  api_id             = aws_apigatewayv2_api.this.id
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = var.invoke_arns[each.value.function]
  description        = "${each.key} -> ${each.value.function}"

  # WebSocket integrations time out at 29 s (the most API Gateway allows); var.function_timeouts keeps
  # every route's function under it, so the function answers before the gateway gives up.
  timeout_milliseconds = local.integration_timeout_ms
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:WebSocket APIs authorise only at $connect (the REQUEST authorizer); later routes run on that authenticated connection and AWS rejects authorizers on them.
  for_each = var.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.this[each.key].id}"
  authorization_type = each.value.authorizer ? "CUSTOM" : "NONE"
  authorizer_id      = each.value.authorizer ? aws_apigatewayv2_authorizer.this.id : null

  route_response_selection_expression = each.value.routeResponse ? "$default" : null
}

resource "aws_apigatewayv2_route_response" "this" {
  for_each = local.two_way_routes

  api_id             = aws_apigatewayv2_api.this.id
  route_id           = aws_apigatewayv2_route.this[each.key].id
  route_response_key = "$default"
}

# Each route may invoke only its own function, and only from this stage and route key.
resource "aws_lambda_permission" "route" {
  for_each = var.routes

  statement_id  = "AllowApiGatewayRoute-${trimprefix(each.key, "$")}"
  action        = "lambda:InvokeFunction"
  function_name = var.function_names[each.value.function]
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/${var.stage_name}/${each.key}"
}

# A new deployment whenever a route, integration, route response or the authorizer changes.
resource "aws_apigatewayv2_deployment" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  description = "routes: ${join(", ", sort(keys(var.routes)))}"

  triggers = {
    redeployment = sha1(jsonencode([
      aws_apigatewayv2_api.this.route_selection_expression,
      [for key, route in aws_apigatewayv2_route.this : [key, route.target, route.authorization_type, route.authorizer_id, route.route_response_selection_expression]],
      [for key, integration in aws_apigatewayv2_integration.this : [key, integration.integration_uri]],
      [for key, response in aws_apigatewayv2_route_response.this : [key, response.route_response_key]],
      # The configured identity sources, not the resource's read-back: with none configured (both token
      # sources enabled) the API may answer without an IdentitySource (moto does), the provider then reads
      # null instead of [], and the hash would change on every plan, redeploying the stage each time
      # (tf-e2e's empty re-plan caught it).
      [aws_apigatewayv2_authorizer.this.authorizer_uri, local.identity_sources],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_apigatewayv2_route.this, aws_apigatewayv2_route_response.this]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name_prefix}-ws/${var.stage_name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; every integration here is AWS_PROXY to Lambda (IAM-authorised via aws_lambda_permission), so there is no backend to present a certificate to.
  api_id        = aws_apigatewayv2_api.this.id
  name          = var.stage_name
  deployment_id = aws_apigatewayv2_deployment.this.id
  description   = "WebSocket stage ${var.stage_name}"

  default_route_settings {
    throttling_rate_limit    = var.throttling_rate_limit
    throttling_burst_limit   = var.throttling_burst_limit
    detailed_metrics_enabled = true
    logging_level            = var.logging_level
    data_trace_enabled       = false # would log message bodies and tokens
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = jsonencode(local.access_log_format)
  }

  tags = var.tags

  # Stage logging fails unless the account has an API Gateway CloudWatch role.
  depends_on = [module.account]
}

# Account-level (per region) setting that stage logging requires. Off by default: it is one setting
# for every API in the account and region, owned by the one-time baseline (terraform/account-baseline).
module "account" {
  source = "../apigateway_account"
  count  = var.manage_account_cloudwatch_role ? 1 : 0

  role_name = "${var.name_prefix}-apigateway-cloudwatch"
  tags      = var.tags
}
