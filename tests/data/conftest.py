"""Make the helper modules of tests/data (fixtures, gif_frames, http_server) importable by the
tests here, and give them a local HTTP file server.

The suite runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from http_server import FileServer, serving  # noqa: E402  (needs the path above)


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A file server on 127.0.0.1 (see http_server.py), running for the test."""
    with serving() as httpd:
        yield httpd
