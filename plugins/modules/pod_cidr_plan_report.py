#!/usr/bin/python
# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pod_cidr_plan_report
short_description: Write a Pod CIDR plan as JSON or as a self-contained HTML page
version_added: 0.1.0
description:
  - Writes the result of M(tke.flannel.pod_cidr_plan), failed or not, to a file an operator can
    keep or open in a browser.
  - The HTML page needs no network access and runs no scripts. It shows whether the plan holds,
    its problems, its capacity, a to-scale map of the cluster CIDR (node blocks in use, free node
    blocks, reserved ranges that reach into it, conflicts in red), the cluster CIDR among the
    VPC, Service and other reserved ranges, and the warnings. Conflicting ranges carry
    C(class="conflict") and C(data-cidr) attributes.
  - Contiguous node blocks are drawn and listed as runs, so a plan of thousands of nodes still
    gives a small page.
  - The JSON file holds the plan's fields with C(status) (C(ok) or C(failed)) and C(problems),
    without Ansible's own keys.
  - The file is written only when its content differs, atomically.
  - Also returns the plan as a text table, for the play's output.
author:
  - tke.flannel developers (@tke-flannel)
extends_documentation_fragment:
  - tke.flannel.attributes
options:
  plan:
    description:
      - The registered result of M(tke.flannel.pod_cidr_plan). A failed result (registered with
        C(failed_when) or taken from C(ansible_failed_result)) is reported as a failed plan.
    type: dict
    required: true
    version_added: 0.1.0
  dest:
    description:
      - The file to write. Its directory must exist, except in check mode.
    type: path
    required: true
    version_added: 0.1.0
  format:
    description:
      - C(html) for the page, C(json) for the plan document.
    type: str
    choices: [html, json]
    default: html
    version_added: 0.1.0
notes:
  - The page carries no time stamp, so writing the same plan again changes nothing.
seealso:
  - module: tke.flannel.pod_cidr_plan
"""

EXAMPLES = r"""
- name: Plan the Pod CIDR, keeping a failed plan for the report
  tke.flannel.pod_cidr_plan:
    cluster_cidr: 10.244.0.0/16
    vpc_cidrs: [10.0.0.0/16]
  register: plan
  failed_when: false

- name: Write the plan as an HTML page
  tke.flannel.pod_cidr_plan_report:
    plan: "{{ plan }}"
    dest: ./tke-flannel-plan/plan.html
    format: html
  register: report

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ report.table }}"
"""

RETURN = r"""
dest:
  description: The absolute path of the file.
  returned: success
  type: str
  sample: /home/operator/tke-flannel-plan/plan.html
status:
  description: C(ok) when the plan holds, C(failed) when it does not.
  returned: success
  type: str
  sample: failed
table:
  description: The plan as lines of a two-column text table.
  returned: success
  type: list
  elements: str
  sample: ["plan                 OK", "cluster_cidr         10.244.0.0/16"]
size:
  description: Size of the content in bytes.
  returned: success
  type: int
  sample: 13451
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.tke.flannel.plugins.module_utils.plan_report import (
    plan_document,
    render_html,
    render_json,
    render_table,
)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "plan": {"type": "dict", "required": True},
            "dest": {"type": "path", "required": True},
            "format": {"type": "str", "choices": ["html", "json"], "default": "html"},
        },
        supports_check_mode=True,
    )
    plan = module.params["plan"]
    dest = os.path.abspath(module.params["dest"])
    render = render_html if module.params["format"] == "html" else render_json
    content = to_bytes(render(plan))

    directory = os.path.dirname(dest)
    if not os.path.isdir(directory) and not module.check_mode:
        module.fail_json(
            msg=f"the directory of dest {dest} does not exist; create {directory} first",
            dest=dest,
        )
    if os.path.isdir(dest):
        module.fail_json(msg=f"dest {dest} is a directory; give the path of a file", dest=dest)

    before = _read(dest)
    changed = before != content
    result = {
        "changed": changed,
        "dest": dest,
        "status": plan_document(plan)["status"],
        "table": render_table(plan),
        "size": len(content),
    }
    if module._diff:
        result["diff"] = {
            "before_header": dest,
            "after_header": dest,
            "before": to_text(before) if before is not None else "",
            "after": to_text(content),
        }
    if changed and not module.check_mode:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tke-flannel-plan-")
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        module.atomic_move(temporary, dest)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
