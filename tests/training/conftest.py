"""Make the helper modules of tests/training and tests/data importable by the tests here.

The suite runs with ``--import-mode=importlib``, which does not put test folders on ``sys.path``.
"""

import sys
from pathlib import Path

for folder in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "data"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
