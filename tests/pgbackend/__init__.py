"""The test suite's database backend: Django's PostgreSQL backend with a cheaper flush.

Only tests/settings.py names it (ENGINE "tests.pgbackend"); see base.py for why.
"""
