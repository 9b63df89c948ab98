import io

from webapp.csv_export import SafeWriter


def test_formula_cells_are_neutralised_and_numbers_kept():
    out = io.StringIO()
    SafeWriter(out).writerow(['=HYPERLINK("http://x")', "+cmd", "@SUM(A1)", "-1.5", "psoriasis", 3, "-x"])
    assert out.getvalue().strip() == '"\'=HYPERLINK(""http://x"")",\'+cmd,\'@SUM(A1),-1.5,psoriasis,3,\'-x'
