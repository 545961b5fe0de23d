#!/usr/bin/python
# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: disable checks in TKE's node registration script."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registration_script
short_description: Disable OS and kernel checks in TKE's node registration script
version_added: 0.1.0
description:
  - TKE's registration script for registered (third-party) nodes runs a check function that
    calls C(check_os), C(check_kernel) and other checks. The OS and kernel checks reject systems
    the script does not know, although they do not matter once Flannel is the CNI.
  - This module disables the calls to the checks named in O(skip_checks) inside the function
    O(check_function) only. Calls of the same name anywhere else in the script are left as
    they are, and every other check still runs in the same order.
  - >-
    A line holding only the call (optionally followed by a failure handler such as
    C(|| exit 1)) is commented out and tagged C(# tke.flannel: disabled NAME). Elsewhere (joined
    with C(&&) or C(;), inside C(if)) the call is replaced by the C(:) builtin tagged the same
    way, so the disabled check counts as passed and the rest of the line still runs.
  - A second run recognises the tag and changes nothing. Calls already commented out by hand
    are reported in RV(already_disabled); a comment counts only when the commented text is
    itself a call (C(# check_os), C(#check_os || exit 1)), not prose that names the check.
  - A call used as the condition of a C(while) or C(until) loop is left alone and reported in
    RV(not_disabled) with a warning, as a check that always passes can make the loop run
    forever. The exceptions are C(until CHECK; do) and C(while ! CHECK; do), which wait for the
    check to pass; they are disabled, so the loop ends at once.
  - If O(path) is a symbolic link, the file it points to is patched (and backed up) and the link
    is kept.
  - A self-extracting script (an archive after a top-level C(exit) line) is handled; only the
    shell part before the archive is examined, and the archive is kept byte for byte.
  - A script with Windows (CRLF) line endings is refused without change; bash cannot run it
    either.
  - The patched script is checked with C(bash -n) before it is written; it is written
    atomically, after an optional backup.
  - The script may embed a join token. Messages name the file and the line concerned but show
    no script text (a C(bash -n) failure gives line numbers and the kind of error only). The
    C(text) of reported call sites holds only the shell list element with the call, and the
    value of every C(NAME=value) assignment and of options such as C(--token) in it is
    replaced by C(<redacted>). The diff (C(--diff)) shows only the changed lines with two lines
    of context, with the same values redacted, on changed and context lines alike.
author:
  - tke.flannel developers (@tke-flannel)
requirements:
  - bash on the managed host (for C(bash -n)).
extends_documentation_fragment:
  - tke.flannel.attributes
options:
  path:
    description:
      - Path of the registration script on the managed host.
    type: path
    required: true
    version_added: 0.1.0
  skip_checks:
    description:
      - Names of the check functions whose calls are disabled inside O(check_function).
    type: list
    elements: str
    default: [check_os, check_kernel]
    version_added: 0.1.0
  check_function:
    description:
      - Name of the function in the script that calls the checks.
    type: str
    default: check
    version_added: 0.1.0
  backup:
    description:
      - Keep a copy of the script, named with a timestamp, before changing it.
    type: bool
    default: true
    version_added: 0.1.0
notes:
  - Calls the module cannot disable safely, such as C($(check_os)), C(command check_os) or a
    C(while check_os; do) loop condition, are left alone and reported in RV(not_disabled) with a
    warning; change them by hand.
"""

EXAMPLES = r"""
- name: Disable the OS and kernel checks of the registration script
  tke.flannel.registration_script:
    path: /root/tke-register.sh

- name: Also skip the swap check, without a backup
  tke.flannel.registration_script:
    path: /root/tke-register.sh
    skip_checks: [check_os, check_kernel, check_swap]
    backup: false
  no_log: true  # the script embeds a join token
"""

RETURN = r"""
changed:
  description: Whether the script was (or, in check mode, would be) changed.
  returned: always
  type: bool
  sample: true
disabled:
  description: Call sites disabled by this run.
  returned: always
  type: list
  elements: dict
  contains:
    line:
      description: Line number in the script.
      type: int
    text:
      description:
        - The shell list element holding the call, as it was (the call with its arguments and
          a handler such as C(|| exit 1), without what is joined to it by C(;) or on other
          lines). The value of every C(NAME=value) assignment and of secret-looking options
          such as C(--token) is replaced by C(<redacted>).
      type: str
    check:
      description: Name of the check whose call was disabled.
      type: str
  sample: [{"line": 212, "text": "check_os || exit 1", "check": "check_os"}]
already_disabled:
  description:
    - Call sites found already disabled, by hand (C(by=hand)) or by an earlier run of this
      module (C(by=tke.flannel)).
  returned: always
  type: list
  elements: dict
  contains:
    line:
      description: Line number in the script.
      type: int
    text:
      description:
        - The disabled call as it is, with the comment sign of a commented-out call, redacted
          like RV(disabled[].text).
      type: str
    check:
      description: Name of the check.
      type: str
    by:
      description: C(hand) or C(tke.flannel).
      type: str
  sample: [{"line": 213, "text": "#check_kernel", "check": "check_kernel", "by": "hand"}]
not_disabled:
  description:
    - Calls of the checks in the check function that were left running, each with the reason
      (a C(while)/C(until) loop condition, a command substitution, a wrapper command such as
      C(command)). Each is also given as a warning.
  returned: always
  type: list
  elements: dict
  contains:
    line:
      description: Line number in the script.
      type: int
    text:
      description: The call's shell list element, redacted like RV(disabled[].text).
      type: str
    check:
      description: Name of the check.
      type: str
    reason:
      description: Why the call was not disabled and what to do about it.
      type: str
  sample:
    - line: 214
      text: while check_swap
      check: check_swap
      reason: >-
        condition of a while loop: a disabled check always passes, which can make the loop run
        forever; rewrite the loop by hand
not_found:
  description:
    - Checks of O(skip_checks) that the check function neither calls nor has disabled
      (calls in RV(not_disabled) count as found).
  returned: always
  type: list
  elements: str
  sample: []
backup_file:
  description: Path of the backup copy.
  returned: when a backup was made
  type: str
  sample: /root/tke-register.sh.2817.2026-05-09@07:35:25~
diff:
  description:
    - The changed lines with two lines of context, before and after, with the value of every
      C(NAME=value) assignment and secret-looking option replaced by C(<redacted>).
  returned: when run with --diff
  type: dict
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tke.flannel.plugins.module_utils.registration_script import (
    RegistrationScriptError,
    diff_excerpt,
    encode_script,
    prepare,
)


def _write(module: AnsibleModule, path: str, data: bytes) -> None:
    """Write ``data`` next to ``path`` and move it into place atomically."""
    fd, tmp = tempfile.mkstemp(prefix=".tke-flannel-", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "skip_checks": {
                "type": "list",
                "elements": "str",
                "default": ["check_os", "check_kernel"],
            },
            "check_function": {"type": "str", "default": "check"},
            "backup": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    # A symbolic link is followed: the target is patched and backed up, the link stays.
    path = os.path.realpath(module.params["path"])
    bash = module.get_bin_path("bash", required=True)

    def runner(argv, data):
        return module.run_command(
            list(argv), data=data or None, binary_data=True, environ_update={"LC_ALL": "C"}
        )

    try:
        patch = prepare(
            path, module.params["skip_checks"], module.params["check_function"], runner, bash
        )
    except RegistrationScriptError as exc:
        module.fail_json(msg=str(exc), changed=False)

    result = {
        "changed": patch.changed,
        "disabled": [site.as_dict() for site in patch.disabled],
        "already_disabled": [site.as_dict() for site in patch.already_disabled],
        "not_disabled": [site.as_dict() for site in patch.not_disabled],
        "not_found": patch.not_found,
    }
    for site in patch.not_disabled:
        module.warn(f"{path} line {site.line}: {site.check} was not disabled: {site.reason}")
    if patch.not_found:
        module.warn(
            f"{path}: function {module.params['check_function']} does not call "
            f"{', '.join(patch.not_found)}; nothing to disable for them"
        )
    if patch.changed and module._diff:
        before, after = diff_excerpt(patch.script_before, patch.script_after)
        result["diff"] = {
            "before": before,
            "after": after,
            "before_header": path,
            "after_header": f"{path} (checks disabled)",
        }
    if patch.changed and not module.check_mode:
        if module.params["backup"]:
            result["backup_file"] = module.backup_local(path)
        _write(module, path, encode_script(patch.after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
