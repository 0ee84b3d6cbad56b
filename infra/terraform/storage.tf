# The recordings bucket (personal data: audio of customers and agents) and the
# Dataflow temp/staging bucket. Both are IAM-only (no object ACLs) and can never
# be made public.

resource "google_storage_bucket" "recordings" {
  name                        = local.recordings_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  # Read once by the night after the call, then kept for disputes and audits only.
  lifecycle_rule {
    condition {
      age                   = var.recordings_nearline_after_days
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.recordings_coldline_after_days
      matches_storage_class = ["NEARLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      age = var.recordings_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "temp" {
  name                        = local.temp_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  # Dataflow's temp and staging files; the template specs under templates/ stay.
  lifecycle_rule {
    condition {
      age            = var.temp_retention_days
      matches_prefix = ["temp/", "staging/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
