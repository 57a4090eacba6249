"""`probes` stands on its own: importing it pulls in neither transformers nor the interp package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_is_standalone() -> None:
    code = (
        "import sys, probes; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'interp', 'transformer_lens')); "
        "assert not bad, bad; "
        "missing = [n for n in probes.__all__ if not hasattr(probes, n)]; "
        "assert not missing, missing; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
