# Aurora PostgreSQL Serverless v2 in the data tier. The master password is created and kept by RDS in
# Secrets Manager (manage_master_user_password): it never appears in Terraform state or variables.
resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "Homestead data tier"
  subnet_ids  = aws_subnet.data[*].id
  tags        = local.tags
}

resource "aws_rds_cluster" "this" {
  cluster_identifier          = var.name
  engine                      = "aurora-postgresql"
  engine_mode                 = "provisioned"
  engine_version              = var.db_engine_version
  database_name               = "homestead"
  master_username             = "homestead"
  manage_master_user_password = true
  port                        = 5432

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]

  storage_encrypted = true
  kms_key_id        = var.db_kms_key_arn

  backup_retention_period   = var.db_backup_retention_days
  preferred_backup_window   = var.db_backup_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  enabled_cloudwatch_logs_exports = ["postgresql"]

  serverlessv2_scaling_configuration {
    min_capacity = var.db_min_capacity
    max_capacity = var.db_max_capacity
  }

  # Upgrades are explicit: raise db_engine_version and apply (see README, "Upgrades").
  allow_major_version_upgrade = true

  # Restore into a new deployment from a snapshot; ignored afterwards so the cluster is never replaced.
  snapshot_identifier = var.db_restore_snapshot_identifier

  tags = local.tags

  lifecycle {
    ignore_changes = [snapshot_identifier]
  }
}

resource "aws_rds_cluster_instance" "this" {
  count                      = var.db_instance_count
  identifier                 = "${var.name}-${count.index + 1}"
  cluster_identifier         = aws_rds_cluster.this.id
  instance_class             = "db.serverless"
  engine                     = aws_rds_cluster.this.engine
  db_subnet_group_name       = aws_db_subnet_group.this.name
  publicly_accessible        = false
  auto_minor_version_upgrade = false
  tags                       = local.tags
}
