"""Options, ini keys, project discovery and the `mldock` marker (in-process pytester runs; nothing starts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHOW_SETTINGS = """
def test_show(mldock_settings):
    print("SETTINGS", mldock_settings.stage, mldock_settings.runner, mldock_settings.emulators,
          mldock_settings.keep, mldock_settings.project)
"""


def test_help_lists_the_mldock_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "mldock: test ML containers against emulated or real cloud storage:",
            "*--mldock-stage=STAGE*",
            "*--mldock-runner=process|docker*",
            "*--mldock-project=DIR*",
            "*--mldock-emulators=process|container*",
            "*--mldock-keep*",
            "*mldock_stage (string)*",
            "*mldock_keep (string)*",
        ]
    )


def test_defaults(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*SETTINGS test process process False {sample_project}"])


def test_ini_keys_are_read_and_options_win_over_them(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makeini(
        "[pytest]\nmldock_stage = prod\nmldock_runner = docker\nmldock_emulators = container\nmldock_keep = true\n"
    )
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    from_ini = pytester.runpytest("-s")
    from_ini.assert_outcomes(passed=1)
    from_ini.stdout.fnmatch_lines([f"*SETTINGS prod docker container True {sample_project}"])
    overridden = pytester.runpytest(
        "-s", "--mldock-stage=test", "--mldock-runner=process", "--mldock-emulators=process"
    )
    overridden.stdout.fnmatch_lines([f"*SETTINGS test process process True {sample_project}"])


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        pytest.param(
            ["--mldock-runner=podman"],
            "",
            "*--mldock-runner: 'podman' is not allowed; choose one of: process, docker*",
            id="runner-option",
        ),
        pytest.param(
            [], "mldock_runner = k8s", "*ini mldock_runner: 'k8s' is not allowed; choose one of: process, docker*",
            id="runner-ini",
        ),
        pytest.param(
            ["--mldock-emulators=vm"],
            "",
            "*--mldock-emulators: 'vm' is not allowed; choose one of: process, container*",
            id="emulators-option",
        ),
        pytest.param(
            [], "mldock_keep = maybe", "*ini mldock_keep: 'maybe' is not allowed; choose one of: true, false*",
            id="keep-ini",
        ),
        pytest.param(["--mldock-stage=Prod!"], "", "*'Prod!' is not a stage name*", id="stage-malformed"),
        pytest.param(
            ["--mldock-stage=staging"], "", "*has no stage 'staging'; allowed: dev, prod, test*", id="stage-unknown"
        ),
        pytest.param(["--mldock-project=nowhere"], "", "*nowhere/mldock.json: not found*", id="project-missing"),
    ],
)
def test_bad_values_are_usage_errors(
    pytester: pytest.Pytester, sample_project: Path, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_broken_mldock_json_is_a_usage_error_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", mldock=json.dumps({"name": "x", "stages": {"test": {"environment": {"A": []}}}}))
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mldock.json: 1 problem(s):", "*stages.test.environment.A: expected string*"])


def test_project_option_names_another_folder(pytester: pytest.Pytester) -> None:
    project = pytester.mkdir("container")
    (project / "mldock.json").write_text(json.dumps({"name": "other", "stages": {"qa": {}}}))
    pytester.makepyfile(
        test_project="""
        def test_project(mldock_project, mldock_stage):
            assert mldock_project.name == "other"
            assert mldock_stage.name == "qa"
        """
    )
    pytester.runpytest("--mldock-project=container", "--mldock-stage=qa").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nmldock_project = container\nmldock_stage = qa\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_without_a_project_only_tests_asking_for_it_fail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        def test_unrelated():
            pass

        def test_needs_project(mldock_project):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*mldock: no mldock.json at the rootdir; pass --mldock-project DIR*"])


def test_stage_fixture(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(
        test_stage="""
        def test_stage(mldock_stage):
            print("STAGE", mldock_stage.name, mldock_stage.production, dict(mldock_stage.hyperparameters),
                  mldock_stage.environment.get("MLDOCK_GREETING"))
        """
    )
    pytester.runpytest("-s").stdout.fnmatch_lines(["*STAGE test False {'epochs': 3} hello"])
    pytester.runpytest("-s", "--mldock-stage=prod").stdout.fnmatch_lines(["*STAGE prod True {'epochs': 5} None"])


MARKED = """
import pytest

@pytest.mark.mldock(stage="prod")
def test_prod_only():
    pass

@pytest.mark.mldock(stage=["test", "dev"])
def test_test_or_dev():
    pass

@pytest.mark.mldock(stage="prod")
class TestClassMarkedProd:
    @pytest.mark.mldock(stage="test")
    def test_closest_wins(self):
        pass

    def test_inherits_class_marker(self):
        pass

@pytest.mark.mldock(runner="docker")
def test_runner_override(request, mldock_container):
    print("RUNNER", mldock_container.runner_name)

def test_runner_default(mldock_container):
    print("RUNNER", mldock_container.runner_name)
"""


def test_marker_skips_other_stages_and_closest_wins(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(test_marked=MARKED)
    under_test = pytester.runpytest("-rs", "-s", "-p", "no:randomly")
    under_test.assert_outcomes(passed=4, skipped=2)
    under_test.stdout.fnmatch_lines(
        [
            "*RUNNER docker",
            "*RUNNER process",
            "SKIPPED*test_marked.py:3: mldock: for stage prod; this run is --mldock-stage=test",
        ],
        consecutive=False,
    )
    under_prod = pytester.runpytest("-rs", "--mldock-stage=prod", "-k", "not runner")
    under_prod.assert_outcomes(passed=2, skipped=2)
    under_prod.stdout.fnmatch_lines(["SKIPPED*mldock: for stage test, dev; this run is --mldock-stage=prod"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        pytest.param('runner="kubernetes"', "*mldock(runner='kubernetes'); allowed: process, docker*", id="runner"),
        pytest.param('stages="prod"', "*unknown argument(s) stages; allowed: stage, runner*", id="unknown-kwarg"),
        pytest.param('"prod"', "*keyword arguments only*", id="positional"),
        pytest.param("stage=3", "*mldock(stage=3) must be a stage name or a list of stage names*", id="stage-type"),
    ],
)
def test_bad_markers_are_usage_errors(
    pytester: pytest.Pytester, sample_project: Path, marker: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.mldock({marker})
        def test_it():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.mldock(stage=None, runner=None, pass_env=None, resources=None)*closest marker wins*"]
    )


def test_pass_env_comes_from_ini_option_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmldock_pass_env =\n    FROM_INI\n    TEAM_*\n")
    pytester.makepyfile(
        """
        import pytest
        from pytest_mldock.options import for_item

        @pytest.mark.mldock(pass_env=["FROM_MARKER"])
        def test_settings(request, mldock_settings):
            assert mldock_settings.pass_env == ("FROM_INI", "TEAM_*", "FROM_OPTION")
            assert for_item(mldock_settings, request.node).pass_env[-1] == "FROM_MARKER"
        """
    )
    pytester.runpytest("--mldock-pass-env", "FROM_OPTION").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mldock-pass-env", "MLDOCK_STAGE"], "*'MLDOCK_STAGE' would pass MLDOCK_* variables*"),
        (["--mldock-pass-env", "A-B"], "*'A-B' is not a variable name*"),
    ],
    ids=["mldock-variable", "bad-name"],
)
def test_a_bad_pass_env_is_a_usage_error(pytester: pytest.Pytester, args: list[str], fragment: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    result.stderr.fnmatch_lines([f"*--mldock-pass-env / mldock_pass_env: {fragment}"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_resources_come_from_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest
        from pytest_mldock.options import marker_settings

        @pytest.mark.mldock(resources={"shm_size": "1g", "gpus": "all"})
        def test_marked(request):
            assert marker_settings(request.node).resources == {"shm_size": "1g", "gpus": "all"}
        """,
        test_bad="""
        import pytest

        @pytest.mark.mldock(resources={"gpus": "lots"})
        def test_bad():
            pass
        """,
    )
    pytester.runpytest("test_marked.py").assert_outcomes(passed=1)
    bad = pytester.runpytest("test_bad.py")
    bad.stderr.fnmatch_lines(["*@pytest.mark.mldock(resources.gpus: 'lots' is not a GPU request*"])
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
