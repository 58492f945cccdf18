"""The customer domain core: one canonical customer across CRM, billing and ERP.

Plain Python over pydantic models, no Dagster and no database: ``model`` (the vocabulary),
``identity`` (which records are one account), ``merge`` (the canonical values under the
ownership rules of ``ownership``), ``policy`` (what a change may do), ``validation`` and
``erp_mapping`` (what the ERP receives).
"""
