# Terraform and provider versions. Only the Google provider is used; commit the
# .terraform.lock.hcl that the first `terraform init` writes, so every apply
# uses the same provider build.
terraform {
  required_version = ">= 1.9" # validation blocks below refer to other variables

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}
