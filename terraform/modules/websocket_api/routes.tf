# Derived route tables (locals only, evaluated provider-free by tests/terraform).
locals {
  # Two-way routes: the gateway sends the Lambda's return body back to the caller.
  two_way_routes = { for key, route in var.routes : key => route if route.routeResponse }

  authorized_routes = { for key, route in var.routes : key => route if route.authorizer }

  # One enabled token source: its expression (a missing token is a 401 before any Lambda runs).
  # Several: none, since API Gateway ANDs identity sources; the authorizer answers 401 itself.
  identity_sources = length(var.token_sources) == 1 ? [var.authorizer.tokenSources[var.token_sources[0]]] : []

  integration_timeout_ms = 29000 # also in var.function_timeouts' validation

  # Only variables AWS documents for WebSocket access logs (websocket-api-logging): the HTTP API's
  # $context.integrationErrorMessage / $context.integrationStatus are $context.integration.* here.
  access_log_format = {
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    requestTime        = "$context.requestTime"
    ip                 = "$context.identity.sourceIp"
    userAgent          = "$context.identity.userAgent"
    routeKey           = "$context.routeKey"
    eventType          = "$context.eventType"
    connectionId       = "$context.connectionId"
    messageId          = "$context.messageId"
    status             = "$context.status"
    error              = "$context.error.message"
    integrationStatus  = "$context.integration.status"
    lambdaStatus       = "$context.integration.integrationStatus"
    integrationError   = "$context.integration.error"
    integrationLatency = "$context.integration.latency"
    authorizerStatus   = "$context.authorizer.status"
    authorizerError    = "$context.authorizer.error"
    principalId        = "$context.authorizer.principalId"
  }
}
