"""Shared pytest fixtures."""
import pytest

from testing_utils import REPO, run_tool


@pytest.fixture
def tools_runner(tmp_path):
    def run(*args, **kwargs):
        return run_tool(list(args), cwd=REPO, **kwargs)
    return run
