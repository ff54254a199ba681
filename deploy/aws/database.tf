# The database in the data tier: Aurora PostgreSQL Serverless v2 (database_engine = "aurora-serverless"), or
# RDS PostgreSQL on one small Graviton instance (the budget profile, "rds-instance"). Either way the master
# password is created and rotated by RDS in Secrets Manager (manage_master_user_password) and used only by the
# bootstrap step that creates Homestead's own role; TLS is enforced by the server (rds.force_ssl).
locals {
  aurora            = var.database_engine == "aurora-serverless"
  db_major          = split(".", var.db_engine_version)[0]
  db_name           = "homestead"
  db_port           = 5432
  db_master_user    = "homestead_admin"
  db_app_user       = "homestead"
  db_endpoint       = local.aurora ? aws_rds_cluster.this[0].endpoint : aws_db_instance.this[0].address
  db_master_secret  = local.aurora ? aws_rds_cluster.this[0].master_user_secret[0].secret_arn : aws_db_instance.this[0].master_user_secret[0].secret_arn
  db_resource_id    = local.aurora ? aws_rds_cluster.this[0].cluster_resource_id : aws_db_instance.this[0].resource_id
  db_log_group_name = local.aurora ? "/aws/rds/cluster/${var.name}/postgresql" : "/aws/rds/instance/${var.name}/postgresql"
  # A unique name, fixed when the database is created (ignore_changes below): a second deployment of the same
  # name, or a rebuild after a destroy, does not collide with the snapshot the first one left.
  db_final_snapshot = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"

  db_parameters = [
    # Clients without TLS are refused by the server itself, whatever a client asks for.
    { name = "rds.force_ssl", value = "1", apply_method = "pending-reboot" },
    { name = "log_min_duration_statement", value = tostring(var.db_slow_statement_ms), apply_method = "immediate" },
  ]
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "Homestead data tier"
  subnet_ids  = aws_subnet.data[*].id
  tags        = local.tags
}

# RDS would create the export's log group itself, without a retention (kept for ever); created here first.
resource "aws_cloudwatch_log_group" "db" {
  name              = local.db_log_group_name
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

# --- aurora-serverless ------------------------------------------------------------------------------------
resource "aws_rds_cluster_parameter_group" "this" {
  count       = local.aurora ? 1 : 0
  name_prefix = "${var.name}-"
  family      = "aurora-postgresql${local.db_major}"
  description = "Homestead: TLS only, slow statements logged"

  dynamic "parameter" {
    for_each = local.db_parameters
    content {
      name         = parameter.value.name
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_rds_cluster" "this" {
  count                               = local.aurora ? 1 : 0
  cluster_identifier                  = var.name
  engine                              = "aurora-postgresql"
  engine_mode                         = "provisioned"
  engine_version                      = var.db_engine_version
  database_name                       = local.db_name
  master_username                     = local.db_master_user
  manage_master_user_password         = true
  port                                = local.db_port
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.this[0].name
  iam_database_authentication_enabled = var.db_iam_auth

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]

  storage_encrypted = true
  kms_key_id        = var.db_kms_key_arn

  backup_retention_period   = var.db_backup_retention_days
  preferred_backup_window   = var.db_backup_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = local.db_final_snapshot

  enabled_cloudwatch_logs_exports = ["postgresql"]

  serverlessv2_scaling_configuration {
    min_capacity = var.db_min_capacity
    max_capacity = var.db_max_capacity
  }

  # A major upgrade is explicit (raise db_engine_version); minors come by themselves (the instances below).
  allow_major_version_upgrade = true

  # Restore into a new deployment from a snapshot; ignored afterwards so the cluster is never replaced.
  snapshot_identifier = var.db_restore_snapshot_identifier

  tags = local.tags

  lifecycle {
    ignore_changes = [snapshot_identifier, final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.db]
}

resource "aws_rds_cluster_instance" "this" {
  count                      = local.aurora ? var.db_instance_count : 0
  identifier                 = "${var.name}-${count.index + 1}"
  cluster_identifier         = aws_rds_cluster.this[0].id
  instance_class             = "db.serverless"
  engine                     = aws_rds_cluster.this[0].engine
  db_subnet_group_name       = aws_db_subnet_group.this.name
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  tags                       = local.tags
}

moved {
  from = aws_rds_cluster.this
  to   = aws_rds_cluster.this[0]
}

# --- rds-instance (the budget profile) --------------------------------------------------------------------
resource "aws_db_parameter_group" "this" {
  count       = local.aurora ? 0 : 1
  name_prefix = "${var.name}-"
  family      = "postgres${local.db_major}"
  description = "Homestead: TLS only, slow statements logged"

  dynamic "parameter" {
    for_each = local.db_parameters
    content {
      name         = parameter.value.name
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  count                               = local.aurora ? 0 : 1
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = var.db_engine_version
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = true
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_allocated_storage_gb
  max_allocated_storage               = var.db_max_allocated_storage_gb
  storage_type                        = "gp3"
  db_name                             = local.db_name
  username                            = local.db_master_user
  manage_master_user_password         = true
  port                                = local.db_port
  parameter_group_name                = aws_db_parameter_group.this[0].name
  iam_database_authentication_enabled = var.db_iam_auth
  multi_az                            = var.db_multi_az

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false

  storage_encrypted = true
  kms_key_id        = var.db_kms_key_arn

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = var.db_backup_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = local.db_final_snapshot

  enabled_cloudwatch_logs_exports = ["postgresql"]

  snapshot_identifier = var.db_restore_snapshot_identifier

  tags = local.tags

  lifecycle {
    ignore_changes = [snapshot_identifier, final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.db]
}

# --- Homestead's own database role ------------------------------------------------------------------------
# The app database secret: the login role Homestead uses (created by `homestead db-bootstrap` at boot, with
# only CONNECT and its own schema). The password is drawn once: the data source draws a new one on every plan,
# and ignore_changes keeps the first. To change it, put a new value in the secret and roll the instances (the
# bootstrap sets the role's password from the secret; Homestead rereads the secret when a login fails).
data "aws_secretsmanager_random_password" "db_app" {
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "db_app" {
  name_prefix             = "${var.name}/db-app-"
  description             = "Homestead's own database login (username, password); the master secret is used only to create it"
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "db_app" {
  secret_id     = aws_secretsmanager_secret.db_app.id
  secret_string = jsonencode({ username = local.db_app_user, password = data.aws_secretsmanager_random_password.db_app.random_password })

  lifecycle {
    ignore_changes = [secret_string]
  }
}
