"""The promotion controller (impl/controller.py) over the bare core.

Covers: an explicit request drives validation and, on approval, the whole
transition (P6-A2); a denial stops and nothing retries it (P6-F3); duplicate
requests are rejected without disturbing the attempt; unknown candidates and
ill-formed requests are refused with specific errors; every forced request is
audited, even when refused (P6-A1a); every attempt emits start, validation
result and decision (P6-O1) with an explained verdict (P6-O2).
"""

from __future__ import annotations

import pytest
from baton import core
from baton.controller import Controller, CoreDriver, PromotionRequest
from baton.errors import DuplicateRequest, InapplicableRequest, UnknownNode


def controller_after_primary_crash(n: int = 3) -> tuple[Controller, CoreDriver]:
    state, _ = core.step(core.initial_state(n), core.Crash(0))
    driver = CoreDriver(state)
    return Controller(driver), driver


def test_approved_request_runs_to_success() -> None:
    """P6-A2: approval leads to a durable marker, then the candidate is writable."""
    ctl, driver = controller_after_primary_crash()
    result = ctl.request_promotion(PromotionRequest("n1", operator="alice"))
    assert result.state == "PromotionSucceeded" and result.verdict is not None
    assert driver.state.nodes[1].writable and driver.state.nodes[1].durable.epoch == 2
    ops = [e.op for e in driver.log if isinstance(e, core.MarkerFileOp)]
    assert ops == list(core.MARKER_OPS)
    ctl.acknowledge("n1", operator="alice")
    assert driver.state.nodes[1].lifecycle == "Steady"


def test_denied_request_is_not_retried() -> None:
    """P6-F3: a denial stays a denial; one validation per request."""
    driver = CoreDriver(core.initial_state(2))  # the primary is Active
    ctl = Controller(driver)
    result = ctl.request_promotion(PromotionRequest("n1", operator="alice"))
    assert result.state == "PromotionDenied"
    assert result.verdict is not None and result.verdict.reason == "primary_active"
    assert driver.state.nodes[1].record.validations == 1
    with pytest.raises(DuplicateRequest):  # not even the same candidate, until acknowledged
        ctl.request_promotion(PromotionRequest("n1", operator="alice"))
    assert driver.state.nodes[1].record.validations == 1


def test_events_of_an_attempt() -> None:
    """P6-O1/P6-O2: start (request), validation result and decision, explained."""
    ctl, driver = controller_after_primary_crash()
    ctl.request_promotion(PromotionRequest("n2", operator="bob"))
    kinds = [e.kind for e in driver.log if isinstance(e, core.Emit)]
    assert kinds[:3] == ["transition", "transition", "validation"]
    decision = [e for e in driver.log if isinstance(e, core.Emit) and "verdict" in e.data][-1]
    assert decision.data["event"] == "approve"
    assert "P6-S1" in decision.data["verdict"].explanation


def test_unknown_candidate() -> None:
    ctl, driver = controller_after_primary_crash()
    with pytest.raises(UnknownNode) as info:
        ctl.request_promotion(PromotionRequest("n9", operator="alice"))
    assert info.value.known == ("n0", "n1", "n2")
    assert driver.state.in_flight() is None


def test_ill_formed_request_is_rejected_through_the_lifecycle() -> None:
    """No operator identity: request then reject, back to Steady, explicit error."""
    ctl, driver = controller_after_primary_crash()
    with pytest.raises(InapplicableRequest, match="no operator identity"):
        ctl.request_promotion(PromotionRequest("n1", operator=" "))
    events = [e.data.get("event") for e in driver.log if isinstance(e, core.Emit)]
    assert events == ["request", "reject"]
    assert driver.state.nodes[1].lifecycle == "Steady"


def test_request_for_a_down_node_is_inapplicable() -> None:
    ctl, driver = controller_after_primary_crash()
    with pytest.raises(InapplicableRequest, match="down"):
        ctl.request_promotion(PromotionRequest("n0", operator="alice"))
    assert driver.log == []


def test_forced_requests_are_audited_even_when_refused() -> None:
    """P6-A1a: the audit record exists for every forced request."""
    driver = CoreDriver(core.initial_state(2))
    ctl = Controller(driver)
    result = ctl.request_promotion(
        PromotionRequest("n1", operator="carol", force=True, reason="n0 looks dead")
    )
    assert result.verdict is not None
    assert result.verdict.reason == "force_cannot_override_active_primary"
    assert [a.operator for a in driver.audits] == ["carol"]


def test_forced_promotion_over_unknown_primary() -> None:
    """P6-A1a: force stands in for a primary of Unknown status."""
    ctl, _driver = controller_after_primary_crash()
    req = PromotionRequest("n1", operator="carol", force=True, primary_uncertain=True)
    assert ctl.request_promotion(req).state == "PromotionSucceeded"
    unforced = PromotionRequest("n2", operator="carol", primary_uncertain=True)
    ctl.acknowledge("n1", operator="alice")
    driver2 = CoreDriver(core.step(core.initial_state(3), core.Crash(0))[0])
    result = Controller(driver2).request_promotion(unforced)
    assert result.verdict is not None and result.verdict.reason == "primary_status_unknown"
