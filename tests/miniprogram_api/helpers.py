"""Counting SQL statements: see tests/querycount.py."""
from tests.querycount import count_queries  # noqa: F401
