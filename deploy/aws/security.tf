# Chained security groups: internet → load balancer → Homestead (8008) → Aurora (5432).
resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Homestead load balancer: HTTPS (and HTTP for the redirect) from anywhere"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

# Literal ports, one rule each, so the policy tests can prove what is open to the internet.
resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients and federating servers"
  ip_protocol       = "tcp"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTP, redirected to HTTPS"
  ip_protocol       = "tcp"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_federation" {
  count             = var.enable_federation_listener ? 1 : 0
  security_group_id = aws_security_group.alb.id
  description       = "Federation on the default port 8448"
  ip_protocol       = "tcp"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 8448
  to_port           = 8448
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to Homestead"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.app.id
  from_port                    = 8008
  to_port                      = 8008
}

resource "aws_security_group" "app" {
  name_prefix = "${var.name}-app-"
  description = "Homestead instances: the client API from the load balancer only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "Client and federation API from the load balancer"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.alb.id
  from_port                    = 8008
  to_port                      = 8008
}

# Federation talks to other servers on any port, and AWS APIs, npm and Node.js downloads go out through NAT.
resource "aws_vpc_security_group_egress_rule" "app_out" {
  security_group_id = aws_security_group.app.id
  description       = "Outbound: federation, AWS APIs, package downloads"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "db" {
  name_prefix = "${var.name}-db-"
  description = "Aurora PostgreSQL: 5432 from the Homestead instances only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from Homestead"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.app.id
  from_port                    = 5432
  to_port                      = 5432
}
