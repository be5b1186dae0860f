"""The floor of any encrypted stream here: plain TCP carrying ChaCha20-Poly1305 messages of Noise's size.

No handshake, no multiplexing, no framing beyond Noise's own (2-byte length + ciphertext): the sender seals the
bytes in 65,519-byte pieces, 1 MiB of messages per socket write; the receiver reads into one reused buffer and
decrypts each message straight into the buffer that keeps the update (no other copy). What separates this from
plain TCP is the cost of encryption and of holding the bytes, which no update stream can avoid; what separates
/parity/update/1.0.0 from it is everything libp2p adds. The key is a constant: this measures speed, not secrecy.
"""

from __future__ import annotations

import struct

import trio
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH

from parity_p2p.gossip.noise_batching import CipherDirection

_SIZE = struct.Struct(">Q")
_LENGTH = struct.Struct(">H")
_TAG = 16
_KEY = bytes(range(32))
_BATCH = 16  # messages per socket write: ~1 MiB, as the node's Noise writer batches


def sealing() -> CipherDirection:
    """One direction's cipher and nonce counter, as the node's Noise writer keeps them (one per connection)."""
    return CipherDirection(_KEY, 0)


async def send_sealed(stream: trio.SocketStream, data: bytes, cipher: CipherDirection) -> None:
    """Send `data` as a size prefix and sealed messages."""
    await stream.send_all(_SIZE.pack(len(data)))
    source = memoryview(data)
    step = MAX_PLAINTEXT_LENGTH * _BATCH
    for batch_start in range(0, len(data), step):
        batch = source[batch_start : batch_start + step]
        pieces = range(0, len(batch), MAX_PLAINTEXT_LENGTH)
        out = bytearray(len(batch) + len(pieces) * (_LENGTH.size + _TAG))
        target = memoryview(out)
        position = 0
        for start in pieces:
            piece = batch[start : start + MAX_PLAINTEXT_LENGTH]
            _LENGTH.pack_into(out, position, len(piece) + _TAG)
            position += _LENGTH.size
            cipher.aead.encrypt_into(cipher.next_nonce(), piece, None, target[position : position + len(piece) + _TAG])
            position += len(piece) + _TAG
        await stream.send_all(out)


async def receive_sealed(stream: trio.SocketStream) -> None:
    """Serve one connection: for each size prefix, decrypt that many bytes into one kept buffer, ack with one byte."""
    cipher = sealing()
    inbox = bytearray(1 << 21)
    view = memoryview(inbox)
    kept_bytes = 0  # bytes at the inbox's front not consumed yet

    async def fill(need: int) -> bool:
        nonlocal kept_bytes
        while kept_bytes < need:
            received = await stream.socket.recv_into(view[kept_bytes:])
            if not received:
                return False
            kept_bytes += received
        return True

    def consume(count: int) -> None:
        nonlocal kept_bytes
        inbox[: kept_bytes - count] = view[count:kept_bytes]
        kept_bytes -= count

    while await fill(_SIZE.size):
        (size,) = _SIZE.unpack_from(inbox)
        consume(_SIZE.size)
        update = bytearray(size)
        target = memoryview(update)
        done = 0
        while done < size:
            offset = 0
            # Every complete message in the inbox, then one move of the incomplete rest to its front.
            while done < size and kept_bytes - offset >= _LENGTH.size:
                (sealed,) = _LENGTH.unpack_from(inbox, offset)
                if kept_bytes - offset - _LENGTH.size < sealed:
                    break
                start = offset + _LENGTH.size
                plain = sealed - _TAG
                cipher.aead.decrypt_into(
                    cipher.next_nonce(), view[start : start + sealed], None, target[done : done + plain]
                )
                done += plain
                offset = start + sealed
            if offset:
                consume(offset)
            elif not await fill(kept_bytes + 1):  # an incomplete message (or none yet): more bytes, or the end
                raise RuntimeError(f"sender closed after {done} of {size} bytes")
        target.release()
        del update
        await stream.send_all(b"\x01")
