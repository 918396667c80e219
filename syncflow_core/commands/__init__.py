"""The operations commands of the ``syncflow`` console script: ``health``, ``plan``, ``dlq``.

Each module holds one command (or group) and how it prints; the work is done by the core
modules (:mod:`syncflow_core.health`, :mod:`syncflow_core.plan`, :mod:`syncflow_core.dlq`).
"""
