"""Huimin Ledger (惠民账本): the domain package.

Owns the ledger's rules, tables and use cases. It imports nothing from `api/` or `web/`; the
import-linter contract in pyproject.toml checks that in CI.
"""
