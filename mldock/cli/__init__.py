"""The `mldock` command line: init, build, run, serve, predict, emulators, base-image.

    $ mldock init my-project --template gcp
    $ mldock run train --stage dev --project my-project

`mldock.cli.main:main` is the console script. Every command module defines one click command or group;
nothing runs at import.
"""

from __future__ import annotations

__all__: list[str] = []
