# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check and diff mode attributes the collection's modules share."""

from __future__ import annotations


class ModuleDocFragment:
    """Attributes of a module that writes a file: check mode and diff both supported."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode), when
        in diff mode.
    support: full
"""

    # A module that only reads: check mode runs it as usual, nothing to diff.
    INFO_MODULE = r"""
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It changes nothing, so it runs as usual in check mode.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode), when
        in diff mode.
    support: none
"""
