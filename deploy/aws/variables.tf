# ---------------------------------------------------------------------------------------------------------
# Naming and DNS
# ---------------------------------------------------------------------------------------------------------
variable "name" {
  type        = string
  description = "Prefix of every resource name (letters, digits and hyphens); also the Aurora cluster identifier."
  default     = "homestead"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "server_name" {
  type        = string
  description = "The Matrix server name, the domain in user IDs (@alice:example.com). Usually the apex of hosted_zone_id. It cannot change once users exist."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.server_name))
    error_message = "server_name must be a lowercase DNS name such as example.com (no port, no scheme)."
  }
}

variable "client_subdomain" {
  type        = string
  description = "Host name label of the client and federation endpoint: clients use https://<client_subdomain>.<server_name>/."
  default     = "matrix"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.client_subdomain))
    error_message = "client_subdomain must be one DNS label, such as matrix."
  }
}

variable "hosted_zone_id" {
  type        = string
  description = "ID of the existing Route 53 public hosted zone for server_name; the certificate is validated and the records are created in it."

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,31}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone ID such as Z0123456789ABCDEFGHIJ."
  }
}

variable "serve_apex_well_known" {
  type        = bool
  description = "Point the apex (server_name) at the load balancer too, so Homestead serves /.well-known/matrix/{client,server} there and redirects everything else to the client host. Leave false when the apex already hosts a website; serve the two .well-known files from it instead (see README)."
  default     = false
}

variable "enable_federation_listener" {
  type        = bool
  description = "Also listen on 8448, the default federation port, for servers that do not follow .well-known delegation."
  default     = false
}

# ---------------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  type        = string
  description = "IPv4 range of the VPC, /16 to /20; each tier gets one /24 (for a /16) per availability zone."
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block with a prefix between /16 and /20."
  }
}

variable "az_count" {
  type        = number
  description = "Availability zones to spread the subnets, instances and Aurora over (2-4)."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be 2, 3 or 4."
  }
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per zone (survives a zone outage, costs one NAT gateway more each) instead of one shared."
  default     = false
}

# ---------------------------------------------------------------------------------------------------------
# Compute
# ---------------------------------------------------------------------------------------------------------
variable "instance_type" {
  type        = string
  description = "EC2 instance type of the Homestead instances; must match architecture (t4g/m7g/c7g are arm64)."
  default     = "t4g.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t4g.small."
  }
}

variable "architecture" {
  type        = string
  description = "CPU architecture of instance_type: arm64 (Graviton) or x86_64."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "min_size" {
  type        = number
  description = "Fewest Homestead instances."
  default     = 1

  validation {
    condition     = var.min_size >= 0 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number, 0 or more."
  }
}

variable "desired_capacity" {
  type        = number
  description = "Instances at creation; afterwards the CPU target-tracking policy moves it between min_size and max_size."
  default     = 1

  validation {
    condition     = var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size
    error_message = "desired_capacity must lie between min_size and max_size."
  }
}

variable "max_size" {
  type        = number
  description = "Most Homestead instances."
  default     = 3

  validation {
    condition     = var.max_size >= 1 && var.max_size >= var.min_size && var.max_size <= 100
    error_message = "max_size must be between max(1, min_size) and 100."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation the autoscaling group keeps its instances at."
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "root_volume_size_gb" {
  type        = number
  description = "Size of each instance's encrypted gp3 root volume (Node.js, Homestead and staged uploads)."
  default     = 20

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be between 8 and 1024."
  }
}

variable "node_version" {
  type        = string
  description = "Node.js 24 release installed on the instances (checked against the release's SHASUMS256.txt)."
  default     = "24.21.0"

  validation {
    condition     = can(regex("^24\\.[0-9]+\\.[0-9]+$", var.node_version))
    error_message = "node_version must be a Node.js 24 release such as 24.21.0."
  }
}

variable "release_package_path" {
  type        = string
  description = "Local path of the Homestead release made by `npm pack` (homestead-x.y.z.tgz); Terraform uploads it to a private bucket. Set this or release_package_url."
  default     = null

  validation {
    condition     = var.release_package_path == null || can(regex("\\.tgz$", var.release_package_path))
    error_message = "release_package_path must name an npm pack tarball (.tgz)."
  }
}

variable "release_package_url" {
  type        = string
  description = "HTTPS URL of the Homestead release tarball, used instead of release_package_path."
  default     = null

  validation {
    condition     = (var.release_package_url == null) != (var.release_package_path == null)
    error_message = "Set exactly one of release_package_path and release_package_url."
  }
  validation {
    condition     = var.release_package_url == null || can(regex("^https://", var.release_package_url))
    error_message = "release_package_url must be an https:// URL."
  }
}

variable "workers" {
  type        = number
  description = "Homestead processes per instance (`--workers`); one per vCPU is a good start."
  default     = 2

  validation {
    condition     = var.workers >= 1 && var.workers <= 64 && floor(var.workers) == var.workers
    error_message = "workers must be a whole number between 1 and 64."
  }
}

variable "enable_registration" {
  type        = bool
  description = "Open sign-up through the client API (registration.enabled); with registration_requires_token, only with a token."
  default     = false
}

variable "registration_requires_token" {
  type        = bool
  description = "Sign-up needs a registration token made with `homestead registration-token` (registration.requires_token)."
  default     = true
}

variable "log_level" {
  type        = string
  description = "Homestead log level."
  default     = "info"

  validation {
    condition     = contains(["fatal", "error", "warn", "info", "debug", "trace"], var.log_level)
    error_message = "log_level must be one of fatal, error, warn, info, debug or trace."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the instance logs."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …)."
  }
}

# ---------------------------------------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------------------------------------
variable "alb_idle_timeout_seconds" {
  type        = number
  description = "Idle timeout of the load balancer; must exceed the longest /sync long-poll clients ask for (usually 30 s)."
  default     = 120

  validation {
    condition     = var.alb_idle_timeout_seconds >= 60 && var.alb_idle_timeout_seconds <= 4000
    error_message = "alb_idle_timeout_seconds must be between 60 and 4000."
  }
}

variable "ssl_policy" {
  type        = string
  description = "TLS policy of the HTTPS listeners."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-", var.ssl_policy))
    error_message = "ssl_policy must be an ELBSecurityPolicy-* name."
  }
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Refuse to delete the load balancer until this is turned off."
  default     = false
}

# ---------------------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------------------
variable "db_engine_version" {
  type        = string
  description = "Aurora PostgreSQL engine version (major.minor); raising it upgrades the cluster (minor and major). List: `aws rds describe-db-engine-versions --engine aurora-postgresql --query 'DBEngineVersions[].EngineVersion'`."
  default     = "17.4"

  validation {
    condition     = can(regex("^1[5-9]\\.[0-9]+$", var.db_engine_version))
    error_message = "db_engine_version must be an Aurora PostgreSQL 15 or later version such as 17.4."
  }
}

variable "db_min_capacity" {
  type        = number
  description = "Fewest Aurora capacity units (ACUs) per instance; 0 lets an idle cluster pause (engine versions that support it), 0.5 is the smallest always-on size."
  default     = 0.5

  validation {
    condition     = var.db_min_capacity >= 0 && var.db_min_capacity <= 256 && floor(var.db_min_capacity * 2) == var.db_min_capacity * 2
    error_message = "db_min_capacity must be between 0 and 256 in steps of 0.5."
  }
}

variable "db_max_capacity" {
  type        = number
  description = "Most Aurora capacity units (ACUs) per instance."
  default     = 4

  validation {
    condition     = var.db_max_capacity >= 1 && var.db_max_capacity <= 256 && var.db_max_capacity >= var.db_min_capacity && floor(var.db_max_capacity * 2) == var.db_max_capacity * 2
    error_message = "db_max_capacity must be between max(1, db_min_capacity) and 256 in steps of 0.5."
  }
}

variable "db_instance_count" {
  type        = number
  description = "Aurora instances: 1 is a writer only; 2 or more add readers in other zones that take over on failure."
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
  description = "Days Aurora keeps automated backups (point-in-time restore window)."
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
  description = "Refuse to delete the Aurora cluster; turn off (and apply) before a deliberate destroy."
  default     = true
}

variable "db_restore_snapshot_identifier" {
  type        = string
  description = "Create the Aurora cluster from this cluster snapshot (identifier or ARN); for a new deployment restoring a backup. Ignored once the cluster exists."
  default     = null

  validation {
    condition     = var.db_restore_snapshot_identifier == null || can(regex("^(arn:aws[a-z-]*:rds:.+:cluster-snapshot:)?[A-Za-z][A-Za-z0-9:-]*$", var.db_restore_snapshot_identifier))
    error_message = "db_restore_snapshot_identifier must be a DB cluster snapshot identifier or ARN."
  }
}

variable "db_kms_key_arn" {
  type        = string
  description = "KMS key for Aurora storage encryption. Null: the AWS managed key aws/rds."
  default     = null

  validation {
    condition     = var.db_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.db_kms_key_arn))
    error_message = "db_kms_key_arn must be a KMS key ARN."
  }
}

# ---------------------------------------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------------------------------------
variable "media_prefix" {
  type        = string
  description = "Key prefix of media objects in the media bucket."
  default     = "media/"

  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+/)*$", var.media_prefix))
    error_message = "media_prefix must be empty or end with a slash, e.g. media/."
  }
}

variable "media_versioning" {
  type        = bool
  description = "Keep earlier versions of deleted or overwritten media objects (protects against mistakes; old versions expire after media_noncurrent_days)."
  default     = false
}

variable "media_noncurrent_days" {
  type        = number
  description = "Days a deleted or overwritten media object's previous version is kept when versioning is on."
  default     = 30

  validation {
    condition     = var.media_noncurrent_days >= 1
    error_message = "media_noncurrent_days must be at least 1."
  }
}

variable "remote_media_retention_days" {
  type        = number
  description = "Days cached media from other servers is kept after its last access (media.retention.remote_media_lifetime_ms). Null: kept for ever."
  default     = 90

  validation {
    condition     = var.remote_media_retention_days == null || try(var.remote_media_retention_days >= 1, false)
    error_message = "remote_media_retention_days must be null or at least 1."
  }
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete the media and release buckets with their objects. Keep false in production."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
