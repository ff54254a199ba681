# Logs and alarms. Every log group the deployment writes to is created here (or in database.tf, for the
# PostgreSQL export) with a retention, so none is left to grow for ever; alarms go to one SNS topic.
resource "aws_cloudwatch_log_group" "app" {
  name              = "/homestead/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
  tags = local.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alb_dimensions = { LoadBalancer = aws_lb.this.arn_suffix }
  tg_dimensions  = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.app.arn_suffix }

  # One entry per alarm: metric, statistic (a pNN is a percentile), comparison, threshold, periods of
  # `period` seconds that must breach. Missing data (no traffic) is not a breach.
  alarms_common = {
    alb_5xx = {
      description = "The load balancer answered 5xx itself (no healthy target, timeouts)."
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", dimensions = local.alb_dimensions
      statistic   = "Sum", comparison = "GreaterThanOrEqualToThreshold", threshold = var.alarm_5xx_per_5_minutes, period = 300, periods = 1
    }
    target_5xx = {
      description = "Homestead answered 5xx."
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", dimensions = local.alb_dimensions
      statistic   = "Sum", comparison = "GreaterThanOrEqualToThreshold", threshold = var.alarm_5xx_per_5_minutes, period = 300, periods = 1
    }
    unhealthy_targets = {
      description = "An instance fails the readiness check (/health/ready: no database) for 3 minutes; also stops an instance refresh."
      namespace   = "AWS/ApplicationELB", metric = "UnHealthyHostCount", dimensions = local.tg_dimensions
      statistic   = "Maximum", comparison = "GreaterThanThreshold", threshold = 0, period = 60, periods = 3
    }
    target_response_time = {
      description = "Homestead answers slower than any /sync long-poll should last."
      namespace   = "AWS/ApplicationELB", metric = "TargetResponseTime", dimensions = local.tg_dimensions
      statistic   = "p90", comparison = "GreaterThanThreshold", threshold = var.alarm_response_time_seconds, period = 300, periods = 3
    }
    in_service_instances = {
      description = "Fewer Homestead instances in service than min_size (at least one)."
      namespace   = "AWS/AutoScaling", metric = "GroupInServiceInstances", dimensions = { AutoScalingGroupName = local.asg_name }
      statistic   = "Minimum", comparison = "LessThanThreshold", threshold = max(var.min_size, 1), period = 60, periods = 5
    }
  }

  alarms_aurora = {
    db_cpu = {
      description = "Aurora CPU above 80 %."
      namespace   = "AWS/RDS", metric = "CPUUtilization", dimensions = { DBClusterIdentifier = var.name }
      statistic   = "Average", comparison = "GreaterThanThreshold", threshold = 80, period = 300, periods = 3
    }
    db_acu = {
      description = "Aurora at more than 90 % of db_max_capacity: raise it before queries queue."
      namespace   = "AWS/RDS", metric = "ACUUtilization", dimensions = { DBClusterIdentifier = var.name }
      statistic   = "Average", comparison = "GreaterThanThreshold", threshold = 90, period = 300, periods = 3
    }
    db_free_local_storage = {
      description = "Aurora instance local storage (temporary files, sorts) below 1 GiB."
      namespace   = "AWS/RDS", metric = "FreeLocalStorage", dimensions = { DBClusterIdentifier = var.name }
      statistic   = "Minimum", comparison = "LessThanThreshold", threshold = 1073741824, period = 300, periods = 1
    }
    db_volume = {
      description = "Aurora's stored data (billed per GB-month) above alarm_db_storage_gb."
      namespace   = "AWS/RDS", metric = "VolumeBytesUsed", dimensions = { DBClusterIdentifier = var.name }
      statistic   = "Maximum", comparison = "GreaterThanThreshold", threshold = var.alarm_db_storage_gb * 1073741824, period = 3600, periods = 1
    }
    db_connections = {
      description = "Database connections near max_connections."
      namespace   = "AWS/RDS", metric = "DatabaseConnections", dimensions = { DBClusterIdentifier = var.name }
      statistic   = "Maximum", comparison = "GreaterThanThreshold", threshold = coalesce(var.alarm_db_connections, 450), period = 300, periods = 1
    }
  }

  alarms_rds_instance = {
    db_cpu = {
      description = "Database CPU above 80 % (a t4g instance also spends CPU credits)."
      namespace   = "AWS/RDS", metric = "CPUUtilization", dimensions = { DBInstanceIdentifier = var.name }
      statistic   = "Average", comparison = "GreaterThanThreshold", threshold = 80, period = 300, periods = 3
    }
    db_free_storage = {
      description = "Database free storage below alarm_db_storage_gb, or 10 % of it, whichever is less (storage autoscaling stops at db_max_allocated_storage_gb)."
      namespace   = "AWS/RDS", metric = "FreeStorageSpace", dimensions = { DBInstanceIdentifier = var.name }
      statistic   = "Minimum", comparison = "LessThanThreshold", threshold = min(var.alarm_db_storage_gb, var.db_allocated_storage_gb / 10) * 1073741824, period = 300, periods = 1
    }
    db_connections = {
      description = "Database connections near max_connections."
      namespace   = "AWS/RDS", metric = "DatabaseConnections", dimensions = { DBInstanceIdentifier = var.name }
      statistic   = "Maximum", comparison = "GreaterThanThreshold", threshold = coalesce(var.alarm_db_connections, 70), period = 300, periods = 1
    }
  }

  alarms_nat_instance = {
    for i in range(local.nat_instance ? local.nat_count : 0) : "nat_instance_${i}" => {
      description = "The NAT instance fails its status checks (EC2 auto-recovery acts on the system check)."
      namespace   = "AWS/EC2", metric = "StatusCheckFailed", dimensions = { InstanceId = aws_instance.nat[i].id }
      statistic   = "Maximum", comparison = "GreaterThanThreshold", threshold = 0, period = 60, periods = 5
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = merge(local.alarms_common, local.aurora ? local.alarms_aurora : local.alarms_rds_instance, local.alarms_nat_instance)

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = startswith(each.value.statistic, "p") ? null : each.value.statistic
  extended_statistic  = startswith(each.value.statistic, "p") ? each.value.statistic : null
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}

# --- load balancer access logs ----------------------------------------------------------------------------
resource "aws_s3_bucket" "alb_logs" {
  bucket_prefix = "${var.name}-alb-logs-"
  force_destroy = var.force_destroy_buckets
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "alb_logs" {
  bucket                  = aws_s3_bucket.alb_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Access logs can only be delivered to a bucket with SSE-S3.
resource "aws_s3_bucket_server_side_encryption_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.alb_access_log_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

locals {
  # Regions opened before August 2022 deliver access logs from an Elastic Load Balancing account of the region;
  # newer ones from the log delivery service principal (granted in every region below).
  elb_log_accounts = {
    "us-east-1"      = "127311923021", "us-east-2" = "033677994240", "us-west-1" = "027434742980", "us-west-2" = "797873946194",
    "af-south-1"     = "098369216593", "ap-east-1" = "754344448648", "ap-southeast-3" = "589379963580", "ap-south-1" = "718504428378",
    "ap-northeast-3" = "383597477331", "ap-northeast-2" = "600734575887", "ap-southeast-1" = "114774131450", "ap-southeast-2" = "783225319266",
    "ap-northeast-1" = "582318560864", "ca-central-1" = "985666609251", "eu-central-1" = "054676820928", "eu-west-1" = "156460612806",
    "eu-west-2"      = "652711504416", "eu-south-1" = "635631232127", "eu-west-3" = "009996457667", "eu-north-1" = "897822967062",
    "me-south-1"     = "076674570225", "sa-east-1" = "507241528517",
  }
  alb_logs_prefix = "alb"
}

data "aws_iam_policy_document" "alb_logs" {
  source_policy_documents = [data.aws_iam_policy_document.tls_only["alb_logs"].json]

  statement {
    sid       = "LogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.alb_logs.arn}/${local.alb_logs_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.elb_log_accounts), data.aws_region.current.region) ? [local.elb_log_accounts[data.aws_region.current.region]] : []
    content {
      sid       = "LogDeliveryFromRegionAccount"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.alb_logs.arn}/${local.alb_logs_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${data.aws_partition.current.partition}:iam::${statement.value}:root"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  policy = data.aws_iam_policy_document.alb_logs.json

  depends_on = [aws_s3_bucket_public_access_block.alb_logs]
}
