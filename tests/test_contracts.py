"""Each activity contract is what its implementation registers: same name, same request and response
types, once — so a workflow's typed call and the worker agree by construction, configured or not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import KubeActivities, KubeGateway
from activities.metrics import PrometheusSource
from activities.notify import LocalSink
from activities.registry import build_activities
from warroom.contracts import ansible, kubernetes, metrics, notify, phases, sequence, steps
from warroom.contracts.base import AnyContract
from warroom.runbook import load_runbook

CONTRACTS: list[AnyContract] = [
    *kubernetes.ALL,
    *ansible.ALL,
    *metrics.ALL,
    *notify.ALL,
    *phases.ALL,
    *sequence.ALL,
    *steps.ALL,
]


def definitions(acts: list[Callable[..., Any]]) -> dict[str, activity._Definition]:
    found: dict[str, activity._Definition] = {}
    for fn in acts:
        definition = activity._Definition.must_from_callable(fn)
        assert definition.name not in found, f"{definition.name} registered twice"
        assert definition.name is not None
        found[definition.name] = definition
    return found


def configured(tmp_path: Path) -> list[Callable[..., Any]]:
    gateway = KubeGateway(client.ApiClient(client.Configuration()))  # never called: no request is made
    source = PrometheusSource("http://127.0.0.1:9", load_runbook().metrics)
    return build_activities(LocalSink(tmp_path), metrics=source, kube_activities=KubeActivities(gateway).all())


def test_contract_names_are_unique_and_policies_name_no_error_types() -> None:
    assert len({c.name for c in CONTRACTS}) == len(CONTRACTS)
    # The failure itself says whether a retry can help (ActivityFailure.retryable → non_retryable).
    assert all(not c.retry.non_retryable_error_types for c in CONTRACTS)


def test_a_configured_worker_implements_every_contract_with_its_types(tmp_path: Path) -> None:
    found = definitions(configured(tmp_path))
    assert set(found) == {c.name for c in CONTRACTS}
    for contract in CONTRACTS:
        definition = found[contract.name]
        assert definition.arg_types == [contract.request], contract.name
        assert definition.ret_type is contract.response, contract.name


def test_an_unconfigured_worker_still_registers_every_contract(tmp_path: Path) -> None:
    found = definitions(build_activities(LocalSink(tmp_path)))
    assert set(found) == {c.name for c in CONTRACTS}


@pytest.mark.parametrize("contract", [*kubernetes.ALL, *metrics.ALL, *steps.KUBE, *steps.METRICS], ids=lambda c: c.name)
async def test_a_stand_in_fails_at_once_and_for_good(contract: AnyContract, tmp_path: Path) -> None:
    stand_in = definitions(build_activities(LocalSink(tmp_path)))[contract.name].fn
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(stand_in, {})
    assert (caught.value.type, caught.value.non_retryable) == ("NotConfigured", True)
    assert contract.name in caught.value.message
