"""JSON-RPC batches: several reads in one exchange, in call order, with per-call errors and a fallback for nodes
that refuse batches (SessionManagerClient.round_progress is checked in test_chain_session_flow.py)."""

from __future__ import annotations

import pytest
import trio
from fixtures.devchain import DevChain
from fixtures.lossy_proxy import LossyProxy, once

from parity_p2p.chain.errors import RpcError
from parity_p2p.chain.rpc import JsonRpc


async def test_a_batch_answers_in_call_order_in_one_exchange(dev_chain: DevChain) -> None:
    proxy = LossyProxy(dev_chain.url)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(proxy.serve)
        async with JsonRpc(url) as rpc:
            account = dev_chain.accounts[1].address
            chain_id, block, balance = await rpc.batch(
                [("eth_chainId", []), ("eth_blockNumber", []), ("eth_getBalance", [account, "latest"])]
            )
            assert int(chain_id, 16) == dev_chain.deployment.chain_id
            assert int(block, 16) == await rpc.block_number()
            assert int(balance, 16) == int(await rpc.request("eth_getBalance", [account, "latest"]), 16)
            assert proxy.batches == 1

            # One call failing raises its own error; a batch is for reads only.
            with pytest.raises(RpcError) as caught:
                await rpc.batch([("eth_chainId", []), ("eth_getBlockByNumber", ["not a block", False])])
            assert caught.value.method == "eth_getBlockByNumber"
            with pytest.raises(ValueError, match="reads only"):
                await rpc.batch([("eth_chainId", []), ("eth_sendRawTransaction", ["0x00"])])

            # A dropped connection is asked again, like any read.
            proxy.lose_answer = once("eth_blockNumber")
            before = proxy.batches
            (number,) = await rpc.batch([("eth_blockNumber", [])])
            assert int(number, 16) == await rpc.block_number() and proxy.batches == before + 2
        nursery.cancel_scope.cancel()


async def test_a_node_that_refuses_batches_is_asked_one_call_at_a_time(dev_chain: DevChain) -> None:
    proxy = LossyProxy(dev_chain.url, refuse_batches=True)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(proxy.serve)
        async with JsonRpc(url) as rpc:
            chain_id, block = await rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
            assert int(chain_id, 16) == dev_chain.deployment.chain_id and int(block, 16) > 0
            assert proxy.batches == 1 and proxy.seen[-2:] == ["eth_chainId", "eth_blockNumber"]
        nursery.cancel_scope.cancel()
