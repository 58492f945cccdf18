"""The command line refuses bad input with a clear message before starting anything."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sync_platform.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sandbox", "run", "ledger", "--port", "1", "--state", "x"], "invalid choice: 'ledger'"),
        (["sandbox", "run", "crm", "--port", "70000", "--state", "x"], "outside 1-65535"),
        (["sandbox", "up", "--customers", "0"], "must be at least 1"),
        (["sandbox", "up", "--customers", "many"], "is not a whole number"),
        (["replay", "--region", "mars", "--note", "fixed"], "invalid choice: 'mars'"),
        (["replay", "--since", "2026-13-01", "--note", "fixed"], "'2026-13-01' is not a date"),
        (
            ["replay", "--reason", "tax_code_unmapped"],
            "the following arguments are required: --note",
        ),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_fault_names_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        ["sandbox", "run", "crm", "--port", "1", "--state", str(tmp_path), "--faults", "meltdown=1"]
    )
    assert code == 2
    assert "unknown fault 'meltdown'" in capsys.readouterr().err


def test_a_busy_port_is_reported_not_crashed_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["sandbox", "run", "billing", "--port", str(port), "--state", str(tmp_path)])
    assert code == 2
    assert f"billing port {port} on 127.0.0.1 is in use" in capsys.readouterr().err
