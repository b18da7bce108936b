# pytest configuration for the Python binding tests: run from the build tree
# by tests/python_tests.sh, which sets PYTHONPATH to bindings/python and .libs.
import os
import sys

import pytest


@pytest.fixture
def builddir():
    return os.environ.get("MIXSTAGE_BUILDDIR", os.getcwd())


@pytest.fixture
def srcdir():
    return os.environ.get("MIXSTAGE_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
