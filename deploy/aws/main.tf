data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  # The precondition on aws_vpc.this says so before anything is built when the region has fewer zones.
  azs = slice(data.aws_availability_zones.available.names, 0, min(var.az_count, length(data.aws_availability_zones.available.names)))

  # One /24 (for a /16) per tier and zone: public from index 0, app from 4, data from 8.
  subnet_newbits      = 24 - tonumber(split("/", var.vpc_cidr)[1])
  public_subnet_cidrs = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, i)]
  app_subnet_cidrs    = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, 4 + i)]
  data_subnet_cidrs   = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, local.subnet_newbits, 8 + i)]

  nat_count    = var.nat_gateway_per_az ? var.az_count : 1
  nat_instance = var.nat_type == "instance"

  client_host = "${var.client_subdomain}.${var.server_name}"
  # Federating servers find the client host through the SRV record _matrix-fed._tcp.<server_name> (always
  # created) or /.well-known/matrix/server on the apex (served by Homestead when serve_apex_well_known).
  federation_delegation = "${local.client_host}:443"

  # The port Homestead listens on behind the load balancer (the security group and NACL rules spell it out).
  app_port = 8008

  # The group's name is fixed (not a prefix) so the instance role can be scoped to it before it exists.
  asg_name = "${var.name}-app"

  tags = merge(var.tags, { "homestead:deployment" = var.name })
}
