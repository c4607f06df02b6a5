output "table_names" {
  description = "Logical table name (as in manifest.json) -> DynamoDB table name."
  value       = { for key, table in aws_dynamodb_table.this : key => table.name }
}

output "table_arns" {
  description = "Logical table name -> DynamoDB table ARN (index ARNs are <table arn>/index/<name>)."
  value       = { for key, table in aws_dynamodb_table.this : key => table.arn }
}
