output "client_url" {
  description = "The URL clients use (public_baseurl)."
  value       = "https://${local.client_host}/"
}

output "server_name" {
  description = "The Matrix server name (the domain in user IDs)."
  value       = var.server_name
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (the Route 53 records alias it)."
  value       = aws_lb.this.dns_name
}

output "db_endpoint" {
  description = "Writer endpoint of the Aurora cluster."
  value       = aws_rds_cluster.this.endpoint
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret (kept by RDS) holding the database master user name and password."
  value       = aws_rds_cluster.this.master_user_secret[0].secret_arn
}

output "app_secret_arn" {
  description = "Secrets Manager secret for settings kept out of Terraform (JSON of HOMESTEAD_* variables)."
  value       = aws_secretsmanager_secret.app.arn
}

output "media_bucket" {
  description = "Name of the media bucket."
  value       = aws_s3_bucket.media.id
}

output "autoscaling_group_name" {
  description = "Name of the autoscaling group (for `aws autoscaling start-instance-refresh`)."
  value       = aws_autoscaling_group.app.name
}

output "log_group" {
  description = "CloudWatch log group of the instances."
  value       = aws_cloudwatch_log_group.app.name
}

output "well_known_server" {
  description = "What /.well-known/matrix/server on the apex must answer ({\"m.server\": this}) when serve_apex_well_known is false."
  value       = local.federation_delegation
}
