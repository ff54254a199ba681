# ---------------------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------------------
variable "database_engine" {
  type        = string
  description = "aurora-serverless: Aurora PostgreSQL Serverless v2 (db_min_capacity..db_max_capacity ACUs, readers that take over on failure). rds-instance: the budget profile, RDS PostgreSQL on one small Graviton instance (db_instance_class, gp3 storage; optional Multi-AZ standby), cheaper and fixed-size, with a failover of a minute or two only when db_multi_az is on."
  default     = "aurora-serverless"

  validation {
    condition     = contains(["aurora-serverless", "rds-instance"], var.database_engine)
    error_message = "database_engine must be aurora-serverless or rds-instance."
  }
}

variable "db_engine_version" {
  type        = string
  description = "PostgreSQL major version (e.g. 17). Minor versions are upgraded automatically in the maintenance window (AWS retires minors; a pinned one would break a later apply). Raising the major upgrades the database: take a snapshot first. A major.minor is accepted where a region needs one; the provider then treats it as a floor."
  default     = "17"

  validation {
    condition     = can(regex("^1[5-9](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be a PostgreSQL major version 15 or later such as 17 (or a major.minor such as 17.4)."
  }
}

variable "db_instance_class" {
  type        = string
  description = "Instance class with database_engine = rds-instance (the budget profile); a Graviton class such as db.t4g.micro or db.t4g.small."
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.micro."
  }
}

variable "db_allocated_storage_gb" {
  type        = number
  description = "gp3 storage of the rds-instance database at creation (GB); it grows by itself up to db_max_allocated_storage_gb."
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  type        = number
  description = "Storage autoscaling ceiling of the rds-instance database (GB)."
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb >= var.db_allocated_storage_gb && var.db_max_allocated_storage_gb <= 65536
    error_message = "db_max_allocated_storage_gb must be between db_allocated_storage_gb and 65536."
  }
}

variable "db_multi_az" {
  type        = bool
  description = "rds-instance only: a synchronous standby in another zone that takes over on failure (doubles the database cost)."
  default     = false
}

variable "db_iam_auth" {
  type        = bool
  description = "Homestead connects with IAM database authentication tokens (database.iam_auth) instead of the password in the app database secret; the instance role gets rds-db:connect for the homestead user only."
  default     = false
}

variable "db_slow_statement_ms" {
  type        = number
  description = "Statements that run longer are logged (log_min_duration_statement) to the database's CloudWatch log group; -1 turns it off."
  default     = 1000

  validation {
    condition     = var.db_slow_statement_ms >= -1 && floor(var.db_slow_statement_ms) == var.db_slow_statement_ms
    error_message = "db_slow_statement_ms must be a whole number of milliseconds, or -1."
  }
}

variable "db_min_capacity" {
  type        = number
  description = "aurora-serverless: fewest Aurora capacity units (ACUs) per instance; 0 would let an idle cluster pause, but a Homestead cluster is never idle (clients long-poll /sync, each instance keeps a LISTEN connection, the readiness check reads the database), so 0 saves nothing and adds resume delays; 0.5 is the smallest size that makes sense."
  default     = 0.5

  validation {
    condition     = var.db_min_capacity >= 0 && var.db_min_capacity <= 256 && floor(var.db_min_capacity * 2) == var.db_min_capacity * 2
    error_message = "db_min_capacity must be between 0 and 256 in steps of 0.5."
  }
}

variable "db_max_capacity" {
  type        = number
  description = "aurora-serverless: most Aurora capacity units (ACUs) per instance."
  default     = 4

  validation {
    condition     = var.db_max_capacity >= 1 && var.db_max_capacity <= 256 && var.db_max_capacity >= var.db_min_capacity && floor(var.db_max_capacity * 2) == var.db_max_capacity * 2
    error_message = "db_max_capacity must be between max(1, db_min_capacity) and 256 in steps of 0.5."
  }
}

variable "db_instance_count" {
  type        = number
  description = "aurora-serverless: Aurora instances; 1 is a writer only; 2 or more add readers in other zones that take over on failure."
  default     = 1

  validation {
    condition     = var.db_instance_count >= 1 && var.db_instance_count <= 15 && floor(var.db_instance_count) == var.db_instance_count
    error_message = "db_instance_count must be between 1 and 15."
  }
}

variable "db_pool_size" {
  type        = number
  description = "Database connections per Homestead process (database.pool_size); instances × workers × pool must stay under the cluster's max_connections."
  default     = 10

  validation {
    condition     = var.db_pool_size >= 1 && var.db_pool_size <= 200
    error_message = "db_pool_size must be between 1 and 200."
  }
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days the database keeps automated backups (point-in-time restore window)."
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "db_backup_window" {
  type        = string
  description = "Daily UTC window of the automated backup, hh24:mi-hh24:mi."
  default     = "03:00-04:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.db_backup_window))
    error_message = "db_backup_window must look like 03:00-04:00."
  }
}

variable "db_deletion_protection" {
  type        = bool
  description = "Refuse to delete the database; turn off (and apply) before a deliberate destroy."
  default     = true
}

variable "db_restore_snapshot_identifier" {
  type        = string
  description = "Create the database from this snapshot (identifier or ARN: a cluster snapshot for aurora-serverless, a DB snapshot for rds-instance); for a new deployment restoring a backup. Ignored once the database exists."
  default     = null

  validation {
    condition     = var.db_restore_snapshot_identifier == null || can(regex("^(arn:aws[a-z-]*:rds:.+:(cluster-)?snapshot:)?[A-Za-z][A-Za-z0-9:-]*$", var.db_restore_snapshot_identifier))
    error_message = "db_restore_snapshot_identifier must be a DB (cluster) snapshot identifier or ARN."
  }
}

variable "db_kms_key_arn" {
  type        = string
  description = "KMS key for the database storage encryption. Null: the AWS managed key aws/rds."
  default     = null

  validation {
    condition     = var.db_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.db_kms_key_arn))
    error_message = "db_kms_key_arn must be a KMS key ARN."
  }
}

