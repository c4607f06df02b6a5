# make plan ENV=prod
region                 = "eu-west-1"
name_prefix            = "wschat-prod"
stage_name             = "prod"
throttling_rate_limit  = 2000
throttling_burst_limit = 4000
log_level              = "INFO"
log_retention_days     = 90
jwt_secret_parameter   = "/wschat/prod/jwt-secret"
jwt_issuer             = "https://auth.example.com/"
jwt_audience           = "wschat"
deletion_protection    = true
alarm_topic_enabled    = true
alarm_emails           = ["oncall@example.com"]
reserved_concurrency = {
  fanout = 50
}
function_settings = {
  RATE_LIMIT_PER_MINUTE = "120"
  BROADCAST_SHARDS      = "32"
  FANOUT_CONCURRENCY    = "64"
}
