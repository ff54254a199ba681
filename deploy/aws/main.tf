data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # One /24 (for a /16) per tier and zone: public from index 0, app from 4, data from 8.
  subnet_newbits      = 24 - tonumber(split("/", var.vpc_cidr)[1])
  public_subnet_cidrs = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, i)]
  app_subnet_cidrs    = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, 4 + i)]
  data_subnet_cidrs   = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, 8 + i)]

  nat_count = var.nat_gateway_per_az ? var.az_count : 1

  client_host = "${var.client_subdomain}.${var.server_name}"
  # Federation finds us through /.well-known/matrix/server on the apex (served by Homestead when the apex
  # record is ours) or, with the 8448 listener, directly.
  federation_delegation = "${local.client_host}:443"

  upload_release = var.release_package_path != null

  tags = merge(var.tags, { "homestead:deployment" = var.name })
}
