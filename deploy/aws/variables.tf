# ---------------------------------------------------------------------------------------------------------
# Naming and DNS
# ---------------------------------------------------------------------------------------------------------
variable "name" {
  type        = string
  description = "Prefix of every resource name (letters, digits and hyphens); also the database identifier. At most 27 characters: the longest name made from it, the S3 bucket_prefix <name>-alb-logs-, may have 37."
  default     = "homestead"

  validation {
    # The limits of every derived name are checked in test/deploy (derived-names policy) against this bound.
    condition     = can(regex("^[a-z][a-z0-9-]{1,25}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-27 lowercase letters, digits or hyphens, start with a letter, not end with a hyphen nor hold two in a row (RDS identifiers), so every derived name fits (S3 bucket_prefix <name>-alb-logs- at most 37 characters, load balancer 32, IAM role prefix 38)."
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
  description = "Point the apex (server_name) at the load balancer too, so Homestead serves /.well-known/matrix/{client,server} there and redirects everything else to the client host. The plan fails rather than replace an A or AAAA record already on the apex. Leave false when the apex hosts a website: federation then finds the client host through the SRV record, and clients through the .well-known files you serve from it (see README)."
  default     = false
}

variable "enable_federation_listener" {
  type        = bool
  description = "Also listen on 8448, the default federation port, with the same certificate (it names server_name too), for servers that reach the server name directly (when the apex points at the load balancer)."
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

variable "nat_type" {
  type        = string
  description = "How the app tier reaches the internet (federation, AWS APIs without an endpoint): gateway (a managed NAT gateway, about 33 USD a month) or instance (a t4g.nano-sized Amazon Linux instance that masquerades with iptables, about 7 USD a month with its public address; a single instance whose failure AWS auto-recovery repairs in minutes, with the bandwidth of its type)."
  default     = "gateway"

  validation {
    condition     = contains(["gateway", "instance"], var.nat_type)
    error_message = "nat_type must be gateway or instance."
  }
}

variable "nat_instance_type" {
  type        = string
  description = "Instance type of the NAT instance (nat_type = instance); a Graviton (arm64) type."
  default     = "t4g.nano"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*g[a-z0-9-]*\\.[a-z0-9]+$", var.nat_instance_type))
    error_message = "nat_instance_type must be a Graviton instance type such as t4g.nano (the NAT image is arm64)."
  }
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway or NAT instance per zone (survives a zone outage, costs one more each) instead of one shared."
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

variable "ami_id" {
  type        = string
  description = "AMI of the Homestead instances (Amazon Linux 2023 for architecture). Null: the latest Amazon Linux 2023 from its public SSM parameter, read once at the first apply and kept, so an unrelated plan never rolls the fleet; take a newer one with `terraform apply -replace=terraform_data.ami` (module.<name>.terraform_data.ami) or set this."
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "release_artifact_path" {
  type        = string
  description = "Local path of the release artifact made by `npm run release`, dist/homestead-<version>-linux-<x64|arm64>.tar.gz for architecture; Terraform uploads it to a private release bucket with its SHA-256. Set this, or release_artifact_s3_uri and release_artifact_sha256."
  default     = null

  validation {
    condition     = var.release_artifact_path == null || can(regex("(^|/)homestead-[0-9A-Za-z.+-]+-linux-(x64|arm64)\\.tar\\.gz$", var.release_artifact_path))
    error_message = "release_artifact_path must name a release artifact, homestead-<version>-linux-<x64|arm64>.tar.gz."
  }
}

variable "release_artifact_s3_uri" {
  type        = string
  description = "s3://bucket/key of a release artifact already uploaded (homestead-<version>-linux-<x64|arm64>.tar.gz), used instead of release_artifact_path; the instance role may read that one object."
  default     = null

  validation {
    condition     = (var.release_artifact_s3_uri == null) != (var.release_artifact_path == null)
    error_message = "Set exactly one of release_artifact_path and release_artifact_s3_uri."
  }
  validation {
    condition     = var.release_artifact_s3_uri == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+/)?homestead-[0-9A-Za-z.+-]+-linux-(x64|arm64)\\.tar\\.gz$", var.release_artifact_s3_uri))
    error_message = "release_artifact_s3_uri must be s3://<bucket>/<key> of a homestead-<version>-linux-<x64|arm64>.tar.gz."
  }
}

variable "release_artifact_sha256" {
  type        = string
  description = "SHA-256 (64 hex digits, from the artifact's .sha256 file) of the artifact at release_artifact_s3_uri; instances refuse an artifact that does not match. Ignored with release_artifact_path (Terraform computes it)."
  default     = null

  validation {
    condition     = var.release_artifact_s3_uri == null || can(regex("^[0-9a-f]{64}$", var.release_artifact_sha256))
    error_message = "release_artifact_sha256 must be the 64 hex digits of the artifact's SHA-256 when release_artifact_s3_uri is set."
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
  description = "Keep earlier versions of deleted or overwritten media objects for media_noncurrent_days (family photos survive a mistaken deletion or a bad redaction)."
  default     = true
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
