"""The Dagster code location: ``dagster dev`` loads ``defs`` from here.

Resources read their endpoints and secrets from the environment (``EnvVar``), so the same code
runs against the sandboxes (``sync-platform up`` sets the variables) or the real vendors.
"""

from __future__ import annotations

from dagster import Definitions, EnvVar, in_process_executor

from assets.checks.customers import customer_checks
from assets.checks.transactions import transaction_checks
from assets.customers import customer_assets
from assets.reconciliation import reconciliation_assets
from assets.replay import replay_exceptions_job
from assets.transactions import transaction_assets
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sensors.alerts import alert_sensor
from sensors.catch_up import catch_up_sensor
from sensors.inbox import inbox_sensor
from sensors.schedules import reconciliation_schedules


def system_resources() -> dict[str, object]:
    return {
        "billing": BillingResource(
            base_url=EnvVar("SYNC_BILLING_URL"), api_key=EnvVar("SYNC_BILLING_API_KEY")
        ),
        "crm": CrmResource(
            base_url=EnvVar("SYNC_CRM_URL"), access_token=EnvVar("SYNC_CRM_ACCESS_TOKEN")
        ),
        "erp": ErpResource(
            base_url=EnvVar("SYNC_ERP_URL"), access_token=EnvVar("SYNC_ERP_ACCESS_TOKEN")
        ),
        "store": StoreResource(url=EnvVar("SYNC_STORE_URL")),
    }


defs = Definitions(
    assets=[*customer_assets, *transaction_assets, *reconciliation_assets],
    asset_checks=[*customer_checks, *transaction_checks],
    jobs=[replay_exceptions_job],
    sensors=[inbox_sensor, catch_up_sensor, alert_sensor],
    schedules=reconciliation_schedules,
    resources=system_resources(),
    # A run's steps share one process: the steps of a partition are short and sequential, and
    # a process per step cost ~10 s of start-up each, which dominated near-real-time latency.
    executor=in_process_executor,
)
