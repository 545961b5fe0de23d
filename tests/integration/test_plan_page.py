"""The plan page in a real browser, and playbooks/plan.yml against the lab.

The page is opened in headless Chromium (Debian's ``chromium``, installed by
tests/lab/setup-host.sh): the DOM Chromium builds must hold the conflict
marks, and a screenshot must show the page, conflict red included.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from .lab import REPO, playbook

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (tests/lab/setup-host.sh installs Debian's chromium)",
)
# Brings the lab up when it is not.
needs_lab = pytest.mark.usefixtures("lab_is_up")

#: The colour the page draws conflicts in (#d0021b).
CONFLICT_RED = (0xD0, 0x02, 0x1B)


def _collections_root() -> Path:
    """build/collections with ansible_collections/tke/flannel linked to this checkout."""
    link = REPO / "build" / "collections" / "ansible_collections" / "tke" / "flannel"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("../../../..", target_is_directory=True)
    return REPO / "build" / "collections"


def render_conflicting_page() -> str:
    """The page of a plan whose cluster CIDR lies in the VPC, via module_utils."""
    if str(_collections_root()) not in sys.path:
        sys.path.insert(0, str(_collections_root()))
    from ansible_collections.tke.flannel.plugins.module_utils.plan_report import render_html
    from ansible_collections.tke.flannel.plugins.module_utils.pod_cidr_plan import (
        PlanError,
        plan_pod_cidr,
    )

    with pytest.raises(PlanError) as caught:
        plan_pod_cidr(
            cluster_cidr="10.244.0.0/16",
            vpc_cidrs=["10.0.0.0/8"],
            service_cidr="192.168.128.0/17",
            existing_node_cidrs={"idc-node-1": "10.244.0.0/24", "idc-node-2": "10.244.1.0/24"},
        )
    exc = caught.value
    return render_html(
        {
            "failed": True,
            "msg": str(exc),
            "plan_problems": exc.problems,
            "conflicts": exc.conflicts,
            "plan_warnings": exc.warnings,
            **exc.partial,
        }
    )


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def dump_dom(tmp_path: Path, page: Path) -> str:
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def screenshot(tmp_path: Path, page: Path) -> Path:
    png = tmp_path / "page.png"
    proc = chromium(tmp_path, "--window-size=1200,900", f"--screenshot={png}", page.as_uri())
    assert png.exists(), proc.stderr
    return png


def png_pixels(path: Path) -> tuple[int, list[bytes], int]:
    """Width, rows and bytes per pixel of an 8-bit RGB(A) PNG, read with the stdlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, interlace = header[:4] + header[6:]
    assert (depth, colour in (2, 6), interlace) == (8, True, 0)
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[x - bpp] if x >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, [bytes(row) for row in rows], bpp


def colour_census(path: Path) -> tuple[int, int]:
    """How many distinct colours, and how many pixels of the conflict red, the image has."""
    width, rows, bpp = png_pixels(path)
    colours, red = set(), 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            pixel = tuple(row[x : x + 3])
            colours.add(pixel)
            red += pixel == CONFLICT_RED
    return len(colours), red


@needs_chromium
def test_chromium_renders_the_conflict_marks_of_a_conflicting_plan(tmp_path):
    page = tmp_path / "plan.html"
    page.write_text(render_conflicting_page())
    dom = dump_dom(tmp_path, page)
    assert 'class="conflict reserved" data-cidr="10.0.0.0/8"' in dom


@needs_chromium
def test_chromium_shows_the_page_with_the_conflict_in_red(tmp_path):
    page = tmp_path / "plan.html"
    page.write_text(render_conflicting_page())
    colours, red = colour_census(screenshot(tmp_path, page))
    # A blank page has one colour; text antialiasing alone gives dozens. The VPC
    # bar across the whole map is hundreds of red pixels wide and 18 high.
    assert (colours > 20, red > 5000) == (True, True)


@needs_lab
def test_plan_playbook_writes_a_conflicting_plan_and_then_fails(tmp_path):
    run = playbook(
        "plan.yml",
        extra_vars={
            "tke_flannel_vpc_cidrs": ["10.0.0.0/8"],
            "tke_flannel_plan_output_dir": str(tmp_path / "out"),
        },
    )
    document = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert (run.rc != 0, document["status"], [c["with"] for c in document["conflicts"]]) == (
        True,
        "failed",
        ["vpc_cidrs 10.0.0.0/8"],
    ), run.out
    assert "overlaps vpc_cidrs 10.0.0.0/8" in run.out.split("Stop if the plan is wrong")[-1]


@needs_lab
def test_plan_playbook_changes_only_its_own_files(tmp_path):
    run = playbook("plan.yml", extra_vars={"tke_flannel_plan_output_dir": str(tmp_path / "out")})
    assert set(run.changed_tasks()) <= {
        "Create the directory for the plan files",
        "Write the plan as JSON",
        "Write the plan as an HTML page with the address-space map",
    }, run.out


def test_plan_playbook_only_reads_the_cluster():
    # Limitation: the API server's audit log can't tell this playbook's requests
    # from those of another run with the same credentials at the same time, so
    # the read-only promise is checked on the playbook itself.
    tasks = yaml.safe_load((REPO / "playbooks" / "plan.yml").read_text())[0]["tasks"]
    cluster_modules = {key for task in tasks for key in task if key.startswith("kubernetes.core.")}
    assert cluster_modules == {"kubernetes.core.k8s_info"}


@needs_lab
@needs_chromium
def test_page_written_by_the_plan_playbook_shows_the_conflict_in_chromium(tmp_path):
    playbook(
        "plan.yml",
        extra_vars={
            "tke_flannel_vpc_cidrs": ["10.0.0.0/8"],
            "tke_flannel_plan_output_dir": str(tmp_path / "out"),
        },
    )
    dom = dump_dom(tmp_path, tmp_path / "out" / "plan.html")
    assert 'class="conflict reserved" data-cidr="10.0.0.0/8"' in dom


@needs_lab
def test_plan_playbook_with_a_good_plan_passes_and_a_rerun_changes_nothing(tmp_path):
    extra = {"tke_flannel_plan_output_dir": str(tmp_path / "out")}
    first = playbook("plan.yml", extra_vars=extra)
    second = playbook("plan.yml", extra_vars=extra)
    assert (first.rc, second.rc, second.changed) == (0, 0, 0), first.out + second.out


@needs_lab
def test_plan_playbook_puts_a_relative_output_dir_under_the_working_directory(tmp_path):
    env = {**os.environ, "PWD": str(tmp_path), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    proc = subprocess.run(
        ["ansible-playbook", str(REPO / "playbooks" / "plan.yml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (tmp_path / "tke-flannel-plan" / "plan.html").exists(), proc.stdout + proc.stderr
