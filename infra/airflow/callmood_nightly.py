"""Cloud Composer (Airflow) DAG: the nightly callmood run, for teams that schedule with Airflow.

The alternative to the Cloud Scheduler job in infra/terraform/scheduler.tf
(use one, not both). It launches the same Flex Template with the same
parameters; the date comes from Airflow instead of the launcher's {yesterday}
token: with a CronDataIntervalTimetable the run that starts at 01:30 on
2026-11-24 covers the interval that began at 01:30 on 2026-11-23, so
data_interval_start, in the schedule's time zone, is the calendar day to read.
That holds on Airflow 2 and 3 (where a bare cron string no longer means an interval).

Settings are Airflow Variables, read when a run is rendered (never at parse
time), filled from the Terraform outputs: callmood_project, callmood_region,
callmood_template_path (output template_path), callmood_recordings_bucket,
callmood_bigquery_output (output bigquery_output) and callmood_environment
(output flex_environment, JSON).
"""
from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.timetables.interval import CronDataIntervalTimetable

TIME_ZONE = "Europe/Berlin"
SCHEDULE = "30 1 * * *"
RECORDINGS_PREFIX = "recordings/"
DATE_FORMAT = "%Y-%m-%d"

TEMPLATE_PATH = "{{ var.value.callmood_template_path }}"
# The day that just ended, in TIME_ZONE.
RECORDINGS_DAY = "{{ data_interval_start.in_timezone('" + TIME_ZONE + "').strftime('" + DATE_FORMAT + "') }}"
INPUT = "gs://{{ var.value.callmood_recordings_bucket }}/" + RECORDINGS_PREFIX + RECORDINGS_DAY + "/"

with DAG(
    dag_id="callmood_nightly",
    description="Score the emotion of the previous day's call recordings (Dataflow Flex Template).",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone=pendulum.timezone(TIME_ZONE)),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # so the environment Variable renders as a dict
    tags=["callmood"],
) as dag:
    DataflowStartFlexTemplateOperator(
        task_id="launch_callmood",
        project_id="{{ var.value.callmood_project }}",
        location="{{ var.value.callmood_region }}",
        body={
            "launchParameter": {
                "jobName": "callmood-{{ data_interval_start | ds_nodash }}",
                "containerSpecGcsPath": TEMPLATE_PATH,
                "parameters": {"input": INPUT, "output": "{{ var.value.callmood_bigquery_output }}"},
                "environment": "{{ var.json.callmood_environment }}",
            }
        },
        wait_until_finished=True,
    )
