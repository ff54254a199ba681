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

  # Media that Homestead deletes (expired remote-media cache, redactions, retention)
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
  for_each = merge({ media = aws_s3_bucket.media.arn, alb_logs = aws_s3_bucket.alb_logs.arn }, local.upload_release ? { release = aws_s3_bucket.release[0].arn } : {})
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

# --- the release artifact ---------------------------------------------------------------------------------
# `npm run release` makes homestead-<version>-linux-<x64|arm64>.tar.gz: Node.js, the code and its locked
# production dependencies for one architecture. Terraform uploads it here (release_artifact_path) or points at
# one already in S3 (release_artifact_s3_uri); either way the instances check its SHA-256 before unpacking.
locals {
  upload_release  = var.release_artifact_path != null
  release_file    = basename(local.upload_release ? var.release_artifact_path : var.release_artifact_s3_uri)
  release_parts   = regex("^homestead-(.+)-linux-(x64|arm64)\\.tar\\.gz$", local.release_file)
  release_version = local.release_parts[0]
  release_arch    = local.release_parts[1]
  release_sha256  = local.upload_release ? filesha256(var.release_artifact_path) : var.release_artifact_sha256
  release_key     = "releases/${local.release_file}"
  release_s3_uri  = local.upload_release ? "s3://${aws_s3_bucket.release[0].id}/${local.release_key}" : var.release_artifact_s3_uri
  # The one object the instance role may read.
  release_object_arn = local.upload_release ? "${aws_s3_bucket.release[0].arn}/${local.release_key}" : "arn:${data.aws_partition.current.partition}:s3:::${trimprefix(var.release_artifact_s3_uri, "s3://")}"
}

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
  count              = local.upload_release ? 1 : 0
  bucket             = aws_s3_bucket.release[0].id
  key                = local.release_key
  source             = var.release_artifact_path
  source_hash        = local.release_sha256
  checksum_algorithm = "SHA256"
  metadata           = { sha256 = local.release_sha256, version = local.release_version }

  lifecycle {
    precondition {
      condition     = !fileexists("${var.release_artifact_path}.sha256") || try(split(" ", trimspace(file("${var.release_artifact_path}.sha256")))[0] == local.release_sha256, false)
      error_message = "The release artifact does not match its .sha256 file: rebuild it with npm run release."
    }
  }

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.release]
}
