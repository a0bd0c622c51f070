"""Hypothesis profiles for every test session: HYPOTHESIS_PROFILE picks one (default: "default").

    HYPOTHESIS_PROFILE=deep .venv/bin/pytest tests/unit/storage/test_storage_uri.py -q -n 0

- "default": hypothesis's usual 100 examples per property, no deadline (shared 2-core machines are noisy).
- "deep": 20,000 examples per property, the figure the issue tracker's hostile-input review used.
A property test that sets `max_examples` itself keeps its own count; leave it to the profile so that
"deep" reaches it too.

This module defines no fixture and nothing for `from conftest import ...` (the helpers imported that way live
in tests/cli/conftest.py and tests/integration/engine/conftest.py, which pytest imports after this one).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("deep", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
