"""Every command a Lua script calls is granted by the least-privilege ACL that
docs/security.md documents: a script calling one more command fails for every user who
set up that ACL (``make test-acl`` finds it only when a test reaches the call)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.acl import documented_rules

SCRIPTS = Path(__file__).resolve().parent.parent / "src" / "streamq" / "broker" / "scripts"
CALL = re.compile(r"(?:redis\.p?call|call_batched)\('([A-Z]+)'(?:,\s*'([A-Z]+)')?")
CONTAINERS = {"XGROUP", "XINFO"}
"""Commands whose first argument is a subcommand that the ACL grants on its own."""


def test_every_command_a_script_calls_is_granted_by_the_documented_acl() -> None:
    granted = {rule[1:].lower() for rule in documented_rules() if rule.startswith("+")}
    called: dict[str, set[str]] = {}
    for path in SCRIPTS.rglob("*.lua"):
        for command, sub in CALL.findall(path.read_text()):
            name = f"{command}|{sub}" if command in CONTAINERS else command
            called.setdefault(name.lower(), set()).add(path.name)
    assert len(called) > 20, "the pattern no longer finds the scripts' calls"
    missing = {name: sorted(where) for name, where in called.items() if name not in granted}
    assert not missing, f"not in docs/security.md's ACL: {missing}"
