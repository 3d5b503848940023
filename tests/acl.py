"""The least-privilege ACL documented in docs/security.md, read from the page itself so the
tests check exactly what users are told to configure."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "security.md"
TEST_ONLY = ("+pttl", "+xinfo|consumers", "+scan", "+echo", "+client|id",
             "+client|kill", "+client|list", "+blpop")
"""Commands the test suite itself uses to look at Redis (not needed by streamq)."""


def documented_rules() -> list[str]:
    """The rules of the documented ``ACL SETUSER streamq ...`` block, as written."""
    text = DOCS.read_text()
    block = re.search(r"<!-- acl:begin -->\s*```\s*(.*?)```\s*<!-- acl:end -->", text, re.S)
    assert block is not None, "docs/security.md lost its <!-- acl:begin --> block"
    words = block.group(1).split()
    assert words[:3] == ["ACL", "SETUSER", "streamq"], words[:3]
    return words[3:]


def rules_for(password: str, key_patterns: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    """The documented rules with a real password, the given key patterns instead of
    ``~sq:*``, and ``extra`` rules appended."""
    rules: list[str] = []
    for word in documented_rules():
        if word.startswith(">"):
            rules.append(f">{password}")
        elif word == "~sq:*":
            rules += key_patterns
        else:
            rules.append(word)
    return [*rules, *extra]


TEST_PASSWORD = "streamq-test-acl"


def start_acl_server() -> str:
    """Start a throwaway redis-server with a user limited to the documented ACL (key
    patterns: the default namespace and the suite's ``t...`` namespaces, plus the commands
    the tests themselves use), and return that user's URL. Stopped at exit."""
    import redis

    from tests.redis_server import start_throwaway

    admin_url = start_throwaway()
    admin = redis.Redis.from_url(admin_url)
    try:
        admin.execute_command("ACL", "SETUSER", "streamq",
                              *rules_for(TEST_PASSWORD, ["~sq:*", "~t*", "~bench*"], TEST_ONLY))
    finally:
        admin.close()
    return admin_url.replace("redis://", f"redis://streamq:{TEST_PASSWORD}@", 1)
