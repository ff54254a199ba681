# The only internet-facing component: HTTPS on 443 (HTTP redirects), optionally federation on 8448.
resource "aws_lb" "this" {
  name                       = substr(var.name, 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  idle_timeout               = var.alb_idle_timeout_seconds
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  tags                       = local.tags
}

resource "aws_lb_target_group" "app" {
  name_prefix          = "hs-"
  port                 = 8008
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = 30

  health_check {
    path                = "/health"
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
resource "aws_acm_certificate" "this" {
  domain_name               = local.client_host
  subject_alternative_names = var.serve_apex_well_known ? [var.server_name] : []
  validation_method         = "DNS"
  tags                      = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

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
}
