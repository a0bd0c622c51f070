"""What of the developer's environment reaches a task: the cloud SDKs' own variables, and named pass-throughs.

    forwarded_variables(os.environ, pass_env=["MY_TOKEN"])
    # {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "...", "HTTPS_PROXY": "...", "MY_TOKEN": "..."}
    is_sdk_variable("AWS_REGION")       # True: `-e AWS_REGION=x` is passed as is, without the MLDOCK_ prefix

The rule, as SageMaker local mode has it: a task gets the variables the cloud SDKs read when they are set on the
host, so the same test that passes with the process runner (which inherits the whole environment) passes with
the docker runner, against the real cloud or an emulator configured the production way:

* every `AWS_*`, `AZURE_*` and `GOOGLE_*` variable, and `GCLOUD_PROJECT`, `CLOUDSDK_CORE_PROJECT`,
  `STORAGE_EMULATOR_HOST` (the GCS SDK's endpoint);
* the proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, `ALL_PROXY`, in either case) and the CA bundles
  (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `SSL_CERT_DIR`, `CURL_CA_BUNDLE`);
* the names in a pass-through list (`pass_env` in mldock.json, `--pass-env NAME`, the plugin's
  `mldock_pass_env`); a name ending in `*` passes every variable starting with what precedes it.

Nothing else of the host passes (no `PATH`, `HOME`, ...), and `MLDOCK_*` variables never pass from the host:
a task's own settings come from the stage and the run. Variables that name files (credential files, CA
bundles) are mounted read-only into a container by `mldock.runners.mounts`. Values reach a run only when it
starts: they are never written into an image, and every report masks the secret ones (mldock.runtime.redact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mldock.contract import PREFIX
from mldock.errors import UserError

__all__ = [
    "PASS_ENV_PATTERN",
    "SDK_PREFIXES",
    "SDK_VARIABLES",
    "check_pass_env",
    "forwarded_variables",
    "is_sdk_variable",
]

SDK_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_")
"""Every variable starting with one of these is a cloud SDK's own (boto3/botocore, azure-*, google-*)."""

SDK_VARIABLES = frozenset(
    {
        "GCLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
        "STORAGE_EMULATOR_HOST",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
        *(name for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY") for name in (proxy, proxy.lower())),
    }
)
"""The other SDK settings: project names, the GCS emulator endpoint, proxies and CA bundles."""

PASS_ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*\*?$"
"""A pass-through entry: a variable name, or a name prefix followed by `*`."""

_PASS_ENV = re.compile(PASS_ENV_PATTERN)


def is_sdk_variable(name: str) -> bool:
    """True for a variable a cloud SDK reads (forwarded from the host; `-e NAME=...` keeps its name)."""
    return name in SDK_VARIABLES or name.startswith(SDK_PREFIXES)


def check_pass_env(names: Iterable[str], where: str) -> tuple[str, ...]:
    """The pass-through entries, checked: UserError naming `where` and the entry when one is unusable."""
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _PASS_ENV.fullmatch(name):
            raise UserError(
                f"{where}: {name!r} is not a variable name (letters, digits and '_', not starting with a digit; "
                "a trailing '*' passes every variable with that prefix)"
            )
        if name.startswith(PREFIX) or (name.endswith("*") and PREFIX.startswith(name[:-1])):
            raise UserError(
                f"{where}: {name!r} would pass {PREFIX}* variables from the host; a task's {PREFIX}* settings come "
                "from the stage (mldock.json) and the run (-e)"
            )
        checked.append(name)
    return tuple(checked)


def forwarded_variables(host_environ: Mapping[str, str], pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The variables of `host_environ` a task gets: the SDKs' own and those `pass_env` names (see the module)."""
    exact = {name for name in pass_env if not name.endswith("*")}
    prefixes = tuple(name[:-1] for name in pass_env if name.endswith("*"))
    return {
        name: value
        for name, value in host_environ.items()
        if not name.startswith(PREFIX)
        and (is_sdk_variable(name) or name in exact or (bool(prefixes) and name.startswith(prefixes)))
    }
