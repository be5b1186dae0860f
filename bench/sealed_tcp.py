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
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH

_SIZE = struct.Struct(">Q")
_LENGTH = struct.Struct(">H")
_TAG = 16
_KEY = bytes(range(32))
_BATCH = 16  # messages per socket write: ~1 MiB, as the node's Noise writer batches


def _nonce(counter: int) -> bytes:
    return b"\x00\x00\x00\x00" + counter.to_bytes(8, "little")


async def send_sealed(stream: trio.SocketStream, data: bytes, counter: int) -> int:
    """Send `data` as a size prefix and sealed messages; the next nonce counter."""
    aead = ChaCha20Poly1305(_KEY)
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
            aead.encrypt_into(_nonce(counter), piece, None, target[position : position + len(piece) + _TAG])
            counter += 1
            position += len(piece) + _TAG
        await stream.send_all(out)
    return counter


async def receive_sealed(stream: trio.SocketStream) -> None:
    """Serve one connection: for each size prefix, decrypt that many bytes into one kept buffer, ack with one byte."""
    aead = ChaCha20Poly1305(_KEY)
    inbox = bytearray(1 << 21)
    view = memoryview(inbox)
    kept_bytes = 0  # bytes at the inbox's front not consumed yet
    counter = 0

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
                aead.decrypt_into(_nonce(counter), view[start : start + sealed], None, target[done : done + plain])
                counter += 1
                done += plain
                offset = start + sealed
            if offset:
                consume(offset)
            elif not await fill(kept_bytes + 1):  # an incomplete message (or none yet): more bytes, or the end
                raise RuntimeError(f"sender closed after {done} of {size} bytes")
        target.release()
        del update
        await stream.send_all(b"\x01")
