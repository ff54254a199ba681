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
  description = "Writer endpoint of the database."
  value       = local.db_endpoint
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret (kept and rotated by RDS) holding the database master user name and password; used only by the bootstrap that creates Homestead's role."
  value       = local.db_master_secret
}

output "db_app_secret_arn" {
  description = "Secrets Manager secret holding Homestead's own database login ({\"username\":\"homestead\",\"password\":…})."
  value       = aws_secretsmanager_secret.db_app.arn
}

output "settings_secret_arn" {
  description = "Secrets Manager secret for settings kept out of Terraform (JSON of HOMESTEAD_* variables)."
  value       = aws_secretsmanager_secret.settings.arn
}

output "media_bucket" {
  description = "Name of the media bucket."
  value       = aws_s3_bucket.media.id
}

output "release_s3_uri" {
  description = "The release artifact the instances install."
  value       = local.release_s3_uri
}

output "release_version" {
  description = "The Homestead version the instances run."
  value       = local.release_version
}

output "autoscaling_group_name" {
  description = "Name of the autoscaling group (for `aws autoscaling start-instance-refresh`)."
  value       = aws_autoscaling_group.app.name
}

output "log_group" {
  description = "CloudWatch log group of the instances."
  value       = aws_cloudwatch_log_group.app.name
}

output "db_log_group" {
  description = "CloudWatch log group of the database's PostgreSQL log (slow statements, errors)."
  value       = aws_cloudwatch_log_group.db.name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to; subscribe more endpoints to it."
  value       = aws_sns_topic.alarms.arn
}

output "alb_access_logs_bucket" {
  description = "S3 bucket of the load balancer's access logs."
  value       = aws_s3_bucket.alb_logs.id
}

output "nat_public_ips" {
  description = "The addresses other servers see federation traffic come from (allow-lists, firewalls)."
  value       = aws_eip.nat[*].public_ip
}

output "well_known_server" {
  description = "What /.well-known/matrix/server on the apex may answer ({\"m.server\": this}); the SRV record _matrix-fed._tcp already delegates to the same host and port."
  value       = local.federation_delegation
}
