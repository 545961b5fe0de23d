"""Make this checkout importable as the collection ``tke.flannel``.

Modules import their helpers as ``ansible_collections.tke.flannel...``, which
only resolves when the collection sits at ``ansible_collections/tke/flannel``
on ``sys.path``. A checkout usually doesn't, so a temporary directory with
that layout, linked to the repository root, is put first on ``sys.path``.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _collections_root() -> Path:
    """Return a directory holding ansible_collections/tke/flannel -> REPO_ROOT."""
    if REPO_ROOT.parent.name == "tke" and REPO_ROOT.parent.parent.name == "ansible_collections":
        return REPO_ROOT.parents[2]
    root = Path(tempfile.mkdtemp(prefix="tke-flannel-collections-"))
    namespace = root / "ansible_collections" / "tke"
    namespace.mkdir(parents=True)
    (namespace / "flannel").symlink_to(REPO_ROOT, target_is_directory=True)
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


COLLECTIONS_ROOT = str(_collections_root())
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
