# One-time, per account and region, before the first stack with stage logging: the API Gateway
# CloudWatch role. Applied once by whoever owns the account (docs/terraform.md, "Account baseline");
# the stacks (terraform/) leave it alone, so destroying a stack never breaks another's logging.
provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { ManagedBy = "terraform", Purpose = "account-baseline" })
  }
}

module "apigateway_account" {
  source = "../modules/apigateway_account"

  role_name = var.role_name
  tags      = var.tags
}
