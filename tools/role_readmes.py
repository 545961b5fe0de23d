"""Write each role's README.md from its meta/argument_specs.yml.

    python3 tools/role_readmes.py          # write the READMEs
    python3 tools/role_readmes.py --check  # exit 1 if one is out of date

The argument specs are what Ansible validates a role's inputs against, so
the README made from them cannot drift from what the role accepts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _text(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _table(entry: dict) -> list[str]:
    """The variables of one entry point, as a markdown table."""
    lines = ["| variable | type | default | what it is |", "|---|---|---|---|"]
    for name, option in sorted(entry.get("options", {}).items()):
        kind = option.get("type", "str")
        if option.get("elements"):
            kind += f" of {option['elements']}"
        default = option.get("default", "")
        default_text = (
            f"`{yaml.safe_dump(default, default_flow_style=True).strip()}`"
            if "default" in option
            else ""
        )
        default_text = default_text.replace("\n...", "").replace("|", "\\|")
        description = _text(option.get("description")).replace("|", "\\|")
        lines.append(f"| `{name}` | {kind} | {default_text} | {description} |")
    return lines


def render(role: Path) -> str:
    """The README of ROLE, as markdown: the main entry point, then any other."""
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    main = spec["main"]
    lines = [
        f"# tke.flannel.{role.name}",
        "",
        _text(main.get("short_description")),
        "",
    ]
    for paragraph in main.get("description") or []:
        lines += [paragraph, ""]
    lines += [
        "Generated from `meta/argument_specs.yml` by `tools/role_readmes.py`;"
        " Ansible checks every input against that file before the role runs.",
        "",
        *_table(main),
        "",
        "Use it from a playbook of this collection (see the collection README), or:",
        "",
        "```yaml",
        f"- name: Run tke.flannel.{role.name}",
        "  hosts: localhost" if role.name != "registered_node" else "  hosts: registered_nodes",
        "  roles:",
        f"    - role: tke.flannel.{role.name}",
        "```",
        "",
    ]
    for entry in sorted(k for k in spec if k != "main"):
        lines += [
            f"## Entry point `{entry}`",
            "",
            f"`include_role` with `tasks_from: {entry}.yml`: "
            + _text(spec[entry].get("short_description")),
            "",
        ]
        for paragraph in spec[entry].get("description") or []:
            lines += [" ".join(str(paragraph).split()), ""]
        lines += [*_table(spec[entry]), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    opts = ap.parse_args()
    stale = []
    for role in sorted(p for p in (REPO / "roles").iterdir() if p.is_dir()):
        readme = role / "README.md"
        text = render(role)
        if opts.check:
            if not readme.exists() or readme.read_text() != text:
                stale.append(str(readme.relative_to(REPO)))
        else:
            readme.write_text(text)
    for path in stale:
        print(f"{path} is out of date: run python3 tools/role_readmes.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
