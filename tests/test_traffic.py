"""`compiler.traffic` directly: basis points, endpoints, step wording, and the traffic of
every rollout shape (steady, shadow, canary, with a previous bundle kept warm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.load import load_bytes
from compiler.model import build_release
from compiler.spec import Release
from compiler.traffic import (
    FULL,
    Endpoint,
    basis_points,
    default_port_of,
    endpoint_of,
    percent_of,
    percent_text,
    shares_text,
    step_label,
    step_position,
    step_text,
    traffic_state,
)
from tests.support import release_text, write_live_release


def _release(
    stable: str = "v1",
    candidate: str | None = None,
    step: int | None = None,
    previous: str | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> Release:
    """release_text's release, checked by build_release as a file would be; `steps` replaces its plan."""
    text = release_text("chat", ["v1", "v2", "v3"], stable=stable, candidate=candidate, step=step, previous=previous)
    if steps is not None:
        data = yaml.safe_load(text)
        data["rollout"]["steps"] = steps
        text = yaml.safe_dump(data, sort_keys=False)
    document, problems = load_bytes(text.encode(), "releases/chat.yaml")
    assert document is not None, problems
    release, problems = build_release(document)
    assert release is not None, problems
    return release


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(0, 0), (100, 10_000), (10, 1000), (12.5, 1250), (0.01, 1), (33.333, 3333), (99.999, 10_000), (0.004, 0), (0.006, 1)],
)
def test_basis_points_round_to_the_nearest_hundredth_of_a_percent(percent: float, expected: int) -> None:
    assert basis_points(percent) == expected
    assert isinstance(basis_points(percent), int)


def test_basis_points_span_zero_to_full() -> None:
    assert basis_points(0) == 0 and basis_points(100) == FULL == 10_000


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "path", "host_header", "address"),
    [
        ("http://model.internal/v1", "http", "model.internal", 80, "/v1", "model.internal", "model.internal:80"),
        ("https://api.example.com/v1/", "https", "api.example.com", 443, "/v1", "api.example.com", "api.example.com:443"),
        ("http://127.0.0.1:8000/v1", "http", "127.0.0.1", 8000, "/v1", "127.0.0.1:8000", "127.0.0.1:8000"),
        ("https://gpu.example.com:8443", "https", "gpu.example.com", 8443, "", "gpu.example.com:8443", "gpu.example.com:8443"),
        ("http://example.com:443/v1", "http", "example.com", 443, "/v1", "example.com:443", "example.com:443"),
        ("https://example.com:80", "https", "example.com", 80, "", "example.com:80", "example.com:80"),
        ("http://[::1]:9000/v1", "http", "::1", 9000, "/v1", "[::1]:9000", "::1:9000"),
        ("https://[2001:db8::1]/v1", "https", "2001:db8::1", 443, "/v1", "[2001:db8::1]", "2001:db8::1:443"),
        ("HTTP://Model.Internal/V1", "http", "model.internal", 80, "/V1", "model.internal", "model.internal:80"),
    ],
)
def test_endpoint_of_parses_what_gateways_address(
    url: str, scheme: str, host: str, port: int, path: str, host_header: str, address: str
) -> None:
    endpoint = endpoint_of(url)
    assert endpoint == Endpoint(scheme, host, port, path)
    assert endpoint.host_header == host_header
    assert endpoint.address == address


def test_default_port_follows_the_scheme() -> None:
    assert Endpoint("http", "a", 1, "").default_port == 80
    assert Endpoint("https", "a", 1, "").default_port == 443
    assert (default_port_of("http"), default_port_of("https"), default_port_of("ftp")) == (80, 443, 80)


def test_percentages_of_weights_read_as_the_weights_did() -> None:
    """served_percent and mirror_percent replace `weight / 100` in every gateway: the same float."""
    for weight in range(FULL + 1):
        assert percent_of(weight) == weight / 100, weight
    assert percent_text(percent_of(1250)) == "12.5%" and percent_text(percent_of(1)) == "0.01%"


def test_shares_and_positions_are_worded_once() -> None:
    assert shares_text([("v41", 90.0), ("v42", 10.0)]) == "v41 90%, v42 10%"
    assert shares_text([("`chat@v1`", 87.5)]) == "`chat@v1` 87.5%"
    assert shares_text([]) == ""
    assert percent_text(0.5) == "0.5%" and percent_text(100.0) == "100%"
    assert step_position(2, 4) == "step 2 of 4"
    assert step_label(2, 4, "canary", 10, "1h").startswith(step_position(2, 4) + ": ")


def test_step_text_and_label_wording() -> None:
    assert step_text("canary", 10) == "canary 10%"
    assert step_text("shadow", 12.5) == "shadow 12.5%"
    assert step_text("canary", 100.0) == "canary 100%"
    assert step_label(2, 4, "canary", 10, "1h") == "step 2 of 4: canary 10%, hold 1h"
    assert step_label(None, 4) == "steady (no rollout)"
    assert step_label(None, 0, "canary", 50, "1h") == "steady (no rollout)"


def _served(state: Any) -> dict[str, int]:
    return {live.version: live.weight for live in state.served}


def test_steady_release_serves_all_from_stable() -> None:
    state = traffic_state(_release())
    assert (state.release, state.public_model, state.gateways) == ("chat", "chat", ("litellm",))
    assert [(live.version, live.role, live.weight, live.mirror_weight) for live in state.live] == [("v1", "stable", FULL, 0)]
    assert state.step is None and state.step_number is None and state.step_count == 2
    assert state.mirrored is None and state.mirror_text is None
    assert state.fallbacks == () and state.fallbacks_of("v1") == ()
    assert [live.version for live in state.answering] == ["v1"]
    assert state.split_text == "v1 100%"
    assert state.step_label == "steady (no rollout)"
    assert state.bundle("v1").digest.startswith("sha256:")
    assert state.bundle("v1").endpoint is None  # a hosted bundle has no api_base
    assert state.bundle("v1").timeout_seconds == 10


def test_steady_release_with_previous_keeps_it_warm_as_the_fallback() -> None:
    state = traffic_state(_release(stable="v2", previous="v1"))
    assert [(live.version, live.role, live.weight) for live in state.live] == [("v2", "stable", FULL), ("v1", "previous", 0)]
    assert _served(state) == {"v2": FULL}
    assert state.fallbacks_of("v2") == ("v1",)
    assert state.fallbacks_of("v1") == ()
    assert state.split_text == "v2 100%"
    assert [live.version for live in state.answering] == ["v2"]


def test_shadow_step_mirrors_without_serving() -> None:
    release = _release(candidate="v2", step=1, steps=[{"shadow": 25, "hold": "30m"}, {"canary": 10, "hold": "1h"}])
    state = traffic_state(release)
    assert _served(state) == {"v1": FULL, "v2": 0}
    assert sum(_served(state).values()) == FULL
    assert state.mirrored is not None and state.mirrored.version == "v2" and state.mirrored.mirror_weight == 2500
    assert state.bundle("v1").mirror_weight == 0
    assert state.mirror_text == "25% mirrored to v2"
    assert [live.version for live in state.answering] == ["v1"]
    assert state.split_text == "v1 100%"
    assert state.step_label == "step 1 of 2: shadow 25%, hold 30m"
    assert state.fallbacks_of("v2") == ("v1",)
    assert state.fallbacks_of("v1") == ()


def test_canary_step_splits_served_traffic() -> None:
    state = traffic_state(_release(candidate="v2", step=2))
    assert [(live.version, live.role) for live in state.live] == [("v1", "stable"), ("v2", "candidate")]
    assert _served(state) == {"v1": 5000, "v2": 5000}
    assert state.mirrored is None and state.mirror_text is None
    assert state.split_text == "v1 50%, v2 50%"
    assert state.step_number == 2 and state.step_label == "step 2 of 2: canary 50%, hold 1h"


def test_a_candidate_without_a_step_is_at_step_one() -> None:
    state = traffic_state(_release(candidate="v2"))
    assert state.step_number == 1
    assert _served(state) == {"v1": 9000, "v2": 1000}
    assert state.split_text == "v1 90%, v2 10%"


@pytest.mark.parametrize("percent", [0, 0.01, 12.345, 50, 99.99, 100])
def test_served_weights_always_sum_to_full(percent: float) -> None:
    state = traffic_state(_release(candidate="v2", step=1, previous="v3", steps=[{"canary": percent, "hold": "1h"}]))
    assert sum(live.weight for live in state.served) == FULL
    assert state.bundle("v2").weight == basis_points(percent)
    assert state.bundle("v3").weight == 0


def test_canary_zero_answers_only_from_stable() -> None:
    state = traffic_state(_release(candidate="v2", step=1, steps=[{"canary": 0, "hold": "1h"}]))
    assert _served(state) == {"v1": FULL, "v2": 0}
    assert [live.version for live in state.answering] == ["v1"]
    assert state.split_text == "v1 100%"
    assert state.step_label == "step 1 of 1: canary 0%, hold 1h"


def test_canary_hundred_answers_only_from_the_candidate_with_stable_still_live() -> None:
    state = traffic_state(_release(candidate="v2", step=1, steps=[{"canary": 100, "hold": "1h"}]))
    assert _served(state) == {"v1": 0, "v2": FULL}
    assert [live.version for live in state.live] == ["v1", "v2"]  # a rollback is only a routing change
    assert [live.version for live in state.answering] == ["v2"]
    assert state.split_text == "v2 100%"
    assert state.fallbacks_of("v2") == ("v1",)


def test_candidate_with_previous_falls_back_candidate_stable_previous() -> None:
    state = traffic_state(_release(stable="v2", candidate="v3", step=1, previous="v1"))
    assert [(live.version, live.role, live.weight) for live in state.live] == [
        ("v2", "stable", 9000),
        ("v3", "candidate", 1000),
        ("v1", "previous", 0),
    ]
    assert [live.version for live in state.served] == ["v2", "v3"]
    assert state.fallbacks == (("v3", ("v2", "v1")), ("v2", ("v1",)))
    assert state.fallbacks_of("v3") == ("v2", "v1")
    assert state.fallbacks_of("v2") == ("v1",)
    assert state.fallbacks_of("v1") == ()
    assert state.fallbacks_of("v9") == ()
    assert state.split_text == "v2 90%, v3 10%"
    assert state.step_label == "step 1 of 2: canary 10%, hold 1h"


def test_fractional_percent_is_shown_without_trailing_zeros() -> None:
    state = traffic_state(_release(candidate="v2", step=1, steps=[{"canary": 12.5, "hold": "1h"}, {"shadow": 0.5, "hold": "1h"}]))
    assert state.split_text == "v1 87.5%, v2 12.5%"
    shadow = traffic_state(_release(candidate="v2", step=2, steps=[{"canary": 12.5, "hold": "1h"}, {"shadow": 0.5, "hold": "1h"}]))
    assert shadow.mirror_text == "0.5% mirrored to v2"
    assert shadow.step_label == "step 2 of 2: shadow 0.5%, hold 1h"


def test_self_hosted_bundle_has_an_endpoint(tmp_path: Path) -> None:
    path = write_live_release(tmp_path, {"v1": 8001, "v2": 8002}, step=1)
    document, problems = load_bytes(path.read_bytes(), "releases/live.yaml")
    assert document is not None, problems
    release, problems = build_release(document)
    assert release is not None, problems
    state = traffic_state(release)
    assert state.bundle("v2").endpoint == Endpoint("http", "127.0.0.1", 8002, "/v1")
    assert state.bundle("v1").timeout_seconds == 5
    assert state.mirror_text == "50% mirrored to v2"
    assert state.step_label == "step 1 of 3: shadow 50%, hold 1m"
    assert (state.bundle("v1").served_percent, state.bundle("v2").served_percent, state.bundle("v2").mirror_percent) == (100, 0, 50)
