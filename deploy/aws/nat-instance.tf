# nat_type = "instance": the app tier leaves through a small Graviton instance that masquerades with iptables
# instead of a managed NAT gateway (about 33 USD a month each). It keeps a fixed network interface and
# elastic IP, so the route and the egress address survive the instance being replaced; EC2 auto-recovery
# restarts it on another host when its hardware fails.
data "aws_ssm_parameter" "nat_ami" {
  count = local.nat_instance ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

resource "aws_security_group" "nat" {
  count       = local.nat_instance ? 1 : 0
  name_prefix = "${var.name}-nat-"
  description = "Homestead NAT instance: traffic from the app instances, out to the internet"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-nat" })

  lifecycle {
    create_before_destroy = true
  }
}

# Federation reaches other servers on any port (443, 8448, others named by their SRV records).
resource "aws_vpc_security_group_ingress_rule" "nat_from_app" {
  count                        = local.nat_instance ? 1 : 0
  security_group_id            = aws_security_group.nat[0].id
  description                  = "Everything the app instances send out"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_egress_rule" "nat_out" {
  count             = local.nat_instance ? 1 : 0
  security_group_id = aws_security_group.nat[0].id
  description       = "Out to the internet on behalf of the app instances"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_network_interface" "nat" {
  count             = local.nat_instance ? local.nat_count : 0
  subnet_id         = aws_subnet.public[count.index].id
  security_groups   = [aws_security_group.nat[0].id]
  source_dest_check = false
  description       = "Homestead NAT"
  tags              = merge(local.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })
}

resource "aws_eip_association" "nat" {
  count                = local.nat_instance ? local.nat_count : 0
  allocation_id        = aws_eip.nat[count.index].id
  network_interface_id = aws_network_interface.nat[count.index].id
}

locals {
  nat_user_data = <<-EOT
    #!/bin/bash
    # Forward and masquerade the VPC's traffic to the internet.
    set -euxo pipefail
    echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/90-homestead-nat.conf
    sysctl --system
    for attempt in $(seq 30); do dnf install -y iptables-services && break; sleep 10; done
    iface=$(ip -4 route show default | awk '{print $5; exit}')
    cat >/etc/sysconfig/iptables <<RULES
    *nat
    :PREROUTING ACCEPT [0:0]
    :INPUT ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    :POSTROUTING ACCEPT [0:0]
    -A POSTROUTING -o $iface -s ${var.vpc_cidr} -j MASQUERADE
    COMMIT
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD DROP [0:0]
    :OUTPUT ACCEPT [0:0]
    -A FORWARD -i $iface -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A FORWARD -s ${var.vpc_cidr} -o $iface -j ACCEPT
    COMMIT
    RULES
    systemctl enable --now iptables
    systemctl restart iptables
  EOT
}

resource "aws_instance" "nat" {
  count         = local.nat_instance ? local.nat_count : 0
  ami           = data.aws_ssm_parameter.nat_ami[0].insecure_value
  instance_type = var.nat_instance_type
  user_data     = local.nat_user_data

  primary_network_interface {
    network_interface_id = aws_network_interface.nat[count.index].id
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
  }

  maintenance_options {
    auto_recovery = "default"
  }

  tags = merge(local.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })

  lifecycle {
    # Read once: a new Amazon Linux release does not replace the NAT (and cut federation) on an unrelated plan.
    ignore_changes = [ami]
  }

  depends_on = [aws_eip_association.nat]
}
