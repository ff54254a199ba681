# The instance role can read and write its media prefix, read the release tarball, read its two secrets,
# write its log group, and be reached through SSM Session Manager. Nothing else.
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

  dynamic "statement" {
    for_each = local.upload_release ? ["${aws_s3_bucket.release[0].arn}/${aws_s3_object.release[0].key}"] : []
    content {
      sid       = "ReleaseTarball"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_rds_cluster.this.master_user_secret[0].secret_arn, aws_secretsmanager_secret.app.arn]
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

# --- secrets and logs -------------------------------------------------------------------------------------
# Settings that must not live in Terraform state (registration.shared_secret, …). Terraform creates the
# container only; its value, a JSON object of HOMESTEAD_* environment variables, is set out of band:
#   aws secretsmanager put-secret-value --secret-id <app_secret_arn> --secret-string '{"HOMESTEAD_REGISTRATION_SHARED_SECRET":"…"}'
resource "aws_secretsmanager_secret" "app" {
  name_prefix             = "${var.name}/homestead-"
  description             = "Homestead settings kept out of Terraform: a JSON object of HOMESTEAD_* environment variables"
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/homestead/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}
