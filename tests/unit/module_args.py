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


__all__ = ["ModuleExit", "patch_module_args", "run_main"]


class ModuleExit(Exception):
    """exit_json or fail_json was called: FAILED says which, RESULT is what it got,
    WARNED the messages passed to module.warn() before."""

    def __init__(self, failed: bool, result: dict[str, Any]) -> None:
        super().__init__(result)
        self.failed = failed
        self.result = result
        self.warned: list[str] = []


def run_main(main: Any, args: dict[str, Any]) -> ModuleExit:
    """Run a module's MAIN in-process with ARGS and return how it exited."""

    def exit_json(self, **result):
        raise ModuleExit(False, result)

    def fail_json(self, **result):
        raise ModuleExit(True, result)

    with (
        patch_module_args(args),
        mock.patch.object(basic.AnsibleModule, "exit_json", exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", fail_json),
        mock.patch.object(basic.AnsibleModule, "warn") as warn,
    ):
        try:
            main()
        except ModuleExit as outcome:
            outcome.warned = [call.args[0] for call in warn.call_args_list]
            return outcome
    raise AssertionError("the module returned without exit_json or fail_json")
