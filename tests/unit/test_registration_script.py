"""Tests for tke.flannel.registration_script and the logic behind it.

Every shape test writes a small script whose checks log their name, patches
it, runs the result with bash and compares which checks ran, in which order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.tke.flannel.plugins.module_utils import registration_script as rs
from ansible_collections.tke.flannel.plugins.modules import registration_script as module

FIXTURE = Path(__file__).parent / "fixtures" / "tke-register.sh"
SKIP = ["check_os", "check_kernel"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the tests run bash")

# check_os and check_kernel fail, as they do on an OS the real script does not know.
PRELUDE = """\
#!/bin/bash
check_os() { echo ran:check_os >>"$LOG"; return 1; }
check_kernel() { echo ran:check_kernel >>"$LOG"; return 1; }
check_mem() { echo ran:check_mem >>"$LOG"; }
check_cpu() { echo ran:check_cpu >>"$LOG"; }
check_swap() { echo ran:check_swap >>"$LOG"; }
"""
EPILOGUE = """\
check
echo ran:end >>"$LOG"
"""


def run_script(path: Path, tmp_path: Path, *args: str, env: dict | None = None):
    """Run ``path`` with bash; return (exit status, lines written to $LOG)."""
    log = tmp_path / "run.log"
    log.unlink(missing_ok=True)
    log.touch()
    environ = {"PATH": os.environ["PATH"], "LOG": str(log), **(env or {})}
    proc = subprocess.run(
        ["bash", str(path), *args], env=environ, capture_output=True, check=False, timeout=30
    )
    return proc.returncode, log.read_text().split()


def patch_text(source: str, skip=tuple(SKIP), function="check") -> rs.Patch:
    """Plan the patch and insist that bash accepts the result."""
    patch = rs.plan_patch(source, skip, function)
    assert rs.syntax_error(patch.after, rs.subprocess_runner) is None, patch.after
    return patch


SHAPES = {
    "alone_on_a_line": (
        "check() {\n    check_os\n    check_kernel\n    check_mem\n}\n",
        ["check_mem"],
    ),
    "or_exit_and_or_return": (
        "function check {\n    check_os || exit 1\n    check_kernel || return 1\n"
        "    check_cpu\n}\n",
        ["check_cpu"],
    ),
    "or_group_with_exit": (
        'function check() {\n    check_os || { echo "no os" >&2; exit 1; }\n'
        "    check_mem\n    check_kernel || { exit 1; }\n}\n",
        ["check_mem"],
    ),
    "brace_on_next_line": (
        "check()\n{\n    check_cpu\n    check_os || exit 1\n    check_kernel\n    check_mem\n}\n",
        ["check_cpu", "check_mem"],
    ),
    "function_keyword_brace_on_next_line": (
        "function check\n{\n    check_os\n    check_swap\n}\n",
        ["check_swap"],
    ),
    "and_chain": (
        "check() {\n    check_os && check_kernel && check_mem\n}\n",
        ["check_mem"],
    ),
    "and_chain_disabled_in_the_middle": (
        "check() {\n    check_cpu && check_os && check_mem || exit 1\n}\n",
        ["check_cpu", "check_mem"],
    ),
    "semicolon_join": (
        "check() {\n    check_os; check_cpu\n    check_mem; check_kernel; check_swap\n}\n",
        ["check_cpu", "check_mem", "check_swap"],
    ),
    "or_chain_of_disabled_checks": (
        "check() {\n    check_os || check_kernel || exit 1\n    check_mem\n}\n",
        ["check_mem"],
    ),
    "if_not_on_one_line": (
        "check() {\n    if ! check_os; then exit 1; fi\n    check_cpu\n}\n",
        ["check_cpu"],
    ),
    "if_not_on_several_lines": (
        "check() {\n    if ! check_kernel; then\n        echo unsupported >&2\n"
        "        exit 1\n    fi\n    check_mem\n}\n",
        ["check_mem"],
    ),
    "if_else": (
        "check() {\n    if check_os; then\n        check_cpu\n    else\n        exit 1\n"
        "    fi\n}\n",
        ["check_cpu"],
    ),
    "only_call_in_a_then_branch": (
        "check() {\n    if true; then\n        check_os\n    fi\n    check_mem\n}\n",
        ["check_mem"],
    ),
    "body_of_disabled_calls_only": (
        "check() {\n    check_os || exit 1\n    check_kernel || exit 1\n}\n",
        [],
    ),
    "tabs": (
        "check() {\n\tcheck_os || exit 1\n\tcheck_kernel\t&&\tcheck_cpu\n\tcheck_mem\n}\n",
        ["check_cpu", "check_mem"],
    ),
    "one_line_function": (
        "check() { check_os; check_kernel && check_mem; }\n",
        ["check_mem"],
    ),
    "arguments_and_redirections": (
        'check() {\n    check_os "$1" >/dev/null 2>&1 || exit 1\n    check_cpu\n}\n',
        ["check_cpu"],
    ),
    "line_continuation": (
        "check() {\n    check_os \\\n        || exit 1\n    check_mem\n}\n",
        ["check_mem"],
    ),
    "pipe": (
        "check() {\n    set -o pipefail\n    check_os | cat || exit 1\n    check_cpu\n}\n",
        ["check_cpu"],
    ),
    "under_set_e": (
        "check() {\n    set -e\n    check_os\n    check_kernel\n    check_mem\n}\n",
        ["check_mem"],
    ),
}


@pytest.mark.parametrize("body, expected", SHAPES.values(), ids=SHAPES.keys())
def test_shape_runs_only_the_remaining_checks_in_order(tmp_path, body, expected):
    script = tmp_path / "register.sh"
    script.write_text(PRELUDE + body + EPILOGUE)
    before = run_script(script, tmp_path)

    patch = patch_text(script.read_text())
    script.write_text(patch.after)
    after = run_script(script, tmp_path)

    assert after == (0, [f"ran:{name}" for name in expected] + ["ran:end"])
    assert before != after  # the stand-in checks did make a difference before the patch


@pytest.mark.parametrize("body", [body for body, _expected in SHAPES.values()], ids=SHAPES.keys())
def test_second_run_changes_nothing(body):
    first = patch_text(PRELUDE + body + EPILOGUE)
    second = rs.plan_patch(first.after, SKIP, "check")
    assert (second.changed, second.disabled) == (False, [])


def test_second_run_reports_its_own_patch_as_already_disabled():
    first = patch_text(PRELUDE + SHAPES["or_exit_and_or_return"][0].replace("check_cpu", ""))
    second = rs.plan_patch(first.after, SKIP, "check")
    assert [(s.line, s.check, s.by) for s in second.already_disabled] == [
        (8, "check_os", "tke.flannel"),
        (9, "check_kernel", "tke.flannel"),
    ]


def test_every_definition_of_the_check_function_is_patched():
    source = "check() {\n    check_os\n    check_mem\n}\ncheck() {\n    check_os\n}\n"
    assert [s.line for s in rs.plan_patch(source, SKIP, "check").disabled] == [2, 6]


def test_calls_outside_the_check_function_stay(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        PRELUDE
        + "diagnose() {\n    check_os\n    check_kernel || true\n}\n"
        + "check() {\n    check_os || exit 1\n    check_mem\n}\n"
        + "check_kernel\ncheck\ndiagnose\n"
    )
    script.write_text(patch_text(script.read_text()).after)
    assert run_script(script, tmp_path) == (
        0,
        ["ran:check_kernel", "ran:check_mem", "ran:check_os", "ran:check_kernel"],
    )


def test_quotes_comments_and_heredocs_do_not_end_the_function_early(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        PRELUDE
        + "check() {\n"
        + "    echo '}' \"{\" ${LOG:+}} >/dev/null  # } a brace in a comment\n"
        + "    cat >/dev/null <<-EOF\n\t}\n\tcheck_os\n\tEOF\n"
        + "    check_os || exit 1\n"
        + '    x=$(echo "}")\n'
        + "    check_kernel\n"
        + "    check_mem\n"
        + "}\n"
        + EPILOGUE
    )
    patch = patch_text(script.read_text())
    script.write_text(patch.after)
    assert run_script(script, tmp_path) == (0, ["ran:check_mem", "ran:end"])


def test_heredoc_lines_that_look_like_calls_are_left_alone():
    source = PRELUDE + "check() {\n    cat <<'EOF'\ncheck_os\nEOF\n    check_mem\n}\n" + EPILOGUE
    patch = rs.plan_patch(source, SKIP, "check")
    assert (patch.changed, patch.not_found) == (False, SKIP)


def test_case_pattern_named_like_a_check_is_not_a_call():
    source = "check() {\n    case $1 in\n    check_os) check_mem ;;\n    esac\n}\n"
    assert rs.plan_patch(source, SKIP, "check").changed is False


def test_hand_patched_calls_are_reported_not_failed():
    source = PRELUDE + "check() {\n    #check_os\n    # check_kernel || exit 1\n    check_mem\n}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert (patch.changed, [s.as_dict() for s in patch.already_disabled]) == (
        False,
        [
            {"line": 8, "text": "#check_os", "check": "check_os", "by": "hand"},
            {
                "line": 9,
                "text": "# check_kernel || exit 1",
                "check": "check_kernel",
                "by": "hand",
            },
        ],
    )


def test_partly_hand_patched_script_gets_the_rest_disabled():
    source = "check() {\n    # check_os\n    check_kernel\n    check_mem\n}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert ([s.check for s in patch.disabled], [s.check for s in patch.already_disabled]) == (
        ["check_kernel"],
        ["check_os"],
    )


def test_command_substitution_is_reported_as_not_disabled():
    source = "check() {\n    os=$(check_os) || exit 1\n    check_kernel\n}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert [(s.line, s.text, s.check) for s in patch.not_disabled] == [
        (2, "os=$(check_os) || exit 1", "check_os")
    ]


def test_check_not_called_is_reported_as_not_found():
    patch = rs.plan_patch("check() {\n    check_os\n    check_mem\n}\n", SKIP, "check")
    assert patch.not_found == ["check_kernel"]


def test_other_check_function_name():
    source = "check() {\n    check_os\n}\npreflight() {\n    check_os\n    check_mem\n}\n"
    patch = rs.plan_patch(source, ["check_os"], "preflight")
    assert [s.line for s in patch.disabled] == [5]


def test_bad_check_name_is_refused():
    with pytest.raises(rs.RegistrationScriptError, match="not a bash function name"):
        rs.plan_patch("check() {\n    :\n}\n", ["check_os; rm -rf /"], "check")


def test_missing_function_fails_naming_it_and_what_to_do():
    with pytest.raises(rs.RegistrationScriptError, match=r"no function check .*set check_function"):
        rs.plan_patch("precheck() {\n    check_os\n}\n", SKIP, "check")


def test_missing_file_fails_naming_the_path(tmp_path):
    missing = tmp_path / "nope.sh"
    with pytest.raises(rs.RegistrationScriptError, match=f"{missing} does not exist"):
        rs.prepare(str(missing), SKIP, "check", rs.subprocess_runner)


def test_bash_rejecting_the_result_refuses_the_patch(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text("check() {\n    check_os\n    check_mem\n}\n")
    calls = []

    def runner(argv, data):
        calls.append(data)
        return (2, "", "bash: line 3: syntax error") if len(calls) == 1 else (0, "", "")

    with pytest.raises(rs.RegistrationScriptError, match="would make it invalid bash"):
        rs.prepare(str(script), SKIP, "check", runner)


def test_script_invalid_before_patching_is_named_as_such(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text("check() {\n    check_os\n    if true; then\n}\n")
    with pytest.raises(rs.RegistrationScriptError, match="not valid bash even before patching"):
        rs.prepare(str(script), SKIP, "check", rs.subprocess_runner)


def test_diff_excerpt_holds_only_changed_lines_and_context():
    before = "".join(f"line{i}\n" for i in range(1, 21))
    after = before.replace("line10\n", "# line10\n")
    assert rs.diff_excerpt(before, after) == (
        "# ... lines 8-12 ...\nline8\nline9\nline10\nline11\nline12\n",
        "# ... lines 8-12 ...\nline8\nline9\n# line10\nline11\nline12\n",
    )


# The stand-in of TKE's registration script.

FIXTURE_ENV = {"KERNEL_RELEASE": "6.1.0-28-amd64", "PORTS_IN_USE": "22"}


@pytest.fixture
def registration_script(tmp_path):
    """A copy of the stand-in script and the environment that makes it deterministic."""
    (tmp_path / "os-release").write_text("ID=debian\n")
    (tmp_path / "swaps").write_text("Filename Type Size Used Priority\n")
    (tmp_path / "meminfo").write_text("MemTotal: 4000000 kB\n")
    env = {
        **FIXTURE_ENV,
        "OS_RELEASE_FILE": str(tmp_path / "os-release"),
        "SWAPS_FILE": str(tmp_path / "swaps"),
        "MEMINFO_FILE": str(tmp_path / "meminfo"),
        "WORK_DIR": str(tmp_path / "work"),
    }
    script = tmp_path / "tke-register.sh"
    shutil.copyfile(FIXTURE, script)
    return script, env


def test_stand_in_script_fails_on_an_unknown_os_before_the_patch(tmp_path, registration_script):
    script, env = registration_script
    assert run_script(script, tmp_path, env=env) == (1, ["ran:check_os"])


def test_stand_in_script_registers_after_the_patch(tmp_path, registration_script):
    script, env = registration_script
    script.write_text(patch_text(script.read_text()).after)
    status, ran = run_script(script, tmp_path, env=env)
    assert (status, ran[:6]) == (
        0,
        [
            "ran:check_swap",
            "ran:check_port",
            "ran:check_mem",
            "ran:check_runtime_dir",
            "ran:write_kubelet_config",
            "ran:register",
        ],
    )


def test_stand_in_script_keeps_the_checks_of_diagnose(tmp_path, registration_script):
    script, env = registration_script
    script.write_text(patch_text(script.read_text()).after)
    assert run_script(script, tmp_path, "--diagnose", env=env) == (
        0,
        ["ran:check_os", "ran:check_kernel"],
    )


def test_stand_in_script_diff_does_not_show_the_token(registration_script):
    script, _env = registration_script
    patch = patch_text(script.read_text())
    before, after = rs.diff_excerpt(patch.before, patch.after)
    assert "standin-join-token" not in before + after


# The module, run through main().


def run_module(monkeypatch, capsys, **args):
    """Run the module's main() with ``args``; return its JSON answer."""
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_module_disables_and_reports(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    result = run_module(monkeypatch, capsys, path=str(script), backup=False)
    result.pop("invocation", None)
    assert result == {
        "changed": True,
        "disabled": [
            {
                "line": 98,
                "text": 'check_os || fatal "unsupported operating system"',
                "check": "check_os",
            },
            {"line": 99, "text": "if ! check_kernel", "check": "check_kernel"},
        ],
        "already_disabled": [],
        "not_disabled": [],
        "not_found": [],
    }


def test_module_second_run_is_quiet(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    run_module(monkeypatch, capsys, path=str(script), backup=False)
    patched = script.read_bytes()
    result = run_module(monkeypatch, capsys, path=str(script), backup=False)
    assert (result["changed"], result["disabled"], script.read_bytes()) == (False, [], patched)


def test_module_keeps_a_backup(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    original = script.read_bytes()
    result = run_module(monkeypatch, capsys, path=str(script))
    assert Path(result["backup_file"]).read_bytes() == original


def test_module_keeps_the_file_mode(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    script.chmod(0o750)
    run_module(monkeypatch, capsys, path=str(script), backup=False)
    assert script.stat().st_mode & 0o777 == 0o750


def test_module_check_mode_writes_nothing_and_shows_the_diff(
    monkeypatch, capsys, registration_script
):
    script, _env = registration_script
    original = script.read_bytes()
    result = run_module(
        monkeypatch, capsys, path=str(script), _ansible_check_mode=True, _ansible_diff=True
    )
    assert (result["changed"], script.read_bytes(), sorted(result["diff"])) == (
        True,
        original,
        ["after", "after_header", "before", "before_header"],
    )
    assert len(os.listdir(script.parent)) == 4  # the script and its three inputs, no backup


def test_module_diff_shows_the_changed_lines_only(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    result = run_module(monkeypatch, capsys, path=str(script), backup=False, _ansible_diff=True)
    assert result["diff"]["after"].splitlines() == [
        "# ... lines 96-101 ...",
        "check() {",
        '    log "checking node prerequisites { os, kernel, swap, ports, memory }"',
        '    # check_os || fatal "unsupported operating system"  # tke.flannel: disabled check_os',
        "    if ! : 'tke.flannel: disabled check_kernel'; then",
        '        fatal "unsupported kernel, see the TKE documentation for supported kernels"',
        "    fi",
    ]


def test_module_missing_file_fails_and_names_it(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "tke-register.sh"
    result = run_module(monkeypatch, capsys, path=str(missing))
    assert (result["failed"], str(missing) in result["msg"], missing.exists()) == (
        True,
        True,
        False,
    )


def test_module_missing_function_fails_and_leaves_the_file(
    monkeypatch, capsys, registration_script
):
    script, _env = registration_script
    original = script.read_bytes()
    result = run_module(monkeypatch, capsys, path=str(script), check_function="preflight")
    assert (result["failed"], "no function preflight" in result["msg"], script.read_bytes()) == (
        True,
        True,
        original,
    )
    assert "standin-join-token" not in result["msg"]


def test_module_refuses_to_write_what_bash_rejects(monkeypatch, capsys, registration_script):
    script, _env = registration_script
    original = script.read_bytes()
    answers = iter([(2, "", "bash: line 98: syntax error"), (0, "", "")])
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, *a, **k: next(answers))
    result = run_module(monkeypatch, capsys, path=str(script))
    assert (result["failed"], "would make it invalid bash" in result["msg"]) == (True, True)
    assert (script.read_bytes(), sorted(os.listdir(script.parent))) == (
        original,
        ["meminfo", "os-release", "swaps", "tke-register.sh"],
    )


# What the module reports or shows must not carry the join token the script may hold.


def test_bash_error_gives_lines_and_kinds_not_the_quoted_source(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        'check() {\n    check_os\n}\nif true; then\n  TOKEN="s3cr3t-token" )\nfi\ncheck\n'
    )
    with pytest.raises(rs.RegistrationScriptError) as error:
        rs.prepare(str(script), SKIP, "check", rs.subprocess_runner)
    assert (
        "(line 5: syntax error near unexpected token)" in str(error.value),
        "s3cr3t" in str(error.value),
    ) == (True, False)


def test_bash_error_summary_drops_backquoted_text_and_file_name():
    err = (
        "/tmp/x.sh: line 9: syntax error near unexpected token `)'\n"
        '/tmp/x.sh: line 9: `  TOKEN="s3cr3t-token" )\'\n'
        "/tmp/x.sh: line 3: warning: here-document at line 3 delimited by end-of-file "
        "(wanted `s3cr3t')\n"
    )
    assert rs.bash_error_summary(err) == (
        "line 9: syntax error near unexpected token; "
        "line 3: warning: here-document at line 3 delimited by end-of-file"
    )


def test_reported_text_is_the_call_element_with_assignments_redacted():
    source = (
        "check() {\n"
        '    TOKEN="s3cr3t" ; check_os\n'
        "    JOIN=s3cr3t check_kernel --token s3cr3t --join-token=s3cr3t || exit 1\n"
        "}\n"
    )
    patch = rs.plan_patch(source, SKIP, "check")
    assert [s.text for s in patch.disabled] == [
        "check_os",
        "JOIN=<redacted> check_kernel --token <redacted> --join-token=<redacted> || exit 1",
    ]


def test_already_disabled_text_is_the_call_element_with_assignments_redacted():
    source = (
        "check() {\n"
        "    TOKEN=\"s3cr3t\" ; : 'tke.flannel: disabled check_os'\n"
        "    # check_kernel --token=s3cr3t; TOKEN=s3cr3t\n"
        "}\n"
    )
    patch = rs.plan_patch(source, SKIP, "check")
    assert [(s.text, s.by) for s in patch.already_disabled] == [
        (": 'tke.flannel: disabled check_os'", "tke.flannel"),
        ("# check_kernel --token=<redacted>", "hand"),
    ]


def test_diff_excerpt_redacts_assignments_on_context_and_changed_lines():
    before = 'check() {\n    TOKEN="s3cr3t"\n    check_os\n    export KEY=s3cr3t\n}\n'
    after = rs.plan_patch(before, SKIP, "check").after
    assert rs.diff_excerpt(before, after)[1] == (
        "# ... lines 1-5 ...\n"
        "check() {\n"
        "    TOKEN=<redacted>\n"
        "    # check_os  # tke.flannel: disabled check_os\n"
        "    export KEY=<redacted>\n"
        "}\n"
    )


def test_redact_keeps_a_command_substitution_of_a_check_readable():
    assert rs.redact('os=$(check_os) TOKEN="a b" x==y', ["check_os"]) == (
        "os=$(check_os) TOKEN=<redacted> x==y"
    )


def test_module_diff_and_results_do_not_show_a_token_next_to_a_call(monkeypatch, capsys, tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        'check() {\n    TOKEN="s3cr3t" ; check_os\n    check_kernel || exit 1\n'
        '    # check_os is called above; TOKEN="s3cr3t"\n}\ncheck\n'
    )
    result = run_module(monkeypatch, capsys, path=str(script), backup=False, _ansible_diff=True)
    assert (result["changed"], "s3cr3t" in json.dumps(result)) == (True, False)


# Shapes of script and file that need more than the call rewrite.


def test_symlink_is_followed_the_target_patched_and_the_link_kept(monkeypatch, capsys, tmp_path):
    target = tmp_path / "target.sh"
    target.write_text("check() {\n    check_os\n    check_mem\n}\n")
    original = target.read_bytes()
    link = tmp_path / "link.sh"
    link.symlink_to(target)
    result = run_module(monkeypatch, capsys, path=str(link))
    assert (
        link.is_symlink(),
        os.readlink(link),
        b"# tke.flannel: disabled check_os" in target.read_bytes(),
        Path(result["backup_file"]).read_bytes(),
        Path(result["backup_file"]).name.startswith("target.sh."),
    ) == (True, str(target), True, original, True)


def test_crlf_script_is_refused_naming_the_path_and_the_fix(tmp_path):
    script = tmp_path / "register.sh"
    script.write_bytes(b"#!/bin/bash\r\ncheck() {\r\n    check_os\r\n}\r\ncheck\r\n")
    with pytest.raises(rs.RegistrationScriptError) as error:
        rs.prepare(str(script), SKIP, "check", rs.subprocess_runner)
    assert str(error.value).startswith(
        f"{script} has Windows (CRLF) line endings, which bash cannot run either; "
        f"convert it (sed -i 's/\\r$//' {script}) and run again"
    )


def test_module_leaves_a_crlf_script_unchanged(monkeypatch, capsys, tmp_path):
    script = tmp_path / "register.sh"
    script.write_bytes(b"check() {\r\n    check_os\r\n}\r\n")
    result = run_module(monkeypatch, capsys, path=str(script))
    assert (
        result["failed"],
        "CRLF" in result["msg"],
        script.read_bytes(),
        len(list(tmp_path.iterdir())),
    ) == (
        True,
        True,
        b"check() {\r\n    check_os\r\n}\r\n",
        1,
    )


def run_with_timeout(path: Path, tmp_path: Path):
    """Run ``path`` with bash for at most 5 s; return (exit status, lines written to $LOG)."""
    log = tmp_path / "run.log"
    log.write_text("")
    environ = {"PATH": os.environ["PATH"], "LOG": str(log)}
    proc = subprocess.run(
        ["bash", str(path)], env=environ, capture_output=True, timeout=5, check=False
    )
    return proc.returncode, log.read_text().split()


def test_while_condition_is_left_and_the_script_still_terminates(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        PRELUDE + "check() {\n    while check_os; do check_cpu; done\n    check_mem\n}\n" + EPILOGUE
    )
    patch = patch_text(script.read_text())
    script.write_text(patch.after)
    assert run_with_timeout(script, tmp_path) == (0, ["ran:check_os", "ran:check_mem", "ran:end"])


def test_while_condition_is_reported_as_not_disabled():
    source = "check() {\n    while check_os && true; do\n        sleep 1\n    done\n}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert [(s.line, s.text, s.reason.split(":")[0]) for s in patch.not_disabled] == [
        (2, "while check_os && true", "condition of a while loop")
    ]


def test_until_not_condition_is_reported_as_not_disabled():
    source = "check() {\n    until ! check_kernel; do sleep 1; done\n}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert [(s.check, s.reason.split(":")[0]) for s in patch.not_disabled] == [
        ("check_kernel", "condition of a until loop")
    ]


def test_loop_waiting_for_a_check_to_pass_ends_at_once_when_it_is_disabled(tmp_path):
    script = tmp_path / "register.sh"
    script.write_text(
        PRELUDE
        + "check() {\n    until check_os >/dev/null; do sleep 1; done\n"
        + "    while ! check_kernel\n    do\n        sleep 1\n    done\n    check_mem\n}\n"
        + EPILOGUE
    )
    script.write_text(patch_text(script.read_text()).after)
    assert run_with_timeout(script, tmp_path) == (0, ["ran:check_mem", "ran:end"])


def test_module_warns_about_a_call_it_left(monkeypatch, capsys, tmp_path):
    script = tmp_path / "register.sh"
    script.write_text("check() {\n    while check_os; do sleep 1; done\n}\n")
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    result = run_module(monkeypatch, capsys, path=str(script), backup=False)
    assert (result["changed"], result["not_found"], warned) == (
        False,
        ["check_kernel"],
        [
            f"{script} line 2: check_os was not disabled: condition of a while loop: a disabled "
            "check always passes, which can make the loop run forever; rewrite the loop by hand",
            f"{script}: function check does not call check_kernel; nothing to disable for them",
        ],
    )


@pytest.mark.parametrize(
    "comment",
    ["# check_os is called below", "# check_os, check_kernel and the rest run below"],
)
def test_comment_naming_a_check_in_prose_is_not_a_disabled_call(comment):
    source = f"check() {{\n    {comment}\n    check_mem\n}}\n"
    patch = rs.plan_patch(source, SKIP, "check")
    assert (patch.already_disabled, patch.not_found) == ([], SKIP)


@pytest.mark.parametrize(
    "comment",
    [
        "#check_os",
        "# check_os;",
        "# check_os || exit 1",
        "# check_os && check_mem",
        "# check_os >/dev/null",
        '# check_os "$1"',
        "# check_os --strict",
        "# check_os   # the OS check",
    ],
)
def test_comment_holding_a_call_is_a_call_disabled_by_hand(comment):
    source = f"check() {{\n    {comment}\n    check_mem\n}}\n"
    patch = rs.plan_patch(source, ["check_os"], "check")
    assert [(s.check, s.by) for s in patch.already_disabled] == [("check_os", "hand")]


SELF_EXTRACTING = b"""\
#!/bin/bash
check_os() { :; }
check_kernel() { :; }
check() {
  check_os
  check_kernel
}
check
sed '1,/^__ARCHIVE__$/d' "$0" | tar xz
exit 0
__ARCHIVE__
"""
# Bytes bash cannot parse and that are not UTF-8: quotes, parentheses, NUL, \xff, CR LF.
PAYLOAD = bytes(range(256)) * 4096 + b"'\"$(\x00\xff\r\n}"


def test_self_extracting_script_is_patched_and_its_payload_kept(monkeypatch, capsys, tmp_path):
    script = tmp_path / "register.sh"
    script.write_bytes(SELF_EXTRACTING + PAYLOAD)
    result = run_module(monkeypatch, capsys, path=str(script), backup=False)
    data = script.read_bytes()
    assert (result.get("msg"), result["changed"], data.endswith(b"__ARCHIVE__\n" + PAYLOAD)) == (
        None,
        True,
        True,
    )
    assert data[: -len(PAYLOAD)].count(b"tke.flannel: disabled") == 2


def test_self_extracting_script_diff_shows_no_payload(monkeypatch, capsys, tmp_path):
    script = tmp_path / "register.sh"
    script.write_bytes(b"check() { check_os; }\nexit 0\n" + PAYLOAD)
    result = run_module(
        monkeypatch, capsys, path=str(script), _ansible_check_mode=True, _ansible_diff=True
    )
    assert result["diff"]["after"] == (
        "# ... lines 1-2 ...\ncheck() { : 'tke.flannel: disabled check_os'; }\nexit 0\n"
    )


def test_exit_inside_a_function_does_not_start_a_payload():
    source = "check() {\n    check_os\n}\nfail() {\nexit 1\n}\n\x00\n"
    assert rs.plan_patch(source, SKIP, "check").payload == ""


def test_syntax_check_reads_a_file_not_stdin():
    seen = []

    def runner(argv, data):
        seen.append((argv[:2], Path(argv[2]).read_text(), data))
        return 0, "", ""

    assert (rs.syntax_error("check\n", runner), seen) == (None, [(["bash", "-n"], "check\n", b"")])
