terraform {
  # 1.9: validation conditions refer to other variables (desired_capacity, release_artifact_s3_uri).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
