"""enqueue.lua's arguments for a resend: the same call, with the first id streamq made
looked up."""

from __future__ import annotations

from streamq.broker.keys import GROUP
from streamq.broker.script_args import enqueue_resent


def test_a_resend_looks_up_the_first_id_streamq_made_and_changes_nothing_else() -> None:
    first = [1_700_000_000_000, 100, GROUP, 1, "0", 2, "task", 0, 0, 3, "", "", 1,
             "a", "{}", "b", "{}"]
    resent = enqueue_resent(first)
    assert resent == [*first[:4], "1", *first[5:]]
    assert first[4] == "0", "the first call's arguments were changed"
