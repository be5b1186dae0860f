"""Deployments: saved/loaded as JSON; refused on a wrong chain id, on missing code, and after a devnet reset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.anvil import AnvilProcess
from fixtures.devchain import FAST_POLICY, MIN_STAKE, UNSTAKE_COOLDOWN, DevChain

from parity_p2p.chain import (
    ChainClient,
    ChainIdMismatchError,
    Deployment,
    DeploymentError,
    JsonRpc,
    MissingCodeError,
    WiringMismatchError,
    deploy,
    load_deployment,
)


async def test_deployment_is_wired(dev_chain: DevChain) -> None:
    d = dev_chain.deployment
    async with await dev_chain.client() as client:
        assert await client.registry.session_manager() == d.session_manager
        assert await client.registry.token() == d.token
        assert await client.registry.min_stake() == MIN_STAKE
        assert await client.registry.unstake_cooldown() == UNSTAKE_COOLDOWN
        assert await client.sessions.registry() == d.registry
        domain = await client.sessions.eip712_domain()
        assert (domain.name, domain.version, domain.chain_id) == ("ParityP2P", "1", d.chain_id)
        assert domain.verifying_contract == d.session_manager
        assert d.deploy_block <= await client.block_number()


async def test_save_and_load_round_trip(dev_chain: DevChain, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    dev_chain.deployment.save(path)
    assert Deployment.load(path) == dev_chain.deployment
    assert await load_deployment(path) == dev_chain.deployment  # checked against the node in the file


async def test_addresses_of_another_deployment_are_refused(dev_chain: DevChain) -> None:
    d = dev_chain.deployment
    swapped = replace(d, token=d.registry, registry=d.token)  # code everywhere, wrong contracts
    with pytest.raises(WiringMismatchError) as caught:
        await ChainClient.connect(swapped, rpc_url=dev_chain.url)
    assert caught.value.contract == "SessionManager"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "malformed"),
        ('{"version": 99}', "format version"),
        ('{"version": 1, "chain_id": 1}', "malformed"),
        (
            '{"version": 1, "chain_id": 1, "token": "0x12", "registry": "0x12", "session_manager": "0x12", '
            '"deploy_block": 0}',
            "not an address",
        ),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DeploymentError, match=message):
        Deployment.load(path)
    with pytest.raises(DeploymentError, match="cannot read"):
        Deployment.load(tmp_path / "absent.json")


async def test_wrong_chain_id_is_refused(dev_chain: DevChain) -> None:
    with pytest.raises(ChainIdMismatchError) as caught:
        await ChainClient.connect(replace(dev_chain.deployment, chain_id=314159), rpc_url=dev_chain.url)
    assert (caught.value.expected, caught.value.actual) == (314159, dev_chain.node.chain_id)


async def test_address_without_code_is_refused(dev_chain: DevChain) -> None:
    empty = "0x" + "42" * 20
    with pytest.raises(MissingCodeError) as caught:
        await ChainClient.connect(replace(dev_chain.deployment, registry=empty), rpc_url=dev_chain.url)
    assert caught.value.contract == "RunnerRegistry"
    assert "redeploy" in str(caught.value)


async def test_deployment_refused_after_devnet_restart(anvil_factory: Callable[..., AnvilProcess]) -> None:
    """An in-memory chain forgets everything on restart; the same addresses then hold no code."""
    process = anvil_factory()
    node = process.start()
    async with JsonRpc(node.url) as rpc:
        deployment = await deploy(rpc, node.accounts[0], min_stake=1, unstake_cooldown=1, policy=FAST_POLICY)
    async with await ChainClient.connect(deployment) as client:  # rpc_url saved in the deployment
        assert await client.token.decimals() == 18
    process.stop()
    process.start()
    with pytest.raises(MissingCodeError):
        await ChainClient.connect(deployment)
