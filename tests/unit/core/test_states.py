from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huangpu.core.errors import IllegalTransition
from huangpu.core.states import TERMINAL, TRANSITIONS, JobState, can_move, check_move

states = st.sampled_from(list(JobState))


def test_table_matches_design() -> None:
    s = JobState
    assert TRANSITIONS[s.PENDING] == {s.ADMITTED, s.CANCELLED, s.REJECTED}
    assert TRANSITIONS[s.ADMITTED] == {s.SCHEDULED, s.PENDING, s.CANCELLED}
    assert TRANSITIONS[s.SCHEDULED] == {s.STARTING, s.PENDING, s.CANCELLED}
    assert s.RUNNING in TRANSITIONS[s.STARTING]
    assert s.RUNNING not in TRANSITIONS[s.RUNNING]
    assert TRANSITIONS[s.LOST] == {s.PENDING} == TRANSITIONS[s.PREEMPTED]
    assert {s.SUCCEEDED, s.FAILED, s.CANCELLED, s.REJECTED} == TERMINAL


@given(old=states, new=states)
def test_no_illegal_transition_can_be_applied(old: JobState, new: JobState) -> None:
    if can_move(old, new):
        check_move(old, new)
    else:
        with pytest.raises(IllegalTransition):
            check_move(old, new)


@given(st.lists(states, min_size=1, max_size=30))
def test_any_walk_accepted_by_check_move_follows_the_table(walk: list[JobState]) -> None:
    current = JobState.PENDING
    for nxt in walk:
        try:
            check_move(current, nxt)
        except IllegalTransition:
            continue
        assert nxt in TRANSITIONS[current]
        current = nxt
    assert current not in TERMINAL or not TRANSITIONS[current]
