"""The console owns no tables; this module exists so Django sends it post_migrate (see services.py)."""
