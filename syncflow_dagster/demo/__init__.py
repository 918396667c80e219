"""``syncflow demo``: both emulators, a full sync, ERP activity, an incremental sync and a
reconciliation through the real Dagster definitions, and a table of what each did."""
