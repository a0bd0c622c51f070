"""The platforms' input model channels are listed in env.channels (Azure ML's mount, Vertex AI's AIP_STORAGE_URI),
read where they are; a channel whose scheme's SDK the image lacks is a user error saying what to add."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mldock.errors import ChannelError, UserError
from mldock.runtime.channels import ChannelKind
from mldock.runtime.containers import ServingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.failure import Failure


def _model_kind(env: Environment) -> ChannelKind:
    """The templates' rule (mldock/templates/_common/predictor.py)."""
    names = {(c.kind, c.name) for c in env.channels}
    return ChannelKind.INPUT_MODEL if (ChannelKind.INPUT_MODEL, "model") in names else ChannelKind.OUTPUT_MODEL


def _mount(tmp_path: Path, *, named: bool) -> tuple[Path, Path]:
    mount = tmp_path / "var/azureml-app/azureml-models/mldock-model/1"
    folder = mount / "model" if named else mount
    folder.mkdir(parents=True)
    (folder / "model.json").write_text('{"centroids": {}}')
    return mount, folder


@pytest.mark.parametrize("named", [True, False], ids=["model-folder", "model-dir-itself"])
def test_azureml_model_dir_is_listed_as_the_input_model_channel(tmp_path: Path, named: bool) -> None:
    mount, folder = _mount(tmp_path, named=named)
    env = Environment.from_env({"AZUREML_MODEL_DIR": str(mount)}, base_dir=tmp_path / "ml")
    model = env.channel("model", ChannelKind.INPUT_MODEL)
    assert env.input_model_channels == (model,)
    assert (model.path, model.variable) == (folder, "AZUREML_MODEL_DIR")
    assert _model_kind(env) is ChannelKind.INPUT_MODEL
    before = sorted((p, p.stat().st_mtime_ns) for p in mount.rglob("*"))
    env.prepare(serving=True)
    reports = ServingContainer(env).download_inputs()
    assert [r.files for r in reports] == [1]
    assert sorted((p, p.stat().st_mtime_ns) for p in mount.rglob("*")) == before  # nothing written on the mount
    assert not (tmp_path / "ml" / "model").exists()
    assert "AZUREML_MODEL_DIR" not in str(env.to_environ())
    rebuilt = Environment.from_env({**env.to_environ(), "AZUREML_MODEL_DIR": str(mount)})
    assert rebuilt.channels == env.channels


def test_an_mldock_variable_wins_over_the_azureml_model_channel(tmp_path: Path) -> None:
    mount, _ = _mount(tmp_path, named=True)
    other = (tmp_path / "other").as_uri()
    environ = {"AZUREML_MODEL_DIR": str(mount), "MLDOCK_INPUT_MODEL_CHANNEL_MODEL": other}
    env = Environment.from_env(environ, base_dir=tmp_path / "ml")
    assert [str(c.uri) for c in env.input_model_channels] == [other]


def test_vertex_prediction_lists_aip_storage_uri_as_the_model_channel(tmp_path: Path) -> None:
    environ = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": "gs://bucket/job/model/", "AIP_HTTP_PORT": "8081"}
    env = Environment.from_env(environ, base_dir=tmp_path / "ml")
    (model,) = env.input_model_channels
    assert (model.name, model.variable, str(model.uri)) == ("model", "AIP_STORAGE_URI", "gs://bucket/job/model/")
    assert _model_kind(env) is ChannelKind.INPUT_MODEL


def test_a_gs_channel_without_the_gcs_sdk_says_what_to_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)  # as in an image without google-cloud-storage
    environ = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": "gs://bucket/job/model/", "AIP_HTTP_PORT": "8081"}
    env = Environment.from_env(environ, base_dir=tmp_path / "ml")
    with pytest.raises(ChannelError) as info:
        ServingContainer(env).download_inputs()
    message = str(info.value)
    assert message.startswith("gs://bucket/job/model/: gs:// channels need google-cloud-storage in the image")
    assert "add it to the project's requirements.txt, or keep 'vertex' in mldock.json platforms" in message
    assert "No module named" not in message
    failure = Failure.from_exception(info.value, "startup")
    assert isinstance(info.value, UserError)
    assert (failure.exit_code, failure.details) == (2, "")


@pytest.mark.parametrize(
    ("module", "uri", "package"),
    [("boto3", "s3://bucket/x", "boto3"), ("azure.storage.blob", "az://account/container/x", "azure-storage-blob")],
)
def test_every_cloud_scheme_names_its_package(
    monkeypatch: pytest.MonkeyPatch, module: str, uri: str, package: str
) -> None:
    from mldock.storage.registry import remote_for

    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ChannelError, match=rf"^{uri}: .* need {package} in the image \(no module {module}\)"):
        remote_for(uri)
