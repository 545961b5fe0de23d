"""Unit tests of the plan report (JSON, text table, HTML page) and its module."""

from __future__ import annotations

import json
import re
from typing import Any

from module_args import ModuleExit, run_main

from ansible_collections.tke.flannel.plugins.module_utils import plan_report
from ansible_collections.tke.flannel.plugins.module_utils.pod_cidr_plan import (
    PlanError,
    plan_pod_cidr,
)
from ansible_collections.tke.flannel.plugins.modules import pod_cidr_plan_report as module


def registered(**options: Any) -> dict[str, Any]:
    """What Ansible registers for tke.flannel.pod_cidr_plan with these options."""
    options.setdefault("cluster_cidr", "10.244.0.0/16")
    try:
        plan = plan_pod_cidr(**options)
    except PlanError as exc:
        return {
            "failed": True,
            "changed": False,
            "msg": str(exc),
            "plan_problems": exc.problems,
            "conflicts": exc.conflicts,
            "plan_warnings": exc.warnings,
            **exc.partial,
            "invocation": {"module_args": options},
        }
    plan["plan_warnings"] = plan.pop("warnings")
    return {"changed": False, **plan, "invocation": {"module_args": options}}


def conflicting() -> dict[str, Any]:
    return registered(
        vpc_cidrs=["10.0.0.0/8", "172.16.0.0/16"],
        service_cidr="10.244.128.0/20",
        existing_node_cidrs={"node-1": "10.244.0.0/24", "node-2": "10.244.1.0/24"},
    )


def clean() -> dict[str, Any]:
    return registered(
        vpc_cidrs=["10.0.0.0/16"],
        service_cidr="192.168.128.0/17",
        existing_node_cidrs={"node-1": "10.244.0.0/24", "node-2": "10.244.1.0/24"},
    )


def elements(page: str, klass: str) -> list[str]:
    """Opening tags whose class attribute lists ``klass``."""
    return re.findall(rf'<[a-z]+ [^>]*class="(?:[^"]* )?{klass}(?: [^"]*)?"[^>]*>', page)


# -- the document ----------------------------------------------------------------


def test_document_of_a_failed_plan_says_failed_with_its_problems():
    document = plan_report.plan_document(conflicting())
    assert (document["status"], len(document["problems"])) == ("failed", 2)


def test_document_of_a_good_plan_says_ok():
    assert plan_report.plan_document(clean())["status"] == "ok"


def test_plan_registered_with_failed_when_false_still_counts_as_failed():
    result = dict(conflicting(), failed=False, failed_when_result=False)
    assert plan_report.plan_document(result)["status"] == "failed"


def test_document_leaves_out_ansibles_own_keys():
    document = plan_report.plan_document(conflicting())
    assert not {"invocation", "changed", "failed", "msg"} & set(document)


def test_problems_come_from_the_message_when_the_list_is_missing():
    document = plan_report.plan_document({"failed": True, "msg": "one\ntwo"})
    assert document["problems"] == ["one", "two"]


def test_json_is_the_same_bytes_for_the_same_plan():
    assert plan_report.render_json(conflicting()) == plan_report.render_json(conflicting())


def test_json_holds_the_conflicts():
    document = json.loads(plan_report.render_json(conflicting()))
    assert [c["with"] for c in document["conflicts"]] == [
        "vpc_cidrs 10.0.0.0/8",
        "service_cidr 10.244.128.0/20",
    ]


# -- the table -------------------------------------------------------------------


def test_table_names_the_conflict():
    lines = plan_report.render_table(conflicting())
    assert any(line.startswith("CONFLICT") and "vpc_cidrs 10.0.0.0/8" in line for line in lines)


def test_table_of_a_good_plan_says_ok():
    assert plan_report.render_table(clean())[0].split() == ["plan", "OK"]


# -- the page --------------------------------------------------------------------


def test_page_marks_the_conflicting_vpc_range_on_the_map():
    page = plan_report.render_html(conflicting())
    assert any('data-cidr="10.0.0.0/8"' in tag for tag in elements(page, "conflict"))


def test_page_marks_the_conflicting_service_range_on_the_map():
    page = plan_report.render_html(conflicting())
    assert any('data-cidr="10.244.128.0/20"' in tag for tag in elements(page, "conflict"))


def test_page_does_not_mark_a_reserved_range_that_is_clear():
    page = plan_report.render_html(conflicting())
    assert not any('data-cidr="172.16.0.0/16"' in tag for tag in elements(page, "conflict"))


def test_page_of_a_good_plan_marks_no_conflict():
    assert elements(plan_report.render_html(clean()), "conflict") == []


def test_page_of_a_good_plan_says_it_is_valid():
    assert 'data-status="ok"' in plan_report.render_html(clean())


def test_page_draws_the_node_blocks_in_use():
    page = plan_report.render_html(clean())
    assert [tag for tag in elements(page, "used") if 'data-nodes="2"' in tag] != []


def test_page_names_the_nodes():
    assert "node-1, node-2" in plan_report.render_html(clean())


def test_page_escapes_node_names():
    page = plan_report.render_html(
        registered(existing_node_cidrs={'<script>alert("x")</script>': "10.244.0.0/24"})
    )
    assert ("<script>" not in page, "&lt;script&gt;alert(&quot;x&quot;)" in page) == (True, True)


def test_page_escapes_problem_text():
    page = plan_report.render_html({"failed": True, "msg": "bad <b>thing</b> & more"})
    assert "bad &lt;b&gt;thing&lt;/b&gt; &amp; more" in page


def test_page_marks_nodes_that_share_a_podcidr():
    page = plan_report.render_html(
        registered(existing_node_cidrs={"a": "10.244.3.0/24", "b": "10.244.3.0/24"})
    )
    assert any('data-cidr="10.244.3.0/24"' in tag for tag in elements(page, "overlap"))


def test_page_marks_a_node_outside_the_cluster_cidr():
    page = plan_report.render_html(registered(existing_node_cidrs={"far": "10.99.0.0/24"}))
    assert any('data-cidr="10.99.0.0/24"' in tag for tag in elements(page, "conflict"))


def test_page_without_a_cluster_cidr_says_there_is_no_map():
    page = plan_report.render_html(registered(cluster_cidr="not-a-cidr"))
    assert "No map: the cluster CIDR could not be read." in page


def test_page_needs_no_external_asset_and_runs_no_script():
    page = plan_report.render_html(conflicting())
    assert re.findall(r"<script|<link|<img|src=|@import|https?://(?!www\.w3\.org)", page) == []


def test_page_is_the_same_for_the_same_plan():
    assert plan_report.render_html(conflicting()) == plan_report.render_html(conflicting())


def five_thousand_nodes(step: int) -> dict[str, Any]:
    return registered(
        cluster_cidr="10.0.0.0/10",
        vpc_cidrs=["172.16.0.0/16"],
        existing_node_cidrs={
            f"idc-{i:04d}": f"10.{i * step // 256}.{i * step % 256}.0/24" for i in range(5000)
        },
    )


def test_contiguous_blocks_of_five_thousand_nodes_are_drawn_as_one_run():
    used = elements(plan_report.render_html(five_thousand_nodes(step=1)), "used")
    assert (len(used), 'data-nodes="5000"' in used[0]) == (1, True)


def test_scattered_blocks_of_five_thousand_nodes_are_shaded_in_stretches():
    page = plan_report.render_html(five_thousand_nodes(step=2))
    assert (len(elements(page, "used")), len(elements(page, "bin"))) == (0, plan_report.MAP_BINS)


def test_page_of_five_thousand_scattered_nodes_stays_small():
    assert len(plan_report.render_html(five_thousand_nodes(step=2)).encode()) < 150_000


def test_node_table_of_a_big_plan_lists_at_most_the_row_limit():
    page = plan_report.render_html(five_thousand_nodes(step=2))
    rows = re.search(r'<table id="node-table">(.*?)</table>', page).group(1).count("<tr>")
    assert rows == plan_report.MAX_TABLE_ROWS + 1  # the header row too


# -- the module ------------------------------------------------------------------


def run_module(args: dict[str, Any]) -> ModuleExit:
    return run_main(module.main, args)


def test_module_writes_the_page(tmp_path):
    dest = tmp_path / "plan.html"
    run_module({"plan": conflicting(), "dest": str(dest)})
    assert dest.read_text() == plan_report.render_html(conflicting())


def test_module_reports_a_change_when_it_writes(tmp_path):
    outcome = run_module({"plan": conflicting(), "dest": str(tmp_path / "plan.html")})
    assert outcome.result["changed"] is True


def test_module_writing_the_same_plan_again_changes_nothing(tmp_path):
    args = {"plan": conflicting(), "dest": str(tmp_path / "plan.json"), "format": "json"}
    run_module(args)
    assert run_module(args).result["changed"] is False


def test_module_in_check_mode_writes_nothing_but_reports_the_change(tmp_path):
    dest = tmp_path / "plan.html"
    outcome = run_module({"plan": clean(), "dest": str(dest), "_ansible_check_mode": True})
    assert (outcome.result["changed"], dest.exists()) == (True, False)


def test_module_in_diff_mode_shows_the_old_and_new_content(tmp_path):
    dest = tmp_path / "plan.json"
    dest.write_text("{}\n")
    outcome = run_module(
        {"plan": clean(), "dest": str(dest), "format": "json", "_ansible_diff": True}
    )
    diff = outcome.result["diff"]
    assert (diff["before"], diff["after"]) == ("{}\n", plan_report.render_json(clean()))


def test_module_returns_the_status_and_the_table(tmp_path):
    outcome = run_module({"plan": conflicting(), "dest": str(tmp_path / "plan.html")})
    assert (outcome.result["status"], outcome.result["table"]) == (
        "failed",
        plan_report.render_table(conflicting()),
    )


def test_module_fails_when_the_directory_is_missing(tmp_path):
    outcome = run_module({"plan": clean(), "dest": str(tmp_path / "missing" / "plan.html")})
    assert (outcome.failed, "does not exist" in outcome.result["msg"]) == (True, True)
