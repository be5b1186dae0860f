"""Noise (/noise) with batched socket I/O: the same handshake and wire format, fewer syscalls, awaits and copies.

py-libp2p's Noise session reads each transport message with three or more small socket reads (2-byte length,
then the body in pieces), sends each 65,519-byte plaintext piece with its own socket write, and copies every
piece on the way in and out. Per-message Python overhead, not ChaCha20-Poly1305 (~3 GB/s here), is what limited
the update stream (docs/performance.md). This wrapper keeps py-libp2p's XX handshake untouched, then swaps the
session's message reader/writer for one that:

- reads the socket in large chunks into one reused buffer (recv_into) and decrypts every complete message in it
  at once (memoryview slices of the buffer, no copies); `read_msg` then hands them out one by one;
- encrypts every message of one `write` straight into one output buffer (`encrypt_into`, no slicing copies) and
  hands the socket that single buffer.

On the wire nothing changes (2-byte length + ciphertext; ChaCha20-Poly1305, nonce = 4 zero bytes + the 64-bit
little-endian counter, empty associated data: the Noise spec's ChaChaPoly, continuing the handshake's counters).
Peers running the stock py-libp2p, go-libp2p or js-libp2p Noise read it as usual.
"""

from __future__ import annotations

import struct
from collections import deque

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from libp2p.abc import IRawConnection, ISecureConn, ISecureTransport
from libp2p.io.abc import EncryptedMsgReadWriter, ReadWriteCloser
from libp2p.peer.id import ID
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH, NoiseTransportReadWriter
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.secure_session import SecureSession
from noise.backends.default.ciphers import ChaCha20Cipher
from noise.connection import NoiseConnection
from noise.state import CipherState

from .errors import NoiseTransportError

_LENGTH = struct.Struct(">H")
_TAG_BYTES = 16
_MAX_NONCE = 2**64 - 1  # reserved by the Noise spec (rekey); a connection never gets near it
SOCKET_READ_BYTES = 1024 * 1024
"""One socket read takes up to ~16 full Noise messages: fewer awaits per byte; the buffer is bounded by this."""


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
    # in the old reader: handing the raw connection to a new reader loses no byte. Only the ChaChaPoly suite
    # (the one libp2p specifies) is taken over; anything else keeps py-libp2p's reader.
    if isinstance(session, SecureSession) and isinstance(session.conn, NoiseTransportReadWriter):
        protocol = session.conn.noise_state.noise_protocol
        ciphers = (protocol.cipher_state_encrypt, protocol.cipher_state_decrypt)
        if all(isinstance(state, CipherState) and isinstance(state.cipher, ChaCha20Cipher) for state in ciphers):
            session.conn = BatchedNoiseReadWriter(
                session.conn.read_writer.read_write_closer,
                session.conn.noise_state,
                CipherDirection(*_key_and_nonce(ciphers[0])),
                CipherDirection(*_key_and_nonce(ciphers[1])),
            )
    return session


def _key_and_nonce(state: CipherState) -> tuple[bytes, int]:
    return bytes(state.k), int(state.n)


class CipherDirection:
    """ChaCha20-Poly1305 with the Noise nonce counter of one direction."""

    def __init__(self, key: bytes, nonce: int) -> None:
        self.aead = ChaCha20Poly1305(key)
        self.nonce = nonce

    def next_nonce(self) -> bytes:
        if self.nonce >= _MAX_NONCE:
            raise NoiseTransportError("nonce space exhausted")
        nonce = b"\x00\x00\x00\x00" + self.nonce.to_bytes(8, "little")
        self.nonce += 1
        return nonce


def _trio_socket_of(conn: ReadWriteCloser) -> trio.socket.SocketType | None:
    """The TCP socket under py-libp2p's RawConnection -> TrioTCPStream -> trio.SocketStream, if that is what
    `conn` is; reading it directly (we are its only reader after the handshake) allows recv_into."""
    tcp_stream = getattr(getattr(conn, "stream", None), "stream", None)
    return tcp_stream.socket if isinstance(tcp_stream, trio.SocketStream) else None


class BatchedNoiseReadWriter(EncryptedMsgReadWriter):
    """Noise transport messages over a raw connection: one socket write per `write_msg`, large reads.

    `read_msg` returns the plaintext of the next message (never empty), b"" at end of
    stream; a message that fails authentication raises NoiseTransportError (the connection is then useless).
    """

    def __init__(
        self, conn: ReadWriteCloser, noise_state: NoiseConnection, sending: CipherDirection, receiving: CipherDirection
    ) -> None:
        super().__init__(conn)
        self._raw = conn
        self.noise_state = noise_state
        self._sending = sending
        self._receiving = receiving
        # The inbox holds at most one incomplete message (< 64 KiB) plus one socket read.
        self._inbox = bytearray(SOCKET_READ_BYTES + _LENGTH.size + 2**16)
        self._kept = 0
        self._socket = _trio_socket_of(conn)
        self._ready: deque[bytes] = deque()
        # Nonces are assigned at encryption: encrypt-and-send must not interleave between two writers, or the
        # peer would see nonce n+1 before n and fail to decrypt.
        self._write_lock = trio.Lock()

    def encrypt(self, data: bytes) -> bytes:
        return self._sending.aead.encrypt(self._sending.next_nonce(), data, None)

    def decrypt(self, data: bytes) -> bytes:
        try:
            return self._receiving.aead.decrypt(self._receiving.next_nonce(), data, None)
        except InvalidTag:
            raise NoiseTransportError("message failed authentication") from None

    async def write_msg(self, msg: bytes) -> None:
        if not msg:
            return
        count = -(-len(msg) // MAX_PLAINTEXT_LENGTH)
        out = bytearray(len(msg) + count * (_LENGTH.size + _TAG_BYTES))
        source, target = memoryview(msg), memoryview(out)
        aead = self._sending.aead
        async with self._write_lock:
            position = 0
            for start in range(0, len(msg), MAX_PLAINTEXT_LENGTH):
                piece = source[start : start + MAX_PLAINTEXT_LENGTH]
                sealed = len(piece) + _TAG_BYTES
                _LENGTH.pack_into(out, position, sealed)
                position += _LENGTH.size
                aead.encrypt_into(self._sending.next_nonce(), piece, None, target[position : position + sealed])
                position += sealed
            await self._raw.write(out)  # type: ignore[arg-type]  # any bytes-like object goes to the socket

    async def read_msg(self) -> bytes:
        while not self._ready:
            received = await self._fill_inbox()
            if not received:
                return b""  # SecureSession turns this into ConnectionClosedError
            self._open()
        return self._ready.popleft()

    async def _fill_inbox(self) -> int:
        """Append socket bytes after the kept tail; the number of new bytes, 0 at end of stream."""
        space = memoryview(self._inbox)[self._kept :]
        if self._socket is not None:
            # Into the same buffer every time: recv() would allocate (and page-fault) a fresh MiB per call,
            # which cost more than the decryption.
            received = await self._socket.recv_into(space)
        else:
            chunk = await self._raw.read(len(space))
            received = len(chunk)
            space[:received] = chunk
        self._kept += received
        return received

    def _open(self) -> None:
        """Decrypt every complete message in the inbox (each into its own buffer, so a slice kept by a slow
        stream pins at most one message); move the incomplete rest to the inbox's front."""
        inbox = memoryview(self._inbox)[: self._kept]
        aead = self._receiving.aead
        offset = 0
        while self._kept - offset >= _LENGTH.size:
            (sealed,) = _LENGTH.unpack_from(inbox, offset)
            if sealed < _TAG_BYTES:
                raise NoiseTransportError(f"message of {sealed} bytes is shorter than its tag")
            start = offset + _LENGTH.size
            if self._kept - start < sealed:
                break
            try:
                # decrypt() writes into a fresh bytes object: a zero-filled bytearray for decrypt_into cost one
                # more pass over memory that is, for a large frame, all fresh pages.
                plaintext = aead.decrypt(self._receiving.next_nonce(), inbox[start : start + sealed], None)
            except InvalidTag:
                raise NoiseTransportError("message failed authentication") from None
            if plaintext:
                self._ready.append(plaintext)
            offset = start + sealed
        if offset:
            # The tail is less than one message: a small move, and the inbox always has room for a full read.
            self._inbox[: self._kept - offset] = inbox[offset:]
            self._kept -= offset

    async def close(self) -> None:
        await self._raw.close()
