"""Run a module's main() in-process with given arguments, across ansible-core versions."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any] | None = None):
        """Hand ARGS to the next AnsibleModule, as Ansible does."""
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield


__all__ = ["patch_module_args"]
