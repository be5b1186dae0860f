"""Client-level DP-FedAvg and the RDP accountant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from parity_p2p.learning.privacy import DpConfig, PrivacyConfigError, RdpAccountant, clip_update, l2_norm
from parity_p2p.learning.strategies import ClientUpdate, DpFedAvg, build_strategy


def test_clip_scales_long_updates_to_the_bound_and_leaves_short_ones() -> None:
    long = {"a": torch.tensor([3.0, 0.0]), "b": torch.tensor([[4.0]])}  # norm 5
    clipped, norm = clip_update(long, 1.0)
    assert norm == pytest.approx(5.0)
    assert l2_norm(clipped) == pytest.approx(1.0)
    torch.testing.assert_close(clipped["a"], torch.tensor([0.6, 0.0]))
    short, _ = clip_update(long, 10.0)
    torch.testing.assert_close(short["b"], long["b"])


def test_dp_fedavg_is_the_equal_weight_mean_of_clipped_updates_plus_noise() -> None:
    # Prepare: 4 updates of different norms and data sizes; almost no noise, so the mean is visible.
    rng = np.random.default_rng(0)
    deltas = [rng.standard_normal(50).astype(np.float32) * scale for scale in (0.1, 1.0, 5.0, 20.0)]
    clip = 2.0
    expected = np.mean([d * min(1.0, clip / np.linalg.norm(d)) for d in deltas], axis=0)
    updates = [
        ClientUpdate(delta={"w": torch.from_numpy(d)}, num_examples=n, local_steps=1, norm_factor=1.0)
        for d, n in zip(deltas, (1, 10, 100, 1000), strict=True)
    ]
    # Execute
    result = DpFedAvg(noise_multiplier=1e-9, l2_norm_clip=clip).aggregate(1, {"w": torch.zeros(50)}, iter(updates))
    # Assert
    np.testing.assert_allclose(result.state["w"].numpy(), expected, atol=1e-6)
    assert result.metrics["clipped_fraction"] == np.mean([np.linalg.norm(d) > clip for d in deltas]) == 0.75


def test_dp_fedavg_noise_has_the_calibrated_std_and_is_reproducible() -> None:
    # Prepare: zero updates, so the result is the noise alone: std z * clip / n.
    n, z, clip, size = 4, 1.2, 0.5, 200_000
    zeros = [ClientUpdate({"w": torch.zeros(size)}, 10, 1, 1.0) for _ in range(n)]
    strategy = DpFedAvg(noise_multiplier=z, l2_norm_clip=clip, seed=3)
    # Execute
    first = strategy.aggregate(1, {"w": torch.zeros(size)}, zeros).state["w"]
    again = strategy.aggregate(1, {"w": torch.zeros(size)}, zeros).state["w"]
    next_round = strategy.aggregate(2, {"w": torch.zeros(size)}, zeros).state["w"]
    # Assert: the sample std of 200k draws is within 1% of sigma with overwhelming probability.
    assert float(first.std()) == pytest.approx(z * clip / n, rel=0.01)
    assert abs(float(first.mean())) < 0.01 * z * clip / n
    assert torch.equal(first, again)
    assert not torch.equal(first, next_round)


def gaussian_epsilon_closed_form(noise: float, rounds: int, delta: float, orders: list[float]) -> float:
    """Independent derivation for q = 1: the Gaussian mechanism has RDP alpha / (2 sigma^2) per use
    (Mironov 2017, Prop. 7), composing additively; converted with Balle et al. 2020, Thm. 21."""
    return min(
        rounds * a / (2 * noise**2) + math.log((a - 1) / a) - (math.log(delta) + math.log(a)) / (a - 1) for a in orders
    )


@pytest.mark.parametrize(("noise", "rounds"), [(1.0, 10), (2.0, 50), (0.8, 3)])
def test_accountant_matches_the_gaussian_closed_form_when_everyone_participates(noise: float, rounds: int) -> None:
    from opacus.accountants.rdp import RDPAccountant

    accountant = RdpAccountant()
    for _ in range(rounds):
        accountant.record(noise, 1.0)
    expected = gaussian_epsilon_closed_form(noise, rounds, 1e-5, RDPAccountant.DEFAULT_ALPHAS)
    assert accountant.epsilon(1e-5) == pytest.approx(expected, rel=1e-9)
    # And the classic conversion log(1/delta)/(alpha-1), looser, optimised over a continuous alpha, is above it.
    classic = min(rounds * a / (2 * noise**2) + math.log(1e5) / (a - 1) for a in np.linspace(1.01, 200, 20000))
    assert accountant.epsilon(1e-5) <= classic


def test_accountant_matches_known_subsampled_values() -> None:
    # Opacus' published RDP test case: sigma 1.5, q 0.04, 90 epochs (2250 steps), delta 1e-5 -> 7.3291.
    opacus_case = RdpAccountant()
    opacus_case.record(1.5, 0.04, 2250)
    assert opacus_case.epsilon(1e-5) == pytest.approx(7.32911117143, rel=1e-6)
    # The toolchain spike's DP-SGD run (noise 1, batch 16 of 512 rows, 5 epochs) reported epsilon ~3.1.
    spike = RdpAccountant()
    spike.record(1.0, 16 / 512, 5 * 32)
    assert spike.epsilon(1e-5) == pytest.approx(3.1, abs=0.05)


def test_epsilon_grows_with_rounds_and_falls_with_noise() -> None:
    low_noise, high_noise = RdpAccountant(), RdpAccountant()
    previous = 0.0
    for _ in range(5):
        low_noise.record(0.8, 0.1, 10)
        high_noise.record(2.0, 0.1, 10)
        assert low_noise.epsilon(1e-5) > previous
        previous = low_noise.epsilon(1e-5)
    assert high_noise.epsilon(1e-5) < low_noise.epsilon(1e-5)
    assert RdpAccountant().epsilon(1e-5) == 0.0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("noise_multiplier", {"noise_multiplier": 0.0, "l2_norm_clip": 1.0}),
        ("l2_norm_clip", {"noise_multiplier": 1.0, "l2_norm_clip": float("inf")}),
        ("mode", {"noise_multiplier": 1.0, "l2_norm_clip": 1.0, "mode": "local"}),
        ("delta", {"noise_multiplier": 1.0, "l2_norm_clip": 1.0, "delta": 1.0}),
    ],
)
def test_bad_settings_name_the_field(field: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(PrivacyConfigError) as caught:
        DpConfig(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_accountant_rejects_impossible_inputs() -> None:
    with pytest.raises(PrivacyConfigError, match="sample_rate"):
        RdpAccountant().record(1.0, 1.5)
    with pytest.raises(PrivacyConfigError, match="delta"):
        RdpAccountant().epsilon(0.0)


def test_dp_fedavg_is_in_the_registry() -> None:
    strategy = build_strategy("dp_fedavg", noise_multiplier=1.0, l2_norm_clip=0.5)
    assert isinstance(strategy, DpFedAvg)
