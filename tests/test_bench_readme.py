"""bench/run_all.py turns the rows the benches print into the README's two generated tables, in place."""
import pytest

from bench.run_all import table_rows, write_readme

POLICIES_OUT = """ExitLens policy benchmark — numpy 2.3, 2 CPUs, load average 1.0
out of core: 1,000,000 × 12, 7 policies × 200 thresholds | 3.10 s | goal ≤ 5 s | met
in memory: 100,000 × 12, 7 policies × 200 thresholds | 0.310 s | goal ≤ 0.5 s | met"""
RECORD_OUT = """872 SST-2 dev sentences, batch 64
record minilm-ee-sst2 (cpu, fp32) | 410 sentences/s | goal — (reported) | —"""

README = """# x
<!-- scale:start -->
old scale
<!-- scale:end -->
middle
<!-- bench:start -->
old bench
<!-- bench:end -->
end
"""


def test_rows_go_to_their_own_table_and_the_rest_of_the_readme_stays(tmp_path):
    rows = table_rows("bench_policies.py", POLICIES_OUT) + table_rows("bench_record.py", RECORD_OUT)
    assert [r[1] for r in rows] == ["3.10 s", "0.310 s", "410 sentences/s"]
    readme = tmp_path / "README.md"
    readme.write_text(README)
    write_readme(readme, rows, ["Measured here."])
    text = readme.read_text()
    scale = text.split("<!-- scale:start -->")[1].split("<!-- scale:end -->")[0]
    bench = text.split("<!-- bench:start -->")[1].split("<!-- bench:end -->")[0]
    assert "1,000,000 × 12" in scale and "410 sentences/s" in scale and "in memory" not in scale
    assert "in memory: 100,000" in bench and "out of core" not in bench
    assert "old scale" not in text and "old bench" not in text
    assert text.startswith("# x\n") and "\nmiddle\n" in text and text.endswith("end\n")
    write_readme(readme, rows, ["Measured here."])                     # idempotent: run again, same file
    assert readme.read_text() == text


def test_a_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="scale:start"):
        write_readme(readme, table_rows("bench_record.py", RECORD_OUT), ["h"])


def test_a_partial_run_keeps_the_rows_of_the_benches_it_did_not_run(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    write_readme(readme, table_rows("bench_policies.py", POLICIES_OUT) + table_rows("bench_record.py", RECORD_OUT),
                 ["First run."])
    newer = POLICIES_OUT.replace("0.310 s", "0.290 s")
    write_readme(readme, table_rows("bench_policies.py", newer), ["Second run."], ran=["bench_policies.py"])
    text = readme.read_text()
    bench = text.split("<!-- bench:start -->")[1].split("<!-- bench:end -->")[0]
    scale = text.split("<!-- scale:start -->")[1].split("<!-- scale:end -->")[0]
    assert "0.290 s" in bench and "0.310 s" not in bench and "Second run." in bench
    assert "410 sentences/s" in scale and "bench_record.py are from an earlier run" in scale
    assert scale.count("1,000,000 × 12") == 1


def test_a_table_none_of_whose_benches_ran_stays_exactly_as_it_was(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    write_readme(readme, table_rows("bench_policies.py", POLICIES_OUT) + table_rows("bench_record.py", RECORD_OUT),
                 ["First run."])
    scale = lambda: readme.read_text().split("<!-- scale:start -->")[1].split("<!-- scale:end -->")[0]  # noqa: E731
    before = scale()
    app_out = "Playground page rerun\n  rerun, median of 15      117 ms   goal ≤ 300 ms  ✓"
    write_readme(readme, table_rows("bench_app.py", app_out), ["Second run."], ran=["bench_app.py"])
    assert scale() == before and "117 ms" in readme.read_text()
