"""Typed errors of the learning core: one base, narrow subclasses that carry data.

Every error keeps its constructor arguments in ``args`` so it pickles (worker processes) and
compares by content in tests.
"""

from __future__ import annotations

from typing import ClassVar


class LearningError(Exception):
    """Base of every error raised by ``parity_p2p.learning``."""

    exit_code: ClassVar[int] = 2


class ModelConfigError(LearningError):
    """The model config is invalid; ``field`` is a dotted path such as ``architecture.layers[3].units``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"model config: {self.field}: {self.reason}"


class DatasetError(LearningError):
    """A dataset is unusable (wrong shapes, empty, indices out of range)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"dataset: {self.reason}"


class CsvError(DatasetError):
    """A CSV file cannot be parsed; ``line`` is 1-based (the header is line 1)."""

    def __init__(self, line: int, reason: str) -> None:
        LearningError.__init__(self, line, reason)
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return f"CSV line {self.line}: {self.reason}"


class PartitionError(LearningError):
    """The requested data partition is invalid or impossible; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"partition: {self.reason}"


class ExportError(LearningError):
    """An exported model file cannot be written or read back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"model export: {self.reason}"


class UpdateRejected(LearningError):
    """Untrusted update or model bytes were refused.

    ``reason_code`` is a short stable token (for logs, metrics and wire messages); ``detail`` is for humans.
    Catch this base to handle every rejection; the subclasses name each reason.
    """

    reason_code: str

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(reason_code, detail)
        self.reason_code = reason_code
        self.detail = detail

    def __str__(self) -> str:
        return f"update rejected ({self.reason_code}): {self.detail}"


class _Rejection(UpdateRejected):
    """A rejection whose reason code is fixed by its class."""

    CODE: ClassVar[str] = "rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(self.CODE, detail)
        # args must rebuild the instance through this class's one-argument constructor.
        self.args = (detail,)


class TooLarge(_Rejection):
    """The bytes, or their header, exceed the configured cap."""

    CODE = "too_large"


class BadHeader(_Rejection):
    """The safetensors framing or header is malformed (truncated, not JSON, bad offsets, unknown dtype)."""

    CODE = "bad_header"


class UnknownTensor(_Rejection):
    """A tensor name that the global model does not have."""

    CODE = "unknown_tensor"


class MissingTensor(_Rejection):
    """A tensor of the global model is absent."""

    CODE = "missing_tensor"


class ShapeMismatch(_Rejection):
    """A tensor's shape differs from the expected one."""

    CODE = "shape_mismatch"


class DtypeMismatch(_Rejection):
    """A tensor's dtype differs from the expected one."""

    CODE = "dtype_mismatch"


class NonFinite(_Rejection):
    """A tensor holds NaN or infinity."""

    CODE = "non_finite"


class NormTooLarge(_Rejection):
    """The update's global L2 norm exceeds the bound."""

    CODE = "norm_too_large"


class BadMetadata(_Rejection):
    """The metadata is missing, not valid JSON, or does not follow the schema."""

    CODE = "bad_metadata"
