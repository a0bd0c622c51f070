"""Packaging: the license, classifiers and dependencies pyproject.toml declares, the trimmed S3 emulator extra
(moto's server answers every S3 operation mldock uses without what `moto[server]` adds), shell completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]

# what moto[server] adds over moto[s3] + flask + flask-cors (module names), none of which moto's S3 server loads
DROPPED_MODULES = ("antlr4", "joserfc", "jsonpath_ng", "graphql", "cfnlint", "openapi_spec_validator", "pyparsing",
                   "aws_xray_sdk", "sympy", "networkx")


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_license_file_is_the_apache_2_license_the_metadata_declares() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text.splitlines()[1]
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["license"] == {"text": "Apache-2.0"}


def test_classifiers_name_the_pytest_framework_and_the_license() -> None:
    classifiers = PROJECT["classifiers"]
    assert "Framework :: Pytest" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "License :: OSI Approved :: Apache Software License" in classifiers


def test_pytest_is_a_dependency_because_the_plugin_is_registered_for_every_install() -> None:
    assert PROJECT["entry-points"]["pytest11"] == {"mldock": "pytest_mldock.plugin"}
    assert "pytest" in {_requirement_name(r) for r in PROJECT["dependencies"]}


def test_every_core_dependency_is_imported_by_the_packages() -> None:
    modules = {"waitress": "waitress", "docker": "docker", "click": "click", "rich": "rich",
               "jsonschema": "jsonschema", "pytest": "pytest"}
    declared = {_requirement_name(r) for r in PROJECT["dependencies"]}
    assert declared == set(modules), "a dependency was added or removed: say here which module uses it"
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for package in ("mldock", "pytest_mldock", "emulators")
        for path in (REPO / package).rglob("*.py")
    )
    for name, module in modules.items():
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE), f"nothing imports {name}"


def test_the_emulators_extra_is_moto_s3_plus_its_server_not_moto_server() -> None:
    extra = [r.replace(" ", "") for r in PROJECT["optional-dependencies"]["emulators"]]
    assert "moto[s3]==5.2.5" in extra
    assert not [r for r in extra if r.startswith("moto[server]")]
    assert {"flask", "flask-cors"} <= {_requirement_name(r) for r in extra}


_S3_ROUND = textwrap.dedent(
    """
    import json, sys, urllib.request
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = "http://127.0.0.1:%d" % server._server.port
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    done, B = [], "mldock-ops"
    with urllib.request.urlopen(url + "/moto-api/data.json") as answer:  # mldock's health probe
        assert answer.status == 200; done.append("moto-api data.json")
    s3.create_bucket(Bucket=B); done.append("create_bucket")
    s3.head_bucket(Bucket=B); done.append("head_bucket")
    s3.put_object(Bucket=B, Key="a/one.txt", Body=b"one"); done.append("put_object")
    assert s3.head_object(Bucket=B, Key="a/one.txt")["ContentLength"] == 3; done.append("head_object")
    assert s3.get_object(Bucket=B, Key="a/one.txt")["Body"].read() == b"one"; done.append("get_object")
    part = b"x" * (5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=B, Key="a/big.bin")["UploadId"]
    etags = [s3.upload_part(Bucket=B, Key="a/big.bin", UploadId=upload, PartNumber=n, Body=part)["ETag"]
             for n in (1, 2)]
    s3.complete_multipart_upload(Bucket=B, Key="a/big.bin", UploadId=upload, MultipartUpload={
        "Parts": [{"ETag": e, "PartNumber": n} for n, e in zip((1, 2), etags)]})
    aborted = s3.create_multipart_upload(Bucket=B, Key="a/gone.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket=B, Key="a/gone.bin", UploadId=aborted)
    done.append("multipart_upload")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="a/", PaginationConfig={"PageSize": 1})
    keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    assert keys == ["a/big.bin", "a/one.txt"], keys; done.append("list_objects_v2")
    s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys]}); done.append("delete_objects")
    s3.delete_bucket(Bucket=B); done.append("delete_bucket")
    request = urllib.request.Request(url + "/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200; done.append("moto-api reset")
    server.stop()
    print(json.dumps({"done": done, "modules": sorted(sys.modules)}))
    """
)


@pytest.mark.integration
def test_motos_s3_server_answers_every_operation_mldock_uses_without_the_server_extra() -> None:
    """One request per S3 operation of mldock.storage.s3 and mldock.emulators.s3, in a fresh interpreter; none
    of the modules `moto[server]` adds over the trimmed extra is loaded on the way."""
    pytest.importorskip("moto")
    pytest.importorskip("flask")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "-c", _S3_ROUND], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["done"] == [
        "moto-api data.json", "create_bucket", "head_bucket", "put_object", "head_object", "get_object",
        "multipart_upload", "list_objects_v2", "delete_objects", "delete_bucket", "moto-api reset",
    ]
    loaded = {name.partition(".")[0] for name in report["modules"]}
    assert not loaded & set(DROPPED_MODULES), f"moto's S3 server loaded {sorted(loaded & set(DROPPED_MODULES))}"


def test_the_cli_produces_a_bash_completion_script() -> None:
    env = {**os.environ, "_MLDOCK_COMPLETE": "bash_source"}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from mldock.cli.main import main; sys.exit(main([]))"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "_mldock_completion()" in result.stdout
    assert "complete -o nosort -F _mldock_completion mldock" in result.stdout


def test_completion_offers_the_commands() -> None:
    env = {**os.environ, "_MLDOCK_COMPLETE": "bash_complete", "COMP_WORDS": "mldock pu", "COMP_CWORD": "1"}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from mldock.cli.main import main; sys.exit(main([]))"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "plain,push" in result.stdout.splitlines()


def test_the_wheel_the_image_build_makes_carries_license_classifiers_and_pytest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built the way image builds build it (the venv's setuptools, no build isolation)."""
    import zipfile

    from mldock.image.wheelhouse import mldock_wheel

    monkeypatch.setenv("MLDOCK_CACHE_DIR", str(tmp_path))
    with zipfile.ZipFile(mldock_wheel()) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(re.search(r"\.dist-info/(licenses/)?LICENSE$", name) for name in names), names
    assert "Classifier: Framework :: Pytest" in metadata
    assert re.search(r"^Requires-Dist: pytest>=8\.0$", metadata, re.MULTILINE)
    assert re.search(r"^Requires-Dist: moto\[s3\]==5\.2\.5; extra == \"emulators\"$", metadata, re.MULTILINE)
