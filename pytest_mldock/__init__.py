"""mldock's pytest plugin: test a container project's lifecycle against emulated or real cloud storage.

    def test_trains(mldock_storage, mldock_container):
        mldock_storage.input("train", {"data.csv": b"x,y\\n1,2\\n"}, scheme="s3")
        mldock_container("train").assert_succeeded()

The plugin registers itself through the `pytest11` entry point (`pytest_mldock.plugin`); the names below are
the types its fixtures return, for annotations. Importing them starts nothing and imports no cloud SDK.
"""

from __future__ import annotations

from pytest_mldock.container import ContainerResult, MldockContainer
from pytest_mldock.emulator_fixtures import EmulatorConfig
from pytest_mldock.options import Settings
from pytest_mldock.storage import MldockStorage

__all__ = ["ContainerResult", "EmulatorConfig", "MldockContainer", "MldockStorage", "Settings"]
