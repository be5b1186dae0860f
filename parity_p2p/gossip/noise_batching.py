"""Noise (/noise) with batched socket I/O: the same handshake and wire format, fewer syscalls and awaits.

py-libp2p's Noise session reads each transport message with three or more small socket reads (2-byte length,
then the body in pieces) and sends each 65,519-byte plaintext piece with its own socket write. Per-message Python
overhead, not ChaCha20-Poly1305 (~3 GB/s here), is what limited the update stream (docs/performance.md). This
wrapper keeps py-libp2p's XX handshake untouched, then swaps the session's message reader/writer for one that:

- reads the socket in large chunks and cuts Noise messages out of its own buffer;
- encrypts every message of one `write` and hands the socket a single buffer.

On the wire nothing changes (2-byte length + ciphertext, the same nonces in the same order): peers running the
stock py-libp2p, go-libp2p or js-libp2p Noise read it as usual.
"""

from __future__ import annotations

import trio
from libp2p.abc import IRawConnection, ISecureConn, ISecureTransport
from libp2p.io.abc import EncryptedMsgReadWriter, ReadWriteCloser
from libp2p.peer.id import ID
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH, NoiseTransportReadWriter
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.secure_session import SecureSession
from noise.connection import NoiseConnection

_LENGTH_BYTES = 2
SOCKET_READ_BYTES = 256 * 1024
"""One socket read takes up to ~4 full Noise messages; smaller reads cost an await each, larger ones only memory."""


class BatchedNoiseTransport(ISecureTransport):
    """The stock Noise handshake, then a BatchedNoiseReadWriter under the session. Register under /noise."""

    def __init__(self, inner: NoiseTransport) -> None:
        self._inner = inner

    async def secure_inbound(self, conn: IRawConnection) -> ISecureConn:
        return _rewire(await self._inner.secure_inbound(conn))

    async def secure_outbound(self, conn: IRawConnection, peer_id: ID) -> ISecureConn:
        return _rewire(await self._inner.secure_outbound(conn, peer_id))


def _rewire(session: ISecureConn) -> ISecureConn:
    # The handshake read exactly its own messages (read_exactly), so nothing of the transport phase is buffered
    # in the old reader: handing the raw connection to a new reader loses no byte.
    if isinstance(session, SecureSession) and isinstance(session.conn, NoiseTransportReadWriter):
        session.conn = BatchedNoiseReadWriter(session.conn.read_writer.read_write_closer, session.conn.noise_state)
    return session


class BatchedNoiseReadWriter(EncryptedMsgReadWriter):
    """Noise transport messages over a raw connection, with one socket write per `write_msg` and large reads.

    `read_msg` returns one decrypted message (<= 65,519 bytes) at a time, b"" at end of stream.
    """

    def __init__(self, conn: ReadWriteCloser, noise_state: NoiseConnection) -> None:
        super().__init__(conn)
        self._raw = conn
        self.noise_state = noise_state
        self._pending = b""
        self._offset = 0
        # Nonces are assigned at encryption: encrypt-and-send must not interleave between two writers, or the
        # peer would see nonce n+1 before n and fail to decrypt.
        self._write_lock = trio.Lock()

    def encrypt(self, data: bytes) -> bytes:
        return bytes(self.noise_state.encrypt(data))

    def decrypt(self, data: bytes) -> bytes:
        return bytes(self.noise_state.decrypt(data))

    async def write_msg(self, msg: bytes) -> None:
        if not msg:
            return
        parts: list[bytes] = []
        view = memoryview(msg)
        async with self._write_lock:
            for start in range(0, len(msg), MAX_PLAINTEXT_LENGTH):
                piece = msg if len(msg) <= MAX_PLAINTEXT_LENGTH else bytes(view[start : start + MAX_PLAINTEXT_LENGTH])
                ciphertext = self.encrypt(piece)
                parts.append(len(ciphertext).to_bytes(_LENGTH_BYTES, "big"))
                parts.append(ciphertext)
            await self._raw.write(b"".join(parts))

    async def read_msg(self) -> bytes:
        while True:
            available = len(self._pending) - self._offset
            if available >= _LENGTH_BYTES:
                start = self._offset + _LENGTH_BYTES
                length = int.from_bytes(self._pending[self._offset : start], "big")
                if available >= _LENGTH_BYTES + length:
                    self._offset = start + length
                    return self.decrypt(self._pending[start : self._offset])
            chunk = await self._raw.read(SOCKET_READ_BYTES)
            if not chunk:
                return b""  # SecureSession turns this into ConnectionClosedError
            # Keep only the unparsed tail (less than one message) and append: one small copy per socket read.
            self._pending = self._pending[self._offset :] + chunk
            self._offset = 0

    async def close(self) -> None:
        await self._raw.close()
