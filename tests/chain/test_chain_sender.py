"""Transaction sending: a lost broadcast is never sent twice, nonces survive another sender on the same key,
receipt timeouts leave the transaction findable."""

from __future__ import annotations

import pytest
import trio
from fixtures.anvil import rpc
from fixtures.devchain import DevChain
from fixtures.lossy_proxy import LossyProxy, once

from parity_p2p.chain import ChainClient, ContractRevert, NoSignerError, ReceiptTimeoutError, TxPolicy

AMOUNT = 5 * 10**18
RETRY_POLICY = TxPolicy(receipt_timeout=20.0, poll_interval=0.01, retry_backoff=0.05)


def nonce_of(dev_chain: DevChain, address: str) -> int:
    return int(rpc(dev_chain.url, "eth_getTransactionCount", [address, "latest"]), 16)


@pytest.mark.parametrize("loss", ["answer", "request"])
async def test_lost_broadcast_is_sent_exactly_once(dev_chain: DevChain, loss: str) -> None:
    account = dev_chain.accounts[6]
    proxy = LossyProxy(dev_chain.url)
    if loss == "answer":
        proxy.lose_answer = once("eth_sendRawTransaction")
    else:
        proxy.lose_request = once("eth_sendRawTransaction")
    async with trio.open_nursery() as nursery:
        url = await nursery.start(proxy.serve)
        client = await ChainClient.connect(dev_chain.deployment, rpc_url=url, account=account, policy=RETRY_POLICY)
        async with client:
            before_nonce = nonce_of(dev_chain, account.address)
            before = await client.token.balance_of(account.address)
            receipt = await client.token.faucet(AMOUNT)
            assert await client.token.balance_of(account.address) == before + AMOUNT
            assert nonce_of(dev_chain, account.address) == before_nonce + 1
            # After a lost answer the sender asked by hash and did not resend; after a lost request it resent.
            sends = proxy.seen.count("eth_sendRawTransaction")
            assert sends == (1 if loss == "answer" else 2)
            assert "eth_getTransactionByHash" in proxy.seen
            # The next transaction uses the next nonce.
            second = await client.token.faucet(AMOUNT)
            assert second.block_number > receipt.block_number
            assert nonce_of(dev_chain, account.address) == before_nonce + 2
        nursery.cancel_scope.cancel()


async def test_another_sender_on_the_same_key(dev_chain: DevChain) -> None:
    account = dev_chain.accounts[7]
    a = await dev_chain.client(account)
    b = await dev_chain.client(account)
    async with a, b:
        start = nonce_of(dev_chain, account.address)
        # Distinct amounts: identical calls signed with the same nonce and fees would be the same transaction.
        await a.token.faucet(1)  # a caches nonce start+1
        await b.token.faucet(2)  # b reads start+1 from the node and uses it
        await a.token.faucet(4)  # a's cached nonce is now too low: it re-signs with a fresh one
        assert nonce_of(dev_chain, account.address) == start + 3
        assert await a.token.balance_of(account.address) == 7


async def test_receipt_timeout_then_found(dev_chain: DevChain) -> None:
    account = dev_chain.accounts[8]
    policy = TxPolicy(receipt_timeout=0.3, poll_interval=0.02)
    async with await ChainClient.connect(
        dev_chain.deployment, rpc_url=dev_chain.url, account=account, policy=policy
    ) as client:
        rpc(dev_chain.url, "evm_setAutomine", [False])
        try:
            with pytest.raises(ReceiptTimeoutError) as caught:
                await client.token.faucet(AMOUNT)
            rpc(dev_chain.url, "evm_mine")
        finally:
            rpc(dev_chain.url, "evm_setAutomine", [True])
        assert client.sender is not None
        receipt = await client.sender.wait_for_receipt(caught.value.tx_hash, timeout=5.0)
        assert int(receipt["status"], 16) == 1
        assert await client.token.balance_of(account.address) == AMOUNT


async def test_read_only_client_cannot_send(dev_chain: DevChain) -> None:
    async with await dev_chain.client() as client:
        with pytest.raises(NoSignerError):
            await client.token.faucet(1)



async def test_concurrent_sends_from_one_client_get_distinct_nonces(dev_chain: DevChain) -> None:
    account = dev_chain.accounts[9]
    async with await dev_chain.client(account) as client:
        start = nonce_of(dev_chain, account.address)
        async with trio.open_nursery() as nursery:
            for amount in range(1, 11):
                nursery.start_soon(client.token.faucet, amount)
        assert nonce_of(dev_chain, account.address) == start + 10
        assert await client.token.balance_of(account.address) == sum(range(1, 11))


async def test_a_mined_failure_is_decoded_from_a_replay(dev_chain: DevChain) -> None:
    """With gas given, nothing is estimated: the transaction is mined with status 0 and its reason recovered."""
    account = dev_chain.accounts[9]
    async with await dev_chain.client(account) as client:
        start = nonce_of(dev_chain, account.address)
        with pytest.raises(ContractRevert) as caught:
            await client.sessions.transact("claim", gas=200_000)
        assert (caught.value.name, caught.value.args) == ("NothingToClaim", (account.address,))
        assert nonce_of(dev_chain, account.address) == start + 1  # it was mined, and failed


async def test_cancelled_broadcast_never_reuses_its_nonce(dev_chain: DevChain) -> None:
    """A send cancelled after the node took the tx (still pending: no automine) must not make the next send
    reuse that nonce, which would replace or be refused against the pending transaction."""
    account = dev_chain.accounts[5]
    proxy = LossyProxy(dev_chain.url, delay_answer=once("eth_sendRawTransaction"), delay=2.0)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(proxy.serve)
        client = await ChainClient.connect(dev_chain.deployment, rpc_url=url, account=account, policy=RETRY_POLICY)
        async with client:
            start = nonce_of(dev_chain, account.address)
            rpc(dev_chain.url, "evm_setAutomine", [False])
            try:
                with trio.move_on_after(0.5) as scope:
                    await client.token.faucet(1)
                assert scope.cancelled_caught
                async with trio.open_nursery() as senders:
                    senders.start_soon(client.token.faucet, 2)
                    with trio.fail_after(10):
                        while int(rpc(dev_chain.url, "txpool_status")["pending"], 16) < 2:
                            await trio.sleep(0.05)
                    rpc(dev_chain.url, "evm_mine")
            finally:
                rpc(dev_chain.url, "evm_setAutomine", [True])
            assert nonce_of(dev_chain, account.address) == start + 2
            assert await client.token.balance_of(account.address) == 3
        nursery.cancel_scope.cancel()
