# Homestead instances: current Amazon Linux 2023 from its public SSM parameter, IMDSv2 only, encrypted root
# volume, no public IP and no SSH (Session Manager instead), rolled by instance refresh.
data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  homestead_config = {
    server_name    = var.server_name
    public_baseurl = "https://${local.client_host}/"
    listen         = { host = "0.0.0.0", port = 8008 }
    data_dir       = "/var/lib/homestead"
    workers        = var.workers
    # database.url (with the password) comes from Secrets Manager at each start, as HOMESTEAD_DATABASE_URL.
    database = {
      pool_size   = var.db_pool_size
      ssl         = "verify-full"
      ssl_ca_file = "/etc/homestead/rds-global-bundle.pem"
    }
    registration = {
      enabled        = var.enable_registration
      requires_token = var.registration_requires_token
    }
    well_known = { server = local.federation_delegation }
    http       = { trust_proxy = true, shutdown_grace_ms = 20000 }
    log        = { level = var.log_level }
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

  release_source = local.upload_release ? "s3://${aws_s3_bucket.release[0].id}/${aws_s3_object.release[0].key}" : var.release_package_url
  # A new tarball changes the user data, so the launch template gets a new version and instances roll.
  release_version = local.upload_release ? aws_s3_object.release[0].etag : var.release_package_url

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    node_version    = var.node_version
    node_arch       = var.architecture == "arm64" ? "arm64" : "x64"
    release_source  = local.release_source
    release_version = local.release_version
    config_yaml     = yamlencode(local.homestead_config)
    systemd_unit    = file("${path.module}/../systemd/homestead.service")
    db_secret_arn   = aws_rds_cluster.this.master_user_secret[0].secret_arn
    db_host         = aws_rds_cluster.this.endpoint
    db_port         = aws_rds_cluster.this.port
    db_name         = aws_rds_cluster.this.database_name
    app_secret_arn  = aws_secretsmanager_secret.app.arn
    region          = data.aws_region.current.region
    fetch_secrets   = file("${path.module}/templates/fetch-secrets.sh")
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
  })
}

resource "aws_launch_template" "app" {
  name_prefix            = "${var.name}-"
  image_id               = data.aws_ssm_parameter.al2023.insecure_value
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
}

resource "aws_autoscaling_group" "app" {
  name_prefix               = "${var.name}-"
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  vpc_zone_identifier       = aws_subnet.app[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 600
  default_instance_warmup   = 300

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # Rolling upgrades: a new launch template version (new AMI, new release, new config) replaces instances
  # one batch at a time, launching before terminating so a single instance never leaves zero.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = "300"
      auto_rollback          = true
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

  depends_on = [aws_route.app_nat, aws_rds_cluster_instance.this]
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
