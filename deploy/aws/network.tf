# Three tiers in every zone: public (load balancer and NAT only), app (instances, no public IPs) and data
# (Aurora, no route out of the VPC). Each tier has its own route tables and network ACL.
resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = var.az_count <= length(data.aws_availability_zones.available.names)
      error_message = "az_count is ${var.az_count}, but ${data.aws_region.current.region} offers ${length(data.aws_availability_zones.available.names)} availability zones to this account (${join(", ", data.aws_availability_zones.available.names)}): lower az_count."
    }
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.public_subnet_cidrs[count.index]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-public-${local.azs[count.index]}", "homestead:tier" = "public" })
}

resource "aws_subnet" "app" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.app_subnet_cidrs[count.index]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-app-${local.azs[count.index]}", "homestead:tier" = "app" })
}

resource "aws_subnet" "data" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.data_subnet_cidrs[count.index]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-data-${local.azs[count.index]}", "homestead:tier" = "data" })
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_instance ? 0 : local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(local.tags, { Name = "${var.name}-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

# --- route tables -----------------------------------------------------------------------------------------
resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = var.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One per zone, so each zone's instances leave through their own zone's NAT gateway (or instance) when there is one.
resource "aws_route_table" "app" {
  count  = var.az_count
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-app-${local.azs[count.index]}" })
}

resource "aws_route" "app_nat" {
  count                  = var.az_count
  route_table_id         = aws_route_table.app[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = local.nat_instance ? null : aws_nat_gateway.this[var.nat_gateway_per_az ? count.index : 0].id
  network_interface_id   = local.nat_instance ? aws_network_interface.nat[var.nat_gateway_per_az ? count.index : 0].id : null
}

resource "aws_route_table_association" "app" {
  count          = var.az_count
  subnet_id      = aws_subnet.app[count.index].id
  route_table_id = aws_route_table.app[count.index].id
}

# The data tier's table holds only the VPC's local route: Aurora has no way out of the VPC.
resource "aws_route_table" "data" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-data" })
}

resource "aws_route_table_association" "data" {
  count          = var.az_count
  subnet_id      = aws_subnet.data[count.index].id
  route_table_id = aws_route_table.data.id
}

# Media, the release tarball and package downloads from S3 stay off the NAT gateway (and its per-GB charge).
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.app[*].id
  tags              = merge(local.tags, { Name = "${var.name}-s3" })
}

# --- network ACLs (stateless: return traffic needs its own rules) -----------------------------------------
resource "aws_network_acl" "public" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = aws_subnet.public[*].id
  tags       = merge(local.tags, { Name = "${var.name}-public" })
}

# Clients reach the load balancer on its listener ports (literal, so the policy tests can read them).
resource "aws_network_acl_rule" "public_in_https" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 100
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = "0.0.0.0/0"
  from_port      = 443
  to_port        = 443
}

resource "aws_network_acl_rule" "public_in_http" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 110
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = "0.0.0.0/0"
  from_port      = 80
  to_port        = 80
}

resource "aws_network_acl_rule" "public_in_federation" {
  count          = var.enable_federation_listener ? 1 : 0
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 120
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = "0.0.0.0/0"
  from_port      = 8448
  to_port        = 8448
}

# Replies to the load balancer's and the NAT's own connections (a NAT gateway uses source ports 1024-65535).
resource "aws_network_acl_rule" "public_in_return" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 200
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = "0.0.0.0/0"
  from_port      = 1024
  to_port        = 65535
}

# Traffic from the app tier on its way out through the NAT gateway or instance (federation uses any port).
resource "aws_network_acl_rule" "public_in_from_app" {
  for_each       = { for i, cidr in local.app_subnet_cidrs : cidr => i }
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 300 + each.value
  rule_action    = "allow"
  protocol       = "-1"
  cidr_block     = each.key
}

resource "aws_network_acl_rule" "public_out_all" {
  network_acl_id = aws_network_acl.public.id
  egress         = true
  rule_number    = 100
  rule_action    = "allow"
  protocol       = "-1"
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl" "app" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = aws_subnet.app[*].id
  tags       = merge(local.tags, { Name = "${var.name}-app" })
}

# The load balancer (in the public subnets) reaches Homestead.
resource "aws_network_acl_rule" "app_in_from_alb" {
  for_each       = { for i, cidr in local.public_subnet_cidrs : cidr => i }
  network_acl_id = aws_network_acl.app.id
  egress         = false
  rule_number    = 100 + each.value
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = each.key
  from_port      = 8008
  to_port        = 8008
}

# Replies to the instances' own connections (Linux's ephemeral port range): Aurora, AWS APIs, federation.
resource "aws_network_acl_rule" "app_in_return" {
  network_acl_id = aws_network_acl.app.id
  egress         = false
  rule_number    = 200
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = "0.0.0.0/0"
  from_port      = 32768
  to_port        = 65535
}

resource "aws_network_acl_rule" "app_out_all" {
  network_acl_id = aws_network_acl.app.id
  egress         = true
  rule_number    = 100
  rule_action    = "allow"
  protocol       = "-1"
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl" "data" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = aws_subnet.data[*].id
  tags       = merge(local.tags, { Name = "${var.name}-data" })
}

# PostgreSQL from the app tier only; nothing else gets in.
resource "aws_network_acl_rule" "data_in_postgres_from_app" {
  for_each       = { for i, cidr in local.app_subnet_cidrs : cidr => i }
  network_acl_id = aws_network_acl.data.id
  egress         = false
  rule_number    = 100 + each.value
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = each.key
  from_port      = 5432
  to_port        = 5432
}

# Replies to those connections, back to the app tier's ephemeral ports.
resource "aws_network_acl_rule" "data_out_return_to_app" {
  for_each       = { for i, cidr in local.app_subnet_cidrs : cidr => i }
  network_acl_id = aws_network_acl.data.id
  egress         = true
  rule_number    = 100 + each.value
  rule_action    = "allow"
  protocol       = "tcp"
  cidr_block     = each.key
  from_port      = 1024
  to_port        = 65535
}
