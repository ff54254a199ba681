# The reference architecture at its smallest: one t4g.small instance, Aurora Serverless v2 from 0.5 ACU, one
# NAT gateway, alarms mailed to alarm_email.
#   npm run release                 # in the Homestead checkout: dist/homestead-<version>-linux-arm64.tar.gz
#   cp terraform.tfvars.example terraform.tfvars && $EDITOR terraform.tfvars
#   terraform init && terraform apply
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "homestead" }
  }
}

variable "region" {
  type        = string
  description = "AWS region to deploy into."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "server_name" {
  type        = string
  description = "The Matrix server name (the domain in user IDs), the apex of the hosted zone."

  validation {
    condition     = length(var.server_name) > 0
    error_message = "server_name must not be empty."
  }
}

variable "hosted_zone_id" {
  type        = string
  description = "Route 53 hosted zone of server_name."

  validation {
    condition     = length(var.hosted_zone_id) > 0
    error_message = "hosted_zone_id must not be empty."
  }
}

variable "release_artifact_path" {
  type        = string
  description = "Path of the release artifact made by `npm run release` for arm64 (dist/homestead-<version>-linux-arm64.tar.gz)."

  validation {
    condition     = fileexists(var.release_artifact_path)
    error_message = "release_artifact_path must name an existing file (run npm run release first)."
  }
}

variable "alarm_email" {
  type        = string
  description = "Where alarms are mailed (confirm the subscription AWS sends)."
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("@", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

module "homestead" {
  source = "../.."

  server_name           = var.server_name
  hosted_zone_id        = var.hosted_zone_id
  release_artifact_path = var.release_artifact_path
  alarm_email           = var.alarm_email
}

output "client_url" {
  description = "Where clients connect."
  value       = module.homestead.client_url
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.homestead.alb_dns_name
}

output "db_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.homestead.db_endpoint
}

output "media_bucket" {
  description = "The media bucket."
  value       = module.homestead.media_bucket
}
