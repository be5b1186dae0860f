"""Float updates to ring elements and back: clip, scale to [0, 2^bits - 1], round, weight by the sample count.

The weight n_i is folded in before masking (runner sends n_i * q(x_i) + masks) so the unmasked sum is
sum n_i q(x_i); with the public sum of n_i the aggregator recovers FedAvg's weighted mean:
    mean = (S / N) * step - clip        (S: the ring sum, N: sum of n_i, step = 2 clip / (2^bits - 1))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from parity_p2p.secagg.errors import QuantizationError
from parity_p2p.secagg.params import SecAggParams

Floats = npt.NDArray[np.floating]
Words = npt.NDArray[np.unsignedinteger]


def quantize(params: SecAggParams, vector: Floats, rng: np.random.Generator | None = None) -> Words:
    """Each coordinate clipped to [-clip, clip] and mapped to an integer in [0, levels]."""
    values = np.asarray(vector, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise QuantizationError(f"expected a non-empty flat vector, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise QuantizationError("the vector has NaN or infinite entries")
    scaled = (np.clip(values, -params.clip, params.clip) + params.clip) / params.step
    if params.rounding == "nearest":
        rounded = np.rint(scaled)
    else:
        generator = rng if rng is not None else np.random.default_rng()
        rounded = np.floor(scaled + generator.random(scaled.shape))  # up with probability = the fraction: unbiased
    return np.clip(rounded, 0, params.levels).astype(params.word_dtype)


def weighted(params: SecAggParams, quantized: Words, weight: int) -> Words:
    """n_i * q(x_i) in the ring; refused when one weight alone could wrap it."""
    check_weight(params, weight)
    return quantized * params.word_dtype(weight)


def check_weight(params: SecAggParams, weight: int) -> None:
    if type(weight) is not int or weight < 1:
        raise QuantizationError(f"the weight (sample count) must be an integer >= 1, got {weight!r}")
    if weight > params.max_total_weight:
        raise QuantizationError(f"weight {weight} exceeds {params.max_total_weight}, the most {params.bits} bits allow")


def dequantize_mean(params: SecAggParams, total: Words, total_weight: int) -> npt.NDArray[np.float64]:
    """The weighted mean of the clipped inputs from the unmasked ring sum and the sum of the weights."""
    if total_weight < 1:
        raise QuantizationError(f"total weight must be >= 1, got {total_weight}")
    if total_weight > params.max_total_weight:
        raise QuantizationError(f"total weight {total_weight} exceeds the ring's {params.max_total_weight}")
    # S < 2^64 exactly; float64 holds it to 53 bits, far below one quantization step after dividing by N.
    return total.astype(np.float64) / total_weight * params.step - params.clip
