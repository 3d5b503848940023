"""Every Lua script is documented, has a typed method on Scripts, and a test file of its own."""

from __future__ import annotations

import inspect
import re
from importlib import resources
from pathlib import Path

import pytest

from streamq.broker.scripts import SCRIPT_NAMES, Scripts

SCRIPTS_DIR = resources.files("streamq.broker").joinpath("scripts")
TESTS_DIR = Path(__file__).parent
LUA_NAMES = sorted(
    entry.name.removesuffix(".lua") for entry in SCRIPTS_DIR.iterdir()
    if entry.name.endswith(".lua")
)
HEADER = re.compile(r"\A--\[\[(.*?)\]\]", re.DOTALL)


def test_script_names_match_the_lua_files() -> None:
    """SCRIPT_NAMES (what Scripts loads) is exactly the set of .lua files."""
    assert LUA_NAMES, "no .lua files found"
    assert sorted(SCRIPT_NAMES) == LUA_NAMES


@pytest.mark.parametrize("name", LUA_NAMES)
def test_header_names_keys_argv_and_returns(name: str) -> None:
    """The file opens with a comment block naming the script and its KEYS, ARGV, Returns."""
    source = SCRIPTS_DIR.joinpath(f"{name}.lua").read_text()
    header = HEADER.match(source)
    assert header, f"{name}.lua must open with a --[[ ... ]] header comment"
    text = header.group(1)
    assert text.lstrip().startswith(f"{name}:"), f"{name}.lua header must start with '{name}:'"
    for word in ("KEYS[1", "ARGV[1", "Returns"):
        assert word in text, f"{name}.lua header does not document {word}"


@pytest.mark.parametrize("name", LUA_NAMES)
def test_header_documents_every_error_code(name: str) -> None:
    """Each error code the script returns ({n} with n != 0) is documented in its header."""
    source = SCRIPTS_DIR.joinpath(f"{name}.lua").read_text()
    header = HEADER.match(source)
    assert header
    body = source[header.end():]
    codes = set(re.findall(r"return \{([1-9])[,}]", body))
    for code in codes:
        assert f"{{{code}" in header.group(1), f"{name}.lua returns code {code} undocumented"


@pytest.mark.parametrize("name", LUA_NAMES)
def test_scripts_has_a_typed_async_method(name: str) -> None:
    """Scripts has an async method of the script's name, with a docstring and annotations."""
    method = getattr(Scripts, name, None)
    assert method is not None, f"Scripts has no method {name!r}"
    assert inspect.iscoroutinefunction(method), f"Scripts.{name} must be async"
    assert method.__doc__, f"Scripts.{name} needs a docstring"
    signature = inspect.signature(method)
    assert signature.return_annotation is not inspect.Signature.empty
    params = list(signature.parameters.values())[1:]
    assert params and params[0].name == "keys", f"Scripts.{name} must take keys first"
    assert all(p.annotation is not inspect.Parameter.empty for p in params)


@pytest.mark.parametrize("name", LUA_NAMES)
def test_each_script_has_a_test_file(name: str) -> None:
    """tests/broker/test_script_<name>.py exists and tests something."""
    path = TESTS_DIR / f"test_script_{name}.py"
    assert path.is_file(), f"missing {path.name}"
    assert re.search(r"^async def test_|^def test_", path.read_text(), re.MULTILINE)
