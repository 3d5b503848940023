"""Job ids streamq makes: unique, never starting with "-", and a forked child never hands
out the ids its parent made ahead."""

from __future__ import annotations

import os
import re

from streamq import job_ids
from streamq.job_ids import SPARE_IDS, new_job_id, new_job_ids


def test_ids_made_one_at_a_time_are_unique_and_never_start_with_a_dash() -> None:
    made = [new_job_id() for _ in range(SPARE_IDS * 20)]
    assert len(set(made)) == len(made)
    assert all(len(job_id) == 16 and not job_id.startswith("-") for job_id in made)


def test_ids_made_in_bulk_are_unique_url_safe_and_never_start_with_a_dash() -> None:
    bulk = list(new_job_ids(5000))
    assert len(set(bulk)) == 5000
    assert all(len(job_id) == 16 and re.fullmatch(r"[A-Za-z0-9_-]+", job_id)
               and not job_id.startswith("-") for job_id in bulk)


def test_a_forked_child_makes_its_own_ids() -> None:
    job_ids._spare.clear()  # else the call below may take the last spare id, leaving none
    new_job_id()  # the parent now holds ids made ahead
    assert len(job_ids._spare) == SPARE_IDS - 1
    parents_next = job_ids._spare[-1]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id, then leave without running pytest's exit
        os.write(write_end, new_job_id().encode())
        os._exit(0)
    os.close(write_end)
    childs_first = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(childs_first) == 16
    assert childs_first != parents_next
    assert new_job_id() == parents_next
