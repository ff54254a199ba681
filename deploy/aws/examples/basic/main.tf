# The smallest useful deployment: one t4g.small instance, Aurora Serverless v2 from 0.5 ACU, one NAT gateway.
#   npm pack                        # in the Homestead checkout: homestead-<version>.tgz
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

variable "release_package_path" {
  type        = string
  description = "Path of the `npm pack` tarball of Homestead."

  validation {
    condition     = fileexists(var.release_package_path)
    error_message = "release_package_path must name an existing file (run npm pack first)."
  }
}

module "homestead" {
  source = "../.."

  server_name           = var.server_name
  hosted_zone_id        = var.hosted_zone_id
  serve_apex_well_known = true
  release_package_path  = var.release_package_path
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
