"""Options shared by the command groups: how to reach the chain (RPC URL, deployment, signing key) and the local
node (control API URL and token, or a node's data directory), and turning them into connected clients."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from eth_account.signers.local import LocalAccount

from parity_p2p.chain import ChainClient, Deployment, TxPolicy
from parity_p2p.chain.errors import DeploymentError
from parity_p2p.chain.keys import DEFAULT_KEY_ENV, account_from_env, account_from_keystore
from parity_p2p.client.errors import AccountError, DeploymentProblem, InvalidInput, NodeUnavailable
from parity_p2p.client.output import OutputFormat
from parity_p2p.client.validation import read_file
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.config import load_config
from parity_p2p.node.datadir import PASSWORD_ENV, DataDir
from parity_p2p.node.errors import NodeError

RPC_URL_ENV = "PARITY_RPC_URL"
DEPLOYMENT_ENV = "PARITY_DEPLOYMENT"
NODE_API_ENV = "PARITY_NODE_API"
DEFAULT_DEPLOYMENT = Path("deployment.json")

RpcUrlOption = Annotated[
    str | None,
    typer.Option("--rpc-url", help=f"Chain JSON-RPC URL [default: ${RPC_URL_ENV}, the data dir's config, or the "
                 "deployment file's]", show_default=False),
]  # fmt: skip
DeploymentOption = Annotated[
    Path | None,
    typer.Option("--deployment", help=f"Deployment file [default: ${DEPLOYMENT_ENV}, the data dir's config, or "
                 "./deployment.json]", show_default=False),
]  # fmt: skip
KeystoreOption = Annotated[
    Path | None,
    typer.Option("--keystore", help=f"Encrypted keystore JSON of the signing account (password: ${PASSWORD_ENV} or "
                 "--password-file)", show_default=False),
]  # fmt: skip
KeyEnvOption = Annotated[
    str | None,
    typer.Option("--key-env", metavar="VAR", help=f"Environment variable holding the hex private key [default "
                 f"when no other account is given: ${DEFAULT_KEY_ENV}]", show_default=False),
]  # fmt: skip
PasswordFileOption = Annotated[
    Path | None, typer.Option("--password-file", help="File holding the keystore password", show_default=False)
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="A parity-node data directory: its keystore signs, its config names the chain, "
                 "and its running node serves content", show_default=False),
]  # fmt: skip
NodeApiOption = Annotated[
    str | None,
    typer.Option("--node-api", help=f"Control API URL of the local node [default: ${NODE_API_ENV}]",
                 show_default=False),
]  # fmt: skip
ApiTokenFileOption = Annotated[
    Path | None, typer.Option("--api-token-file", help="The node's api.token file (with --node-api)",
                              show_default=False),
]  # fmt: skip
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="text for people, json for scripts", case_sensitive=False)
]


@dataclass(frozen=True)
class ChainOptions:
    rpc_url: str | None = None
    deployment: Path | None = None
    keystore: Path | None = None
    key_env: str | None = None
    password_file: Path | None = None
    data_dir: Path | None = None


@dataclass(frozen=True)
class NodeOptions:
    node_api: str | None = None
    api_token_file: Path | None = None
    data_dir: Path | None = None


def check_url(url: str, option: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidInput(option, f"{url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(option, f"{url!r} is not an http(s) URL such as http://127.0.0.1:8545")
    return url


def _data_dir(path: Path) -> DataDir:
    try:
        layout = DataDir(path.expanduser().resolve())
        layout.require_initialised()
    except RuntimeError as exc:  # expanduser of "~someone" when that user has no home directory
        raise InvalidInput("--data-dir", f"{path}: {exc}") from None
    except (NodeError, OSError, ValueError) as exc:
        raise InvalidInput("--data-dir", str(exc)) from None
    return layout


def data_dir_address(path: Path) -> str:
    """The address of a node's keystore, read without its password."""
    try:
        return _data_dir(path).address()
    except NodeError as exc:
        raise AccountError(str(exc)) from None


def _node_config_chain(opts: ChainOptions) -> tuple[str | None, Path | None]:
    """(rpc_url, deployment) from the data dir's config.toml, when a data dir is given."""
    if opts.data_dir is None:
        return None, None
    layout = _data_dir(opts.data_dir)
    try:
        config = load_config(layout.config_path, layout.path)
    except NodeError as exc:
        raise InvalidInput("--data-dir", str(exc)) from None
    return config.chain.rpc_url, config.chain.deployment


def load_deployment_file(opts: ChainOptions) -> tuple[Deployment, str]:
    """The deployment and the RPC URL to reach it (flag > environment > data dir config > deployment file)."""
    config_url, config_deployment = _node_config_chain(opts)
    path = opts.deployment or _env_path(DEPLOYMENT_ENV) or config_deployment or DEFAULT_DEPLOYMENT
    try:
        exists = path.is_file()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise DeploymentProblem(
            f"deployment file {path} not found: pass --deployment FILE, or deploy first with "
            "`parity-client chain deploy --out deployment.json`"
        )
    try:
        deployment = Deployment.load(path)
    except DeploymentError as exc:
        raise DeploymentProblem(f"{path}: {exc}") from None
    url = opts.rpc_url or os.environ.get(RPC_URL_ENV) or config_url or deployment.rpc_url
    if not url:
        raise DeploymentProblem(f"{path} names no RPC URL: pass --rpc-url")
    return deployment, check_url(url, "--rpc-url")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _password(opts: ChainOptions) -> str:
    if opts.password_file is not None:
        return read_file(opts.password_file, "--password-file", max_bytes=4096).decode("utf-8", "replace").rstrip(
            "\r\n"
        )
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if sys.stdin.isatty():
        return str(typer.prompt("Keystore password", hide_input=True))
    raise AccountError(f"the keystore needs a password: set ${PASSWORD_ENV} or pass --password-file")


def load_account(opts: ChainOptions) -> LocalAccount:
    """The signing account: --key-env, --keystore, the data dir's keystore, else $PARITY_PRIVATE_KEY."""
    if opts.key_env and opts.keystore:
        raise InvalidInput("--key-env/--keystore", "give one account source, not both")
    if opts.key_env:
        return account_from_env(opts.key_env)
    if opts.keystore is not None:
        return account_from_keystore(opts.keystore, _password(opts))
    if opts.data_dir is not None:
        layout = _data_dir(opts.data_dir)
        return account_from_keystore(layout.keystore_path, _password(opts))
    if os.environ.get(DEFAULT_KEY_ENV):
        return account_from_env(DEFAULT_KEY_ENV)
    raise AccountError(
        f"no signing account: pass --key-env VAR (a hex key in $VAR), --keystore FILE or --data-dir DIR, or set "
        f"${DEFAULT_KEY_ENV}"
    )


@asynccontextmanager
async def chain_client(
    opts: ChainOptions, *, signer: bool, policy: TxPolicy | None = None
) -> AsyncIterator[ChainClient]:
    """A connected ChainClient (deployment checked against the chain); with `signer`, able to send."""
    account = load_account(opts) if signer else None
    deployment, url = load_deployment_file(opts)
    client = await ChainClient.connect(deployment, rpc_url=url, account=account, policy=policy)
    try:
        yield client
    finally:
        await client.aclose()


def node_endpoint(opts: NodeOptions) -> tuple[str, str]:
    """(base URL, token) of the local node: --node-api + --api-token-file, else the data dir's running node."""
    if opts.node_api or opts.api_token_file:
        url = opts.node_api or os.environ.get(NODE_API_ENV)
        if not url or opts.api_token_file is None:
            raise InvalidInput("--node-api", "give both --node-api URL and --api-token-file FILE (or --data-dir DIR)")
        raw = read_file(opts.api_token_file, "--api-token-file", max_bytes=4096)
        token = raw.decode("ascii", "replace").strip()
        if len(token) < 16 or not token.isprintable():
            raise InvalidInput("--api-token-file", f"{opts.api_token_file} does not hold an API token")
        return check_url(url, "--node-api"), token
    if opts.data_dir is not None:
        layout = _data_dir(opts.data_dir)
        try:
            return endpoint_for(layout.path)
        except NodeError as exc:
            raise NodeUnavailable(str(exc)) from None
    raise InvalidInput(
        "--node-api", "this command needs the local node: pass --data-dir DIR, or --node-api URL --api-token-file FILE"
    )


@asynccontextmanager
async def node_client(opts: NodeOptions) -> AsyncIterator[NodeApiClient]:
    url, token = node_endpoint(opts)
    client = NodeApiClient(url, token)
    try:
        yield client
    finally:
        await client.aclose()
