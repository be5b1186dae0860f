"""`parity-client fl ...`: federated-learning sessions — create, start, inspect, fetch the model, submit updates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parity_p2p.chain import SessionStatus
from parity_p2p.client import validation
from parity_p2p.client.errors import InsufficientRunners, InvalidInput, WrongState, format_tokens
from parity_p2p.client.funds import ApproveOption
from parity_p2p.client.model_fetch import get_model
from parity_p2p.client.options import (
    ApiTokenFileOption,
    ChainOptions,
    DataDirOption,
    DeploymentOption,
    KeyEnvOption,
    KeystoreOption,
    NodeApiOption,
    NodeOptions,
    OutputOption,
    PasswordFileOption,
    RpcUrlOption,
    chain_client,
    node_client,
)
from parity_p2p.client.output import OutputFormat, emit, emit_json, fields_text
from parity_p2p.client.runtime import fail, run
from parity_p2p.client.session_create import (
    CreatedSession,
    SessionFlags,
    build_plan,
    check_dataset,
    create_session,
)
from parity_p2p.client.session_view import render_details, render_rows, session_details, session_rows, session_view
from parity_p2p.client.update_submit import UpdateFlags, check_metrics, submit_update

app = typer.Typer(help="Federated-learning sessions.", no_args_is_help=True)

MAX_DATASET_BYTES = 256 * 1024 * 1024
MAX_UPDATE_BYTES = 512 * 1024 * 1024

SessionIdArg = Annotated[int, typer.Argument(help="Session id", min=1, max=2**63 - 1)]

# The session flags of the guide, shared by create-session and create-session-with-data.
NameOpt = Annotated[str, typer.Option("--name", help="Session name")]
DescriptionOpt = Annotated[str, typer.Option("--description", help="What the session trains")]
ModelTypeOpt = Annotated[
    str | None, typer.Option("--model-type", help="neural_network, linear_regression or custom (checked against "
                             "--config-file)", show_default=False)
]  # fmt: skip
ConfigFileOpt = Annotated[
    Path | None, typer.Option("--config-file", help="Model config JSON (architecture, input_size, output_size)",
                              show_default=False)
]  # fmt: skip
TotalRoundsOpt = Annotated[int, typer.Option("--total-rounds", help="Training rounds")]
MinParticipantsOpt = Annotated[int, typer.Option("--min-participants", help="Runners needed to start")]
MaxParticipantsOpt = Annotated[
    int | None, typer.Option("--max-participants", help="Most runners that may join [default: max(min, 10)]",
                             show_default=False)
]  # fmt: skip
SplitOpt = Annotated[str, typer.Option("--split-strategy", help="random, non_iid, stratified or label_skew")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Dirichlet concentration of non_iid (> 0; lower: more skew)")]
MinSamplesOpt = Annotated[int, typer.Option("--min-samples", help="Fewest rows any runner gets")]
OverlapOpt = Annotated[float, typer.Option("--overlap-ratio", help="Share of each shard borrowed from others [0, 1)")]
LrOpt = Annotated[float, typer.Option("--learning-rate", help="Local learning rate")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Local batch size")]
EpochsOpt = Annotated[int, typer.Option("--local-epochs", help="Local epochs per round")]
AggregationOpt = Annotated[str, typer.Option("--aggregation-method", help="Aggregation strategy, e.g. fedavg")]
DpOpt = Annotated[bool, typer.Option("--enable-differential-privacy", help="Train with DP-SGD")]
NoiseOpt = Annotated[float, typer.Option("--noise-multiplier", help="DP-SGD noise multiplier")]
ClipOpt = Annotated[float, typer.Option("--l2-norm-clip", help="DP-SGD per-sample gradient clip")]
PoolOpt = Annotated[str, typer.Option("--reward-pool", help="Tokens escrowed for the runners' rewards")]
TimeoutOpt = Annotated[int, typer.Option("--round-timeout", help="Seconds a leader has to post a round")]
MinStakeOpt = Annotated[
    str | None, typer.Option("--min-stake", help="Stake a runner needs to join, in tokens [default: the registry's "
                             "minimum]", show_default=False)
]  # fmt: skip
LabelOpt = Annotated[
    str | None, typer.Option("--label-column", help="CSV label column name or index [default: the last]",
                             show_default=False)
]  # fmt: skip


def _render_created(created: CreatedSession) -> str:
    return fields_text([
        ("Session ID", str(created.session_id)),
        ("Name", created.name),
        ("Dataset CID", created.dataset_cid),
        ("Spec CID", created.spec_cid),
        ("Rounds", str(created.total_rounds)),
        ("Participants", f"min {created.min_participants}, max {created.max_participants}"),
        ("Reward Pool", format_tokens(created.reward_pool)),
    ]) + f"\nNext: wait for runners to join, then `parity-client fl start-session {created.session_id}`"  # fmt: skip



@app.command("create-session")
def create_session_command(
    name: NameOpt,
    dataset_cid: Annotated[str, typer.Option("--dataset-cid", help="CID of the training CSV (stored by a node)")],
    config_file: ConfigFileOpt = None,
    description: DescriptionOpt = "",
    model_type: ModelTypeOpt = None,
    total_rounds: TotalRoundsOpt = 10,
    min_participants: MinParticipantsOpt = 2,
    max_participants: MaxParticipantsOpt = None,
    split_strategy: SplitOpt = "random",
    alpha: AlphaOpt = 0.5,
    min_samples: MinSamplesOpt = 1,
    overlap_ratio: OverlapOpt = 0.0,
    learning_rate: LrOpt = 0.05,
    batch_size: BatchOpt = 16,
    local_epochs: EpochsOpt = 1,
    aggregation_method: AggregationOpt = "fedavg",
    enable_differential_privacy: DpOpt = False,
    noise_multiplier: NoiseOpt = 1.0,
    l2_norm_clip: ClipOpt = 1.0,
    reward_pool: PoolOpt = "0",
    round_timeout: TimeoutOpt = 300,
    min_stake: MinStakeOpt = None,
    label_column: LabelOpt = None,
    approve: ApproveOption = False,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    node_api: NodeApiOption = None,
    api_token_file: ApiTokenFileOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Create a session over a dataset already stored by CID; the spec is stored through the local node."""
    flags = SessionFlags(
        name, description, model_type, config_file, total_rounds, min_participants, max_participants, split_strategy,
        alpha, min_samples, overlap_ratio, learning_rate, batch_size, local_epochs, aggregation_method,
        enable_differential_privacy, noise_multiplier, l2_norm_clip, reward_pool, round_timeout, min_stake,
        label_column,
    )  # fmt: skip
    chain_opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)
    node_opts = NodeOptions(node_api, api_token_file, data_dir)

    async def body() -> None:
        plan = build_plan(flags)
        cid = validation.cid(dataset_cid, "--dataset-cid")
        async with chain_client(chain_opts, signer=True) as chain, node_client(node_opts) as node:
            created = await create_session(chain, node, plan, cid, None, approve=approve)
        emit(output, created, _render_created(created))

    run(body)


@app.command("create-session-with-data")
def create_session_with_data_command(
    dataset: Annotated[Path, typer.Argument(help="CSV file with a header line (stored by CID through the node)")],
    name: NameOpt,
    config_file: ConfigFileOpt = None,
    description: DescriptionOpt = "",
    model_type: ModelTypeOpt = None,
    total_rounds: TotalRoundsOpt = 10,
    min_participants: MinParticipantsOpt = 2,
    max_participants: MaxParticipantsOpt = None,
    split_strategy: SplitOpt = "random",
    alpha: AlphaOpt = 0.5,
    min_samples: MinSamplesOpt = 1,
    overlap_ratio: OverlapOpt = 0.0,
    learning_rate: LrOpt = 0.05,
    batch_size: BatchOpt = 16,
    local_epochs: EpochsOpt = 1,
    aggregation_method: AggregationOpt = "fedavg",
    enable_differential_privacy: DpOpt = False,
    noise_multiplier: NoiseOpt = 1.0,
    l2_norm_clip: ClipOpt = 1.0,
    reward_pool: PoolOpt = "0",
    round_timeout: TimeoutOpt = 300,
    min_stake: MinStakeOpt = None,
    label_column: LabelOpt = None,
    approve: ApproveOption = False,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    node_api: NodeApiOption = None,
    api_token_file: ApiTokenFileOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Check a CSV against the model config, store it through the local node, then create the session over it."""
    flags = SessionFlags(
        name, description, model_type, config_file, total_rounds, min_participants, max_participants, split_strategy,
        alpha, min_samples, overlap_ratio, learning_rate, batch_size, local_epochs, aggregation_method,
        enable_differential_privacy, noise_multiplier, l2_norm_clip, reward_pool, round_timeout, min_stake,
        label_column,
    )  # fmt: skip
    chain_opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)
    node_opts = NodeOptions(node_api, api_token_file, data_dir)

    async def body() -> None:
        plan = build_plan(flags)
        data = validation.read_file(dataset, "DATASET", max_bytes=MAX_DATASET_BYTES)
        check_dataset(data, plan, f"dataset {dataset}")
        async with chain_client(chain_opts, signer=True) as chain, node_client(node_opts) as node:
            created = await create_session(chain, node, plan, None, data, approve=approve)
        emit(output, created, _render_created(created))

    run(body)


@app.command("start-session")
def start_session_command(
    session_id: SessionIdArg,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Start an open session (creator only) once enough runners have joined."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        async with chain_client(opts, signer=True) as chain:
            view = await session_view(chain, session_id)
            if view.status is not SessionStatus.OPEN:
                raise WrongState(f"session {session_id} is {view.status.name.lower()}; only an open session starts")
            if view.creator != chain.address:
                raise WrongState(f"only the creator {view.creator} can start session {session_id}")
            if view.participant_count < view.params.min_participants:
                raise InsufficientRunners(session_id, view.participant_count, view.params.min_participants)
            await chain.sessions.start_session(session_id)
        typer.echo(
            f"Session {session_id} started with {view.participant_count} participants: round 1/"
            f"{view.params.total_rounds}"
        )

    run(body)


@app.command("get-session")
def get_session_command(
    session_id: SessionIdArg,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """A session's state, progress, metrics, leader, model and rewards."""
    opts = ChainOptions(rpc_url, deployment, data_dir=data_dir)

    async def body() -> None:
        async with chain_client(opts, signer=False) as chain:
            details = await session_details(chain, session_id)
        emit(output, details, render_details(details))

    run(body)


StatusFilter = Annotated[
    str | None,
    typer.Option("--status", help="open, active, completed, cancelled or abandoned", show_default=False),
]


@app.command("list-sessions")
def list_sessions_command(
    status: StatusFilter = None,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Every session as a table, optionally only those in one status."""
    opts = ChainOptions(rpc_url, deployment, data_dir=data_dir)
    wanted = _status(status)

    async def body() -> None:
        async with chain_client(opts, signer=False) as chain:
            rows = await session_rows(chain, wanted)
        emit(output, rows, render_rows(rows))

    run(body)


def _status(text: str | None) -> SessionStatus | None:
    if text is None:
        return None
    names = [s.name.lower() for s in SessionStatus if s is not SessionStatus.NONE]
    if text.lower() not in names:
        fail(InvalidInput("--status", f"unknown {text!r}; expected one of: {', '.join(names)}"))
    return SessionStatus[text.upper()]


@app.command("get-model")
def get_model_command(
    session_id: SessionIdArg,
    out: Annotated[Path, typer.Option("--output", "-o", help="trained_model.json or trained_model.safetensors")],
    round_number: Annotated[
        int | None, typer.Option("--round", help="A finalized round's model [default: the final model]", min=1,
                                 show_default=False)
    ] = None,
    json_report: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    node_api: NodeApiOption = None,
    api_token_file: ApiTokenFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Fetch the session's model by CID through the local node, verify it, and export it (.json or .safetensors).

    `--output` is the file here (as in the guide); `--json` prints the summary for scripts.
    """
    chain_opts = ChainOptions(rpc_url, deployment, data_dir=data_dir)
    node_opts = NodeOptions(node_api, api_token_file, data_dir)

    async def body() -> None:
        validation.writable_target(out, "--output")
        async with chain_client(chain_opts, signer=False) as chain, node_client(node_opts) as node:
            fetched = await get_model(chain, node, session_id, out, round_number)
        if json_report:
            emit_json(fetched)
        else:
            typer.echo(
                f"Wrote {fetched.path} ({fetched.format}, {fetched.parameters} parameters): session {session_id} "
                f"round {fetched.round}, model {fetched.model_cid}, loss {fetched.loss:.4f}, accuracy "
                f"{fetched.accuracy:.4f}"
            )

    run(body)


@app.command("submit-update")
def submit_update_command(
    session_id: Annotated[int, typer.Option("--session-id", help="Session id", min=1, max=2**63 - 1)],
    round_id: Annotated[int, typer.Option("--round-id", help="The session's current round", min=1, max=2**32 - 1)],
    runner_id: Annotated[str, typer.Option("--runner-id", help="The participant's address")],
    gradients_file: Annotated[Path, typer.Option("--gradients-file", help="safetensors: an update or plain tensors")],
    data_size: Annotated[int, typer.Option("--data-size", help="Training rows behind the update", max=2**63 - 1)],
    loss: Annotated[float, typer.Option("--loss", help="Training loss")],
    accuracy: Annotated[
        float | None, typer.Option("--accuracy", help="Training accuracy in [0, 1] (omit for regression)",
                                   show_default=False)
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Local optimiser steps", max=2**63 - 1)] = 1,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    node_api: NodeApiOption = None,
    api_token_file: ApiTokenFileOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Hand a manually trained update to the local node (checked against the session's model first)."""
    chain_opts = ChainOptions(rpc_url, deployment, data_dir=data_dir)
    node_opts = NodeOptions(node_api, api_token_file, data_dir)

    async def body() -> None:
        runner = validation.address(runner_id, "--runner-id")
        check_metrics(loss, accuracy, data_size, steps)
        data = validation.read_file(gradients_file, "--gradients-file", max_bytes=MAX_UPDATE_BYTES)
        flags = UpdateFlags(session_id, round_id, runner, data, data_size, loss, accuracy, steps)
        async with chain_client(chain_opts, signer=False) as chain, node_client(node_opts) as node:
            result = await submit_update(chain, node, flags)
        emit(output, result, f"Update {result.cid} handed to the node for session {session_id} round {round_id}"
             + (f": {result.detail}" if result.detail else ""))  # fmt: skip

    run(body)
