"""The plugin's public names: explicit `__all__` everywhere, importing starts nothing and loads no SDK."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = [
    "pytest_mldock",
    "pytest_mldock.container",
    "pytest_mldock.emulator_fixtures",
    "pytest_mldock.fixtures",
    "pytest_mldock.naming",
    "pytest_mldock.options",
    "pytest_mldock.plugin",
    "pytest_mldock.report",
    "pytest_mldock.state",
    "pytest_mldock.storage",
]


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.__all__ names {public!r}, which it lacks"


def test_the_package_exports_the_fixture_types() -> None:
    import pytest_mldock

    expected = ["ContainerResult", "EmulatorConfig", "MldockContainer", "MldockStorage", "Settings"]
    assert pytest_mldock.__all__ == expected


def test_every_fixture_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    for fixture in (
        "mldock_stage",
        "mldock_project",
        "mldock_settings",
        "s3_emulator",
        "gcs_emulator",
        "azure_blob_emulator",
        "mldock_emulator_config",
        "mldock_emulator_network",
        "mldock_storage",
        "mldock_container",
    ):
        result.stdout.fnmatch_lines([f"{fixture}*"])


def test_loading_the_plugin_imports_no_sdk_and_starts_nothing() -> None:
    code = (
        "import sys, pytest_mldock.plugin;"
        "heavy = [m for m in ('boto3', 'google.cloud.storage', 'azure.storage.blob', 'docker', 'moto', 'emulators',"
        " 'mldock.runners') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
