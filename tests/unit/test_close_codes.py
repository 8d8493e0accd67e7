"""The one close-code table (hub.core.closecodes): it holds every code of the contract's table
(docs/protocol.md section 2, "Close codes", identical to PROTOCOL.md: test_protocol_doc.py) plus 1011
("Beyond the contract") and RFC 6455's 1000; its "reconnect and resume" codes are those the contract
says so of; the hub's errors carry its members; the Python client decides with it; the browser
client's copy in clients/js/src/hub-client.js holds the same codes and meanings; and no close in the
ingress is a bare number."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hub import client
from hub.core import errors
from hub.core.closecodes import FINAL, RESUME, CloseCode
from hub.ingress.connection import close_frame

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()


def contract_rows() -> dict[int, str]:
    """{code: its "when" text} from the contract's close-code table ("1001 or 1012" gives both)."""
    table = DOC[DOC.index("### Close codes") :]
    table = table[: table.index("\n## ")]
    rows: dict[int, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and re.fullmatch(r"\d{4}( or \d{4})*", cells[0]):
            for code in cells[0].split(" or "):
                rows[int(code)] = cells[1]
    return rows


def beyond_the_contract() -> dict[int, str]:
    """{code: its text} for the close codes docs/protocol.md's "Beyond the contract" adds."""
    beyond = DOC[DOC.index("# Beyond the contract") :]
    return {int(m[1]): m[2] for m in re.finditer(r"^- (\d{4}) \((.*?)(?=\n- |\n\n)", beyond, re.M | re.S)}


def test_the_table_holds_every_code_of_the_contract_and_the_hubs_additions() -> None:
    rows = contract_rows()
    assert len(rows) == 9  # the table's rows, as PROTOCOL.md has them
    assert set(beyond_the_contract()) == {1011}
    assert {int(c) for c in CloseCode} == set(rows) | {1011} | {1000}  # 1000: RFC 6455 normal closure


def test_resume_is_what_the_contract_says_reconnect_and_resume_of() -> None:
    said = {code for code, when in {**contract_rows(), **beyond_the_contract()}.items() if "and resume" in when}
    assert said == {1001, 1011, 1012, 4409}
    assert {int(c) for c in RESUME} == said
    assert all(c.resume == (c in said) for c in CloseCode)


def test_final_codes_are_those_a_client_stops_after_and_only_they_do_not_reconnect() -> None:
    assert FINAL == {CloseCode.BAD_HELLO, CloseCode.UNAUTHORIZED, CloseCode.ORIGIN_REFUSED}
    for code in CloseCode:
        assert code.final != code.reconnect
        assert not (code.final and code.resume)
        assert code.meaning and code.__doc__  # a phrase for people, a docstring for code readers
    assert (CloseCode.BAD_HELLO.meaning, CloseCode.UNAUTHORIZED.meaning, CloseCode.ORIGIN_REFUSED.meaning) == (
        "bad hello",
        "unauthorized",
        "origin not allowed",
    )


def test_the_python_client_stops_after_the_final_codes_only() -> None:
    assert client.FATAL_CLOSE == {4400: "bad hello", 4401: "unauthorized", 4403: "origin not allowed"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.BadFrame("not json"), 4400),
        (errors.AuthError("invalid token"), 4401),
        (errors.TokenExpired("token expired"), 4401),
        (errors.Forbidden("origin not allowed"), 4403),
        (errors.HelloTimeout("no hello within 10s"), 4408),
        (errors.SlowConsumer("slow consumer: reconnect and resume"), 4409),
        (errors.RateLimited("inbound rate limit exceeded"), 4429),
        (errors.TooManyConnections("too many connections for this token"), 4429),
        (errors.TooLarge("frame over 64 KiB"), 1009),
        (errors.ShuttingDown("server shutting down: reconnect and resume"), 1001),
        (errors.ServiceRestart("registry shard restarted: reconnect and resume"), 1012),
        (errors.WriteFailed("internal error: reconnect and resume"), 1011),
    ],
)
def test_each_error_that_ends_a_connection_becomes_the_contracts_close_frame(error: errors.HubError, code: int) -> None:
    assert close_frame(error) == (code, error.message)
    assert isinstance(close_frame(error)[0], CloseCode)


def test_a_normal_close_is_1000_without_a_reason_and_long_reasons_are_cut_to_fit() -> None:
    assert close_frame(None) == (CloseCode.NORMAL, "")
    code, reason = close_frame(errors.SlowConsumer("é" * 200))
    assert code == 4409 and len(reason.encode()) <= 123


def test_every_error_class_carries_a_member_of_the_table() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.HubError)]
    assert len(classes) > 10
    for cls in classes:
        assert isinstance(cls.close_code, CloseCode), cls


def test_no_close_in_the_ingress_or_the_python_client_is_a_bare_number() -> None:
    codes = {int(c) for c in CloseCode} - {1000}  # 1000 is also a plain count (batch sizes, caps)
    found = []
    for path in [*sorted((ROOT / "hub" / "ingress").glob("*.py")), ROOT / "hub" / "client.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in codes:
                found.append(f"{path.name}:{node.lineno}: {node.value}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "close" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, int):
                    found.append(f"{path.name}:{node.lineno}: close({first.value})")
    assert not found, found


def js_close_codes() -> tuple[dict[str, dict[str, object]], dict[str, str], dict[str, int]]:
    """CLOSE_CODES, FATAL_CLOSE and CLOSE (code by name) as the browser client's module exports them
    (run by Node, which `make test` needs for the JS client's tests in clients/js already)."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make test runs the JS client's tests with it)"
    script = (
        f"import({json.dumps((ROOT / 'hub' / 'static' / 'hub-client.js').as_uri())}).then((m) => "
        "process.stdout.write(JSON.stringify([m.CLOSE_CODES, m.FATAL_CLOSE, m.CLOSE])))"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True).stdout
    table, fatal, by_name = json.loads(out)
    return table, fatal, by_name


def test_the_browser_clients_copy_holds_the_same_codes_and_meanings() -> None:
    table, fatal, by_name = js_close_codes()
    python = {
        str(int(c)): {"name": c.name, "reconnect": c.reconnect, "resume": c.resume, "meaning": c.meaning}
        for c in CloseCode
    }
    assert table == python
    assert fatal == {str(k): v for k, v in client.FATAL_CLOSE.items()}
    assert by_name == {c.name: int(c) for c in CloseCode}
