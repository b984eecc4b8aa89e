"""Imports from CSV/XLSX (houses with owners, meter readings, opening arrears)
and exports of bills and arrears.  Plain domain code; the command line is in
``server.imports.cli``.

Every import validates every row before it writes anything, reports row by
row, commits all or nothing in one transaction with one audit record, and
creates nothing new when the same file is imported again.
"""
from server.imports.arrears import import_arrears
from server.imports.exports import (arrears_by_house, bill_rows, export_arrears,
                                    export_bills)
from server.imports.houses import import_houses
from server.imports.readers import read_table
from server.imports.readings import import_readings
from server.imports.report import ImportReport, RowStatus

IMPORTERS = {"houses": import_houses, "readings": import_readings, "arrears": import_arrears}

__all__ = [
    "IMPORTERS", "ImportReport", "RowStatus", "arrears_by_house", "bill_rows", "export_arrears",
    "export_bills", "import_arrears", "import_houses", "import_readings", "read_table",
]
