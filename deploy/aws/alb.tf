# The only internet-facing component: HTTPS on 443 (HTTP redirects), optionally federation on 8448.
resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  idle_timeout               = var.alb_idle_timeout_seconds
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  tags                       = local.tags

  access_logs {
    bucket  = aws_s3_bucket.alb_logs.id
    prefix  = local.alb_logs_prefix
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.alb_logs]
}

resource "aws_lb_target_group" "app" {
  name_prefix          = "hs-"
  port                 = 8008
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = 30

  # Readiness: an instance that cannot reach the database leaves routing (and comes back by itself); the
  # autoscaling group does not act on this check (see compute.tf).
  health_check {
    path                = "/health/ready"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

resource "aws_lb_listener" "federation" {
  count             = var.enable_federation_listener ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 8448
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

# On the apex, Homestead answers /.well-known/matrix/*; every other path goes to the client host.
resource "aws_lb_listener_rule" "apex_redirect" {
  count        = var.serve_apex_well_known ? 1 : 0
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  condition {
    host_header {
      values = [var.server_name]
    }
  }

  action {
    type = "redirect"
    redirect {
      host        = local.client_host
      status_code = "HTTP_302"
    }
  }
}

resource "aws_lb_listener_rule" "apex_well_known" {
  count        = var.serve_apex_well_known ? 1 : 0
  listener_arn = aws_lb_listener.https.arn
  priority     = 5

  condition {
    host_header {
      values = [var.server_name]
    }
  }
  condition {
    path_pattern {
      values = ["/.well-known/matrix/*"]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

# --- certificate and DNS ----------------------------------------------------------------------------------
# The certificate names the client host and always the server name: with SRV delegation a federating server
# connects to the client host with SNI = the server name and checks the certificate against it, and the 8448
# listener answers for the server name when the apex points here.
resource "aws_acm_certificate" "this" {
  domain_name               = local.client_host
  subject_alternative_names = [var.server_name]
  validation_method         = "DNS"
  tags                      = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Validation records are ACM's own CNAMEs (_<hash>.<name>); overwriting one left by an earlier certificate for
# the same name is what ACM expects. No other record of the module overwrites anything.
resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in aws_acm_certificate.this.domain_validation_options : option.domain_name => {
      name   = option.resource_record_name
      type   = option.resource_record_type
      record = option.resource_record_value
    }
  }
  zone_id         = var.hosted_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

resource "aws_route53_record" "client" {
  zone_id = var.hosted_zone_id
  name    = local.client_host
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# Federation delegation without touching the apex: servers look up _matrix-fed._tcp.<server_name> and connect
# to the client host on 443 (spec: server-server API, resolving server names, step 4).
resource "aws_route53_record" "federation_srv" {
  zone_id = var.hosted_zone_id
  name    = "_matrix-fed._tcp.${var.server_name}"
  type    = "SRV"
  ttl     = 3600
  records = ["10 5 443 ${local.client_host}."]
}

# What the apex holds today, read only when the module is asked to point it here.
data "aws_route53_records" "apex" {
  count      = var.serve_apex_well_known ? 1 : 0
  zone_id    = var.hosted_zone_id
  name_regex = "^${replace(var.server_name, ".", "[.]")}[.]?$"
}

resource "aws_route53_record" "apex" {
  count   = var.serve_apex_well_known ? 1 : 0
  zone_id = var.hosted_zone_id
  name    = var.server_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }

  lifecycle {
    # A website already on the apex is never replaced: the plan stops here instead (no allow_overwrite either,
    # so Route 53 itself refuses to create over an existing record).
    precondition {
      condition = alltrue([
        for record in data.aws_route53_records.apex[0].resource_record_sets :
        !contains(["A", "AAAA"], record.type) || strcontains(lower(try(record.alias_target.dns_name, record.alias_target[0].dns_name, "")), lower(aws_lb.this.dns_name))
      ])
      error_message = "${var.server_name} already has an A or AAAA record that is not this load balancer: serve_apex_well_known would replace your website. Leave it false (federation uses the _matrix-fed._tcp SRV record) and serve /.well-known/matrix/client from the website, or remove the record first."
    }
  }
}
