# The media bucket: private, encrypted, TLS only. Objects are content-addressed (<prefix><sha256>), so local
# and cached remote media share one key space; Homestead itself expires cached remote media
# (media.retention.remote_media_lifetime_ms), and the lifecycle rules below clean up after it.
resource "aws_s3_bucket" "media" {
  bucket_prefix = "${var.name}-media-"
  force_destroy = var.force_destroy_buckets
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = var.media_versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  # With versioning on, media that Homestead deletes (expired remote-media cache, redactions, retention)
  # stays recoverable for media_noncurrent_days, then goes.
  rule {
    id     = "expire-deleted-media"
    status = "Enabled"
    filter {
      prefix = var.media_prefix
    }
    noncurrent_version_expiration {
      noncurrent_days = var.media_noncurrent_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.tls_only["media"].json

  depends_on = [aws_s3_bucket_public_access_block.media]
}

data "aws_iam_policy_document" "tls_only" {
  for_each = merge({ media = aws_s3_bucket.media.arn }, local.upload_release ? { release = aws_s3_bucket.release[0].arn } : {})
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# --- the release tarball (when Terraform uploads it) ------------------------------------------------------
resource "aws_s3_bucket" "release" {
  count         = local.upload_release ? 1 : 0
  bucket_prefix = "${var.name}-release-"
  force_destroy = var.force_destroy_buckets
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "release" {
  count  = local.upload_release ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "release" {
  count                   = local.upload_release ? 1 : 0
  bucket                  = aws_s3_bucket.release[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "release" {
  count  = local.upload_release ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "release" {
  count  = local.upload_release ? 1 : 0
  bucket = aws_s3_bucket.release[0].id
  policy = data.aws_iam_policy_document.tls_only["release"].json

  depends_on = [aws_s3_bucket_public_access_block.release]
}

resource "aws_s3_object" "release" {
  count       = local.upload_release ? 1 : 0
  bucket      = aws_s3_bucket.release[0].id
  key         = "releases/${basename(var.release_package_path)}"
  source      = var.release_package_path
  source_hash = filemd5(var.release_package_path)

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.release]
}
