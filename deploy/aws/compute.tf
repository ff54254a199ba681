# Homestead instances: Amazon Linux 2023, IMDSv2 only, encrypted root volume, no public IP and no SSH
# (Session Manager instead), rolled by instance refresh whenever the launch template changes.
data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

# The AMI is read from the SSM parameter once and kept: the parameter moves with every Amazon Linux release,
# and a launch template that followed it would roll the fleet on any unrelated plan. A new architecture reads
# it again; `terraform apply -replace=terraform_data.ami` takes the newest on purpose; var.ami_id overrides.
resource "terraform_data" "ami" {
  input            = data.aws_ssm_parameter.al2023.insecure_value
  triggers_replace = [var.architecture]

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  image_id = coalesce(var.ami_id, terraform_data.ami.output)

  homestead_config = {
    server_name    = var.server_name
    public_baseurl = "https://${local.client_host}/"
    listen         = { host = "0.0.0.0", port = local.app_port }
    data_dir       = "/var/lib/homestead"
    workers        = var.workers
    # Homestead's own role; no password here: Homestead reads it from the app database secret itself (and again
    # when a login fails after a rotation), or signs an IAM token per connection with db_iam_auth.
    database = {
      url                 = "postgres://${local.db_app_user}@${local.db_endpoint}:${local.db_port}/${local.db_name}"
      password_secret_arn = var.db_iam_auth ? null : aws_secretsmanager_secret.db_app.arn
      iam_auth            = var.db_iam_auth
      aws_region          = data.aws_region.current.region
      pool_size           = var.db_pool_size
      ssl                 = "verify-full"
      ssl_ca_file         = "/opt/homestead/current/certs/rds-global-bundle.pem"
    }
    registration = {
      enabled        = var.enable_registration
      requires_token = var.registration_requires_token
    }
    well_known = { server = local.federation_delegation }
    # The ALB reuses its connections to an instance for up to its idle timeout: the instance must not close
    # them earlier (a request the ALB sends on a connection closing under it answers 502).
    http = {
      trust_proxy           = true
      shutdown_grace_ms     = 20000
      keep_alive_timeout_ms = (var.alb_idle_timeout_seconds + 10) * 1000
      idle_timeout_ms       = (var.alb_idle_timeout_seconds + 15) * 1000
    }
    log = { level = var.log_level }
    media = {
      store = "s3"
      s3 = {
        bucket = aws_s3_bucket.media.id
        prefix = var.media_prefix
        region = data.aws_region.current.region
      }
      retention = {
        remote_media_lifetime_ms = var.remote_media_retention_days == null ? null : var.remote_media_retention_days * 86400000
      }
    }
  }

  # The variables templates/user-data.sh.tftpl is rendered with. A new artifact (its SHA-256), AMI or
  # configuration changes the user data, so the launch template gets a new version and the instance refresh
  # rolls the fleet.
  user_data_vars = {
    release_s3_uri       = local.release_s3_uri
    release_sha256       = local.release_sha256
    release_version      = local.release_version
    region               = data.aws_region.current.region
    config_yaml          = yamlencode(local.homestead_config)
    app_port             = local.app_port
    db_host              = local.db_endpoint
    db_port              = local.db_port
    db_name              = local.db_name
    db_app_user          = local.db_app_user
    db_iam_auth          = var.db_iam_auth
    db_master_secret_arn = local.db_master_secret
    db_app_secret_arn    = aws_secretsmanager_secret.db_app.arn
    settings_secret_arn  = aws_secretsmanager_secret.settings.arn
    asg_name             = local.asg_name
    log_group            = aws_cloudwatch_log_group.app.name
    systemd_unit         = file("${path.module}/../systemd/homestead.service")
    fetch_secrets        = file("${path.module}/templates/fetch-secrets.sh")
    liveness             = file("${path.module}/templates/liveness.sh")
    cloudwatch_agent_config = jsonencode({
      logs = {
        logs_collected = {
          files = {
            collect_list = [
              { file_path = "/var/log/homestead/homestead.log", log_group_name = aws_cloudwatch_log_group.app.name, log_stream_name = "{instance_id}/homestead" },
              { file_path = "/var/log/cloud-init-output.log", log_group_name = aws_cloudwatch_log_group.app.name, log_stream_name = "{instance_id}/cloud-init" },
            ]
          }
        }
      }
    })
  }
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", local.user_data_vars)
}

resource "aws_launch_template" "app" {
  name_prefix            = "${var.name}-"
  image_id               = local.image_id
  instance_type          = var.instance_type
  user_data              = base64gzip(local.user_data)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    security_groups             = [aws_security_group.app.id]
    delete_on_termination       = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = var.name })
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = local.release_arch == (var.architecture == "arm64" ? "arm64" : "x64")
      error_message = "The release artifact is built for linux-${local.release_arch}, the instances are ${var.architecture}: use the artifact of that architecture."
    }
    precondition {
      # EC2 refuses user data over 16,384 bytes (21,848 once base64-encoded); the module sends it gzipped.
      condition     = length(base64gzip(local.user_data)) <= 21848
      error_message = "The rendered user data is over EC2's 16 KiB limit: move files into the release artifact."
    }
  }
}

resource "aws_autoscaling_group" "app" {
  name                = local.asg_name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = aws_subnet.app[*].id
  target_group_arns   = [aws_lb_target_group.app.arn]

  # Liveness, not readiness, replaces instances. The load balancer routes on /health/ready (the database is
  # reachable); the group acts on EC2 status only, plus the instance's own liveness check, which marks it
  # Unhealthy (autoscaling:SetInstanceHealth) after 5 minutes without an answer on /health/live. An Aurora
  # failover or a database outage of minutes therefore takes instances out of routing, never out of service:
  # they come back by themselves when the database does, instead of being replaced all at once.
  health_check_type         = "EC2"
  health_check_grace_period = 300
  default_instance_warmup   = 300

  # The first apply fails, rather than report success, when no instance ever becomes ready.
  min_elb_capacity          = var.min_size > 0 ? 1 : 0
  wait_for_capacity_timeout = "20m"

  enabled_metrics = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupPendingInstances", "GroupTerminatingInstances"]

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # Rolling upgrades: a new launch template version (new artifact, AMI or configuration) replaces instances
  # one batch at a time, launching before terminating so a single instance never leaves zero. EC2 health alone
  # would call a new instance that never gets ready healthy, so the refresh also watches the load balancer's
  # unhealthy-targets alarm and rolls back when it fires.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = "300"
      auto_rollback          = true
      alarm_specification {
        alarms = [aws_cloudwatch_metric_alarm.this["unhealthy_targets"].alarm_name]
      }
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # The target-tracking policy owns desired_capacity once the group exists.
    ignore_changes = [desired_capacity]
  }

  depends_on = [aws_route.app_nat, aws_rds_cluster_instance.this, aws_db_instance.this, aws_secretsmanager_secret_version.db_app, aws_iam_role_policy.app]
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}
