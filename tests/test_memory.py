"""What a `kb` process holds before it loads a record: libraries it never calls cost memory
in every process, bulk workers included."""

import subprocess
import sys


def test_a_kb_process_imports_neither_pandas_nor_boto3_and_pandas_still_imports_after():
    # pandas (through sqlite-utils) and boto3 (through requests-cache) were 80 MB of a load's peak.
    script = ("import sys, kb.cli, kb.ingest; print(sorted({'pandas', 'boto3'} & set(sys.modules)));"
              "import pandas, sqlite_utils; print(pandas.DataFrame({'a': [1]}).shape)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "(1, 1)"]
