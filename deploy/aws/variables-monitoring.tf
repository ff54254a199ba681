# ---------------------------------------------------------------------------------------------------------
# Alarms, logs
# ---------------------------------------------------------------------------------------------------------
variable "alarm_email" {
  type        = string
  description = "E-mail address subscribed to the alarm topic (confirm the subscription AWS mails). Null: the topic is created without a subscriber (subscribe a chat webhook or a pager to output alarm_topic_arn)."
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "alarm_5xx_per_5_minutes" {
  type        = number
  description = "5xx answers in 5 minutes (from the load balancer itself, or from Homestead) that raise an alarm."
  default     = 10

  validation {
    condition     = var.alarm_5xx_per_5_minutes >= 1
    error_message = "alarm_5xx_per_5_minutes must be at least 1."
  }
}

variable "alarm_response_time_seconds" {
  type        = number
  description = "90th percentile of the target response time (over 15 minutes) that raises an alarm. /sync long-polls last up to their timeout (usually 30 s) by design, so a busy family server's p90 sits near 30 s; the default catches answers slower than any long-poll."
  default     = 40

  validation {
    condition     = var.alarm_response_time_seconds > 0 && var.alarm_response_time_seconds <= 4000
    error_message = "alarm_response_time_seconds must be between 0 and 4000."
  }
}

variable "alarm_db_connections" {
  type        = number
  description = "Database connections that raise an alarm. Null: about 80 % of max_connections at the default sizes (450 for aurora-serverless at 4 ACU, 70 for db.t4g.micro)."
  default     = null

  validation {
    condition     = var.alarm_db_connections == null || try(var.alarm_db_connections >= 1, false)
    error_message = "alarm_db_connections must be null or at least 1."
  }
}

variable "alarm_db_storage_gb" {
  type        = number
  description = "aurora-serverless: stored data (VolumeBytesUsed, billed per GB-month) that raises an alarm; rds-instance: free storage below which an alarm is raised."
  default     = 50

  validation {
    condition     = var.alarm_db_storage_gb >= 1
    error_message = "alarm_db_storage_gb must be at least 1."
  }
}

variable "alb_access_log_retention_days" {
  type        = number
  description = "Days the load balancer's access logs are kept in their S3 bucket."
  default     = 90

  validation {
    condition     = var.alb_access_log_retention_days >= 1 && floor(var.alb_access_log_retention_days) == var.alb_access_log_retention_days
    error_message = "alb_access_log_retention_days must be a whole number of days, at least 1."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps every log group the module creates: the instances' logs and the database's PostgreSQL log export."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …)."
  }
}
