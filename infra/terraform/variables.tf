# Inputs of the callmood deployment. Only project_id and image_tag have no default.

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds every resource of the deployment."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lower-case letters, digits, hyphens), not a project number or name."
  }
}

variable "region" {
  type        = string
  description = "Region of the buckets, the Artifact Registry repository and the Dataflow jobs, e.g. europe-west1."
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 (not a zone or a multi-region)."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of resource names (service accounts, repository, scheduler job)."
  default     = "callmood"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,16}$", var.name_prefix))
    error_message = "name_prefix must be 3-17 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels on every resource that takes labels (app = callmood is always set)."
  default     = {}
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs the deployment uses; set false where a platform team enables APIs elsewhere."
  default     = true
}

# -- recordings ------------------------------------------------------------------------------

variable "recordings_bucket_name" {
  type        = string
  description = "Name of the recordings bucket; default <project_id>-<name_prefix>-recordings."
  default     = null
}

variable "recordings_prefix" {
  type        = string
  description = "Folder inside the recordings bucket under which each day's recordings sit in a dated folder, e.g. recordings/."
  default     = "recordings/"

  validation {
    condition     = var.recordings_prefix == "" || endswith(var.recordings_prefix, "/")
    error_message = "recordings_prefix must be empty or end with a slash."
  }
}

variable "recordings_date_format" {
  type        = string
  description = "strftime format of the dated folder a night's recordings are in (%Y-%m-%d gives recordings/2026-11-23/)."
  default     = "%Y-%m-%d"

  validation {
    condition     = can(regex("%", var.recordings_date_format)) && !can(regex("[{}:@]", var.recordings_date_format))
    error_message = "recordings_date_format must contain strftime directives and no { } : or @."
  }
}

variable "recordings_nearline_after_days" {
  type        = number
  description = "Days after upload when a recording moves to NEARLINE storage (read once by the nightly job, then rarely)."
  default     = 30

  validation {
    condition     = var.recordings_nearline_after_days >= 1
    error_message = "recordings_nearline_after_days must be at least 1."
  }
}

variable "recordings_coldline_after_days" {
  type        = number
  description = "Days after upload when a recording moves to COLDLINE storage."
  default     = 90

  validation {
    condition     = var.recordings_coldline_after_days > var.recordings_nearline_after_days
    error_message = "recordings_coldline_after_days must be later than recordings_nearline_after_days."
  }
}

variable "recordings_retention_days" {
  type        = number
  description = "Days after upload when a recording is deleted: the retention period of the audio, which holds personal data."
  default     = 365

  validation {
    condition     = var.recordings_retention_days > var.recordings_coldline_after_days
    error_message = "recordings_retention_days must be later than recordings_coldline_after_days (COLDLINE bills at least 90 days)."
  }
}

variable "temp_retention_days" {
  type        = number
  description = "Days after which Dataflow temp and staging files are deleted from the temp bucket (template specs are kept)."
  default     = 7

  validation {
    condition     = var.temp_retention_days >= 1
    error_message = "temp_retention_days must be at least 1."
  }
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let terraform destroy delete buckets that still hold objects. Keep false in production."
  default     = false
}

# -- warehouse -------------------------------------------------------------------------------

variable "dataset_id" {
  type        = string
  description = "BigQuery dataset that receives the tables of sql/tables/ (the job writes to bq://<project_id>.<dataset_id>)."
  default     = "callmood"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.dataset_id)) && length(var.dataset_id) <= 1024
    error_message = "dataset_id must be at most 1024 letters, digits and underscores."
  }
}

variable "bigquery_location" {
  type        = string
  description = "Location of the BigQuery dataset (EU, US or a region); default the region variable."
  default     = null
}

variable "partition_expiration_days" {
  type        = number
  description = "Default partition expiration of the dataset, days: a day's rows of the partitioned tables (segments, calls, errors) are deleted this long after their date. null keeps them forever."
  default     = 730
  nullable    = true

  validation {
    condition     = var.partition_expiration_days == null ? true : var.partition_expiration_days >= 1
    error_message = "partition_expiration_days must be null or at least 1."
  }
}

variable "dataset_viewers" {
  type        = list(string)
  description = "Members (group:..., user:..., serviceAccount:...) that may read the dataset, e.g. the Looker connection's service account."
  default     = []

  validation {
    condition     = alltrue([for m in var.dataset_viewers : can(regex("^(user|group|serviceAccount|domain):", m))])
    error_message = "dataset_viewers entries must start with user:, group:, serviceAccount: or domain:."
  }
}

variable "recording_path_readers" {
  type        = list(string)
  description = "Members that may read recording_paths (recording paths in clear, phone numbers in file names included): those allowed to listen to calls. dataset_viewers cannot."
  default     = []

  validation {
    condition     = alltrue([for m in var.recording_path_readers : can(regex("^(user|group|serviceAccount|domain):", m))])
    error_message = "recording_path_readers entries must start with user:, group:, serviceAccount: or domain:."
  }
}

# -- the job ---------------------------------------------------------------------------------

variable "image_tag" {
  type        = string
  description = "Tag of the callmood image in Artifact Registry that the template runs (pushed as described in README.md), e.g. 0.1.0-af05083."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a Docker tag other than latest: a night must run a known build."
  }
}

variable "machine_type" {
  type        = string
  description = "Compute Engine machine type of the Dataflow workers."
  default     = "n2-standard-4"
}

variable "max_workers" {
  type        = number
  description = "Most Dataflow workers a night may scale to."
  default     = 10

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 1000
    error_message = "max_workers must be between 1 and 1000."
  }
}

variable "subnetwork" {
  type        = string
  description = "Subnetwork of the workers as regions/REGION/subnetworks/NAME or a full URL; null uses the default network."
  default     = null
}

variable "use_public_ips" {
  type        = bool
  description = "Give workers public IP addresses. false (the default) needs Private Google Access on the subnetwork."
  default     = false
}

variable "grant_vertex_ai_user" {
  type        = bool
  description = "Grant the job a custom role to read a Vertex AI endpoint and its model and call predict, needed only when it scores through a Vertex AI endpoint (--scorer vertex)."
  default     = false
}

variable "caller_id_salt_secret" {
  type        = string
  description = "Secret Manager secret (its name, in project_id) holding the salt that pseudonymises sidecar caller ids. When set, the job may read it and nightly runs pass --caller-id-salt-source secret:...; null: caller ids are dropped."
  default     = null

  validation {
    condition     = var.caller_id_salt_secret == null ? true : can(regex("^[A-Za-z0-9_-]{1,255}$", var.caller_id_salt_secret))
    error_message = "caller_id_salt_secret must be a secret name (letters, digits, - and _), not a path."
  }
}

# -- schedule --------------------------------------------------------------------------------

variable "schedule" {
  type        = string
  description = "Cron schedule of the nightly launch, in time_zone."
  default     = "30 1 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.schedule))) == 5
    error_message = "schedule must be a five-field cron expression, e.g. 30 1 * * *."
  }
}

variable "time_zone" {
  type        = string
  description = "IANA time zone of the schedule and of the date whose recordings a night reads (yesterday, there)."
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.time_zone))
    error_message = "time_zone must be an IANA time zone name such as Europe/Berlin or Etc/UTC."
  }
}

variable "scheduler_region" {
  type        = string
  description = "Region of the Cloud Scheduler job; default the region variable."
  default     = null
}

variable "schedule_paused" {
  type        = bool
  description = "Create the nightly job paused (for a first manual run before nights start)."
  default     = false
}

variable "extra_parameters" {
  type        = map(string)
  description = "More template parameters for the nightly launch (any name in infra/flex_template/metadata.json), e.g. { reprocess = \"true\" }."
  default     = {}
}
