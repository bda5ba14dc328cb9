"""A plain `git revert` of any commit that changed a release leaves the repository valid.

Histories are generated (hypothesis) from the operations teams perform: publish a
bundle and start its rollout, promote, roll back, retire an old bundle, edit owners.
Reverting any one commit either stops with a conflict (and `git revert --abort` puts
everything back) or leaves a release that validates, and `relc check` passes after
`relc build`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support import Repository, relc, release_text


@dataclass(frozen=True)
class State:
    versions: tuple[str, ...] = ("v1",)
    stable: str = "v1"
    candidate: str | None = None
    step: int | None = None
    previous: str | None = None
    owners: tuple[str, ...] = ("tests",)
    next_version: int = 2

    def text(self) -> str:
        return release_text("chat", list(self.versions), self.stable, self.candidate, self.step, self.previous, self.owners)


def apply(state: State, operation: str) -> State | None:
    """The state after a team's operation, or None when it does not apply now."""
    if operation == "publish":
        if state.candidate is not None:
            return None
        version = f"v{state.next_version}"
        return replace(state, versions=(*state.versions, version), candidate=version, step=1, next_version=state.next_version + 1)
    if operation == "promote":
        if state.candidate is None:
            return None
        if state.step == 1:
            return replace(state, step=2)
        return replace(state, stable=state.candidate, previous=state.stable, candidate=None, step=None)
    if operation == "rollback":
        if state.candidate is None:
            return None
        return replace(state, versions=tuple(v for v in state.versions if v != state.candidate), candidate=None, step=None)
    if operation == "retire":
        live = {state.stable, state.candidate, state.previous}
        retired = next((v for v in state.versions if v not in live), None)
        return None if retired is None else replace(state, versions=tuple(v for v in state.versions if v != retired))
    if operation == "owners":
        return replace(state, owners=("tests", "oncall") if state.owners == ("tests",) else ("tests",))
    raise ValueError(operation)


OPERATIONS = st.lists(st.sampled_from(["publish", "promote", "rollback", "retire", "owners"]), min_size=1, max_size=7)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS, pick=st.integers(min_value=0, max_value=100))
def test_reverting_any_release_commit_leaves_the_repository_valid(operations: list[str], pick: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repository = Repository(Path(folder) / "repo")
        repository.commit("Set up prompts and schema", build=False)
        state = State()
        repository.write("chat", state.text())
        commits = [repository.commit("Publish chat v1")]
        for operation in operations:
            following = apply(state, operation)
            if following is None:
                continue
            state = following
            repository.write("chat", state.text())
            commits.append(repository.commit(operation))
        target = commits[pick % len(commits)]
        head = repository.head()
        reverted = repository.git("revert", "--no-edit", target, check=False, when=repository.clock + 60)
        if repository.head() == head:
            # git stopped on a conflict: aborting must give back exactly the tree before.
            event("the revert conflicted")
            repository.git("revert", "--abort", check=False)
            assert repository.head() == head and repository.git("status", "--porcelain") == "", reverted
            return
        event("the revert applied")
        if (repository.root / "releases").exists():
            assert relc(repository.root, "validate") == 0, f"revert of {operations} at {pick % len(commits)}: invalid"
        assert relc(repository.root, "build") == 0
        assert relc(repository.root, "check") == 0
