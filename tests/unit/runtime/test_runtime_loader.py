"""Discovery of the user's code: targets, mldock.json keys, assets.py container classes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mldock.errors import AssetsError, ConfigError
from mldock.runtime.containers import ServingContainer, TrainingContainer
from mldock.runtime.loader import (
    Target,
    add_to_sys_path,
    check_target,
    import_target,
    load_container_class,
    resolve_target,
)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project folder on sys.path; user modules it imports are forgotten afterwards."""
    before = set(sys.modules)
    path = list(sys.path)
    add_to_sys_path(tmp_path)
    yield tmp_path
    sys.path[:] = path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_target_precedence_variable_then_mldock_json_then_default(project: Path) -> None:
    assert str(resolve_target("train", {}, project)) == "trainer:train"
    assert str(resolve_target("serve", {}, project)) == "predictor:Predictor"
    (project / "mldock.json").write_text('{"train": "pkg.fit:main", "name": "x", "stages": {}}')
    assert str(resolve_target("train", {}, project)) == "pkg.fit:main"
    assert str(resolve_target("train", {"MLDOCK_TRAIN": "other:run"}, project)) == "other:run"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param("{", ConfigError, id="invalid-json"),
        pytest.param("[]", ConfigError, id="not-object"),
        pytest.param('{"train": 3}', ConfigError, id="not-string"),
        pytest.param('{"train": "no-colon"}', AssetsError, id="bad-format"),
    ],
)
def test_bad_mldock_json_names_the_file(project: Path, content: str, error: type[Exception]) -> None:
    (project / "mldock.json").write_text(content)
    with pytest.raises(error, match=r"mldock\.json"):
        resolve_target("train", {}, project)


@pytest.mark.parametrize(
    "value",
    [pytest.param("x", id="no-colon"), pytest.param("a:b:c", id="two-colons"), pytest.param("1a:b", id="digit")],
)
def test_bad_targets_name_their_source(value: str) -> None:
    with pytest.raises(AssetsError, match="MLDOCK_TRAIN"):
        Target.parse(value, "MLDOCK_TRAIN")


def test_import_target_finds_functions_and_reports_missing_ones(project: Path) -> None:
    (project / "trainer_mod.py").write_text("def train(env):\n    return 1\nVALUE = 3\n")
    assert import_target(Target.parse("trainer_mod:train", "T"))(None) == 1
    with pytest.raises(AssetsError, match="has no attribute 'missing'"):
        import_target(Target.parse("trainer_mod:missing", "T"))
    with pytest.raises(AssetsError, match="not callable"):
        import_target(Target.parse("trainer_mod:VALUE", "T"))
    with pytest.raises(AssetsError, match="not found"):
        import_target(Target.parse("absent_module_xyz:train", "T"))


def test_a_missing_dependency_inside_the_module_propagates(project: Path) -> None:
    (project / "needs_dep.py").write_text("import not_installed_dep_xyz\n")
    with pytest.raises(ModuleNotFoundError, match="not_installed_dep_xyz"):
        import_target(Target.parse("needs_dep:train", "T"))


def test_check_target_does_not_execute_the_module(project: Path) -> None:
    (project / "side_effect.py").write_text("raise SystemExit('executed')\n")
    check_target(Target.parse("side_effect:train", "T"))
    with pytest.raises(AssetsError, match="'nowhere_xyz'"):
        check_target(Target.parse("nowhere_xyz:train", "T"))


def test_no_assets_file_gives_the_base_class(project: Path) -> None:
    assert load_container_class("train", project, TrainingContainer, {}) is TrainingContainer


_ASSETS = """
from mldock import TrainingContainer, ServingContainer

class Training(TrainingContainer):
    pass

class Serving(ServingContainer):
    pass
"""


def test_the_single_subclass_is_used(project: Path) -> None:
    (project / "assets.py").write_text(_ASSETS)
    assert load_container_class("train", project, TrainingContainer, {}).__name__ == "Training"
    assert load_container_class("serve", project, ServingContainer, {}).__name__ == "Serving"


def test_the_single_leaf_of_a_hierarchy_is_used(project: Path) -> None:
    (project / "assets.py").write_text(_ASSETS + "\nclass Special(Training):\n    pass\n")
    assert load_container_class("train", project, TrainingContainer, {}).__name__ == "Special"


def test_several_subclasses_need_a_choice(project: Path) -> None:
    (project / "assets.py").write_text(_ASSETS + "\nclass Other(TrainingContainer):\n    pass\n")
    with pytest.raises(AssetsError, match="keep one, or set MLDOCK_TRAINING_CONTAINER"):
        load_container_class("train", project, TrainingContainer, {})
    chosen = load_container_class("train", project, TrainingContainer, {"MLDOCK_TRAINING_CONTAINER": "Other"})
    assert chosen.__name__ == "Other"
    with pytest.raises(AssetsError, match="no TrainingContainer subclass named 'Serving'"):
        load_container_class("train", project, TrainingContainer, {"MLDOCK_TRAINING_CONTAINER": "Serving"})


def test_a_failing_assets_file_is_an_assets_error(project: Path) -> None:
    (project / "assets.py").write_text("raise ValueError('broken assets')\n")
    with pytest.raises(AssetsError, match="ValueError: broken assets"):
        load_container_class("train", project, TrainingContainer, {})
