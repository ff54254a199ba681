# The instance role can read and write its media prefix, read the one release artifact, read its three
# secrets (the master secret only for the bootstrap that creates Homestead's role), connect as the homestead
# database user with IAM auth when that is on, mark itself unhealthy in its own group, write its log group,
# and be reached through SSM Session Manager. Nothing else.
data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name_prefix        = "${var.name}-app-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.app.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "MediaObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.media.arn}/${var.media_prefix}*"]
  }

  # Lets a missing object answer 404 rather than 403.
  statement {
    sid       = "MediaList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.media_prefix}*"]
    }
  }

  statement {
    sid       = "ReleaseArtifact"
    actions   = ["s3:GetObject"]
    resources = [local.release_object_arn]
  }

  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_master_secret, aws_secretsmanager_secret.db_app.arn, aws_secretsmanager_secret.settings.arn]
  }

  dynamic "statement" {
    for_each = var.db_iam_auth ? ["arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:dbuser:${local.db_resource_id}/${local.db_app_user}"] : []
    content {
      sid       = "DatabaseIamAuth"
      actions   = ["rds-db:connect"]
      resources = [statement.value]
    }
  }

  # The liveness check (homestead-liveness.timer) reports its own instance Unhealthy after 5 minutes without an
  # answer on /health/live; only in this group (its name is fixed, so the ARN is known before it exists).
  statement {
    sid       = "OwnHealth"
    actions   = ["autoscaling:SetInstanceHealth"]
    resources = ["arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.app.arn, "${aws_cloudwatch_log_group.app.arn}:*"]
  }
}

resource "aws_iam_role_policy" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.id
  policy      = data.aws_iam_policy_document.app.json
}

resource "aws_iam_instance_profile" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.name
  tags        = local.tags
}

# --- secrets ----------------------------------------------------------------------------------------------
# Settings that must not live in Terraform state (registration.shared_secret, …). Terraform creates the
# container only; its value, a JSON object of HOMESTEAD_* environment variables, is set out of band:
#   aws secretsmanager put-secret-value --secret-id <settings_secret_arn> --secret-string '{"HOMESTEAD_REGISTRATION_SHARED_SECRET":"…"}'
resource "aws_secretsmanager_secret" "settings" {
  name_prefix             = "${var.name}/homestead-"
  description             = "Homestead settings kept out of Terraform: a JSON object of HOMESTEAD_* environment variables"
  recovery_window_in_days = 7
  tags                    = local.tags
}

moved {
  from = aws_secretsmanager_secret.app
  to   = aws_secretsmanager_secret.settings
}
