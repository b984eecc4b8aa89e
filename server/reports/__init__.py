"""Management reports: plain functions of a scope, a date and a period.

Every figure is computed *as of* a Shanghai date D from the append-only rows
dated up to the end of D, so running a report again later for the same D gives
the same numbers whatever happened after D.
"""
