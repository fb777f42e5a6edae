"""The README's Python snippet runs as written and prints the THEORY.md reference value."""
import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_snippet_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has a python example"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(blocks[-1], "README.md", "exec"), {})
    first = buf.getvalue().splitlines()[0]
    # THEORY.md: f* = 0.0053030275 for (K, n, d, λ's) = (4, 3, 6, 1e-3, 1e-3, 1e-3).
    assert float(first) == pytest.approx(0.0053030275, abs=5e-11)


def test_readme_has_exactly_the_two_setup_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert len(bash) == 2
    test_cmd = bash[1].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_cmd in ci
