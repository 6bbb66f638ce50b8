"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection)."""

from mss_audit.api.export import csv_cell


def test_cells_that_spreadsheets_would_run_as_formulas_are_defused() -> None:
    assert csv_cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    for start in ("+1", "-1", "@SUM(A1)", "\tx"):
        assert csv_cell(start) == "'" + start
    assert csv_cell("plain") == "plain"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell({"a": 1}) == '{"a":1}'
