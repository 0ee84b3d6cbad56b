# Two service accounts, each with only what its part needs. Every grant is
# additive (*_iam_member): nothing here replaces a policy someone else manages,
# and no grant is a basic role (owner, editor, viewer).

resource "google_service_account" "job" {
  account_id   = "${var.name_prefix}-job"
  display_name = "callmood nightly job (Dataflow launcher and workers)"
  description  = "Reads recordings, writes the callmood dataset; runs the Flex Template launcher VM and the workers."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "callmood nightly trigger (Cloud Scheduler)"
  description  = "May only launch the callmood Flex Template as the job service account."

  depends_on = [google_project_service.enabled]
}

locals {
  job_member       = "serviceAccount:${google_service_account.job.email}"
  scheduler_member = "serviceAccount:${google_service_account.scheduler.email}"
  template_object  = "projects/_/buckets/${google_storage_bucket.temp.name}/objects/${local.template_prefix}"
}

# -- the job -----------------------------------------------------------------------------------

# Reads the recordings (and their sidecars); cannot change or delete them.
resource "google_storage_bucket_iam_member" "job_reads_recordings" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.objectViewer"
  member = local.job_member
}

# Dataflow staging and temp files. The template specs under templates/ are
# excluded, so a worker cannot rewrite the template it is launched from...
resource "google_storage_bucket_iam_member" "job_writes_temp" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectAdmin"
  member = local.job_member

  condition {
    title       = "not-template-specs"
    description = "Everything in the temp bucket except the Flex Template specs."
    expression  = "!resource.name.startsWith(\"${local.template_object}\")"
  }
}

# ...but the launcher VM, which runs as this account, may read them.
resource "google_storage_bucket_iam_member" "job_reads_temp" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectViewer"
  member = local.job_member
}

# Creates the tables if missing, (re)creates the views, loads and replaces rows:
# on the callmood dataset only.
resource "google_bigquery_dataset_iam_member" "job_edits_dataset" {
  dataset_id = google_bigquery_dataset.callmood.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.job_member
}

# Running a query or load job is a project permission; what the job may touch
# is still limited to the dataset above.
resource "google_project_iam_member" "job_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.job_member
}

resource "google_project_iam_member" "job_is_dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = local.job_member
}

# Pulls the image, on the launcher VM and on every worker.
resource "google_artifact_registry_repository_iam_member" "job_pulls_image" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.job_member
}

# Scoring through a Vertex AI endpoint: read the endpoint and the model deployed on it (to check its
# version label) and post to its :predict URL. That is three permissions, not the hundreds of
# roles/aiplatform.user (which may create datasets, training jobs, endpoints...). Project-wide
# because the GA provider has no endpoint-level IAM resource (google_vertex_ai_endpoint_iam_member
# is google-beta only) and models.get has no resource-level IAM at all.
resource "google_project_iam_custom_role" "vertex_scorer" {
  count       = var.grant_vertex_ai_user ? 1 : 0
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_vertex_scorer"
  title       = "callmood Vertex AI scorer"
  description = "Read one endpoint and its deployed model, and send prediction requests: what --scorer vertex does."
  permissions = ["aiplatform.endpoints.get", "aiplatform.endpoints.predict", "aiplatform.models.get"]
}

resource "google_project_iam_member" "job_calls_vertex_ai" {
  count   = var.grant_vertex_ai_user ? 1 : 0
  project = var.project_id
  role    = google_project_iam_custom_role.vertex_scorer[0].id
  member  = local.job_member
}

# Reads the caller-id salt on every worker: that one secret.
resource "google_secret_manager_secret_iam_member" "job_reads_salt" {
  count     = var.caller_id_salt_secret == null ? 0 : 1
  project   = var.project_id
  secret_id = var.caller_id_salt_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = local.job_member
}

# -- the scheduler -----------------------------------------------------------------------------

# Creates Dataflow jobs (the flexTemplates:launch call) and nothing else: a custom role with the
# launch permissions instead of roles/dataflow.developer, which may also cancel, update, drain and
# snapshot every job in the project. Project-wide because a Dataflow job is not an IAM resource
# (there is no job-level policy, and the job does not exist before the launch that creates it).
resource "google_project_iam_custom_role" "dataflow_launcher" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_dataflow_launcher"
  title       = "callmood Flex Template launcher"
  description = "Create (launch) a Dataflow job and read its state; no cancel, update, drain or snapshot."
  permissions = ["dataflow.jobs.create", "dataflow.jobs.get"]
}

resource "google_project_iam_member" "scheduler_launches_dataflow" {
  project = var.project_id
  role    = google_project_iam_custom_role.dataflow_launcher.id
  member  = local.scheduler_member
}

# A job runs as the job account; launching one as it needs actAs on that one account.
resource "google_service_account_iam_member" "scheduler_acts_as_job" {
  service_account_id = google_service_account.job.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.scheduler_member
}

# The launch request reads the template spec with the caller's credentials: that
# one object, not the bucket.
resource "google_storage_bucket_iam_member" "scheduler_reads_template" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectViewer"
  member = local.scheduler_member

  condition {
    title       = "template-spec-only"
    description = "Only the callmood Flex Template spec files."
    expression  = "resource.name.startsWith(\"${local.template_object}\")"
  }
}

# -- readers -----------------------------------------------------------------------------------

# Every table and view of the dataset but recording_paths, which holds recording paths in clear
# (phone numbers in file and folder names): an IAM condition on the dataset grant fences it off.
resource "google_bigquery_dataset_iam_member" "viewers" {
  for_each   = toset(var.dataset_viewers)
  dataset_id = google_bigquery_dataset.callmood.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value

  condition {
    title       = "not-clear-recording-paths"
    description = "Everything in the dataset except the recording_paths table."
    expression  = "!resource.name.endsWith(\"/tables/recording_paths\")"
  }
}

# Those allowed to listen to calls: the clear path of each pseudonymised recording.
resource "google_bigquery_table_iam_member" "recording_path_readers" {
  for_each   = toset(var.recording_path_readers)
  project    = var.project_id
  dataset_id = google_bigquery_dataset.callmood.dataset_id
  table_id   = "recording_paths"
  role       = "roles/bigquery.dataViewer"
  member     = each.value

  depends_on = [google_bigquery_job.create_table]
}
