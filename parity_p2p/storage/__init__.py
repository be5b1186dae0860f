"""Content by CID: Kubo-compatible CIDs, an on-disk blockstore, verified reads, an optional IPFS RPC backend.

    store = ContentStore.open(data_dir / "content", fetcher=peer_block_fetcher)
    cid = store.add(b"...")          # == `ipfs add --cid-version=1 --raw-leaves`
    data = store.get(cid)            # every block hashed; missing ones fetched and verified
    data = await store.aget(cid)     # from trio
"""

from parity_p2p.storage.blockstore import BlockstoreStats as BlockstoreStats
from parity_p2p.storage.blockstore import CorruptBlock as CorruptBlock
from parity_p2p.storage.blockstore import FsBlockstore as FsBlockstore
from parity_p2p.storage.chunker import CHUNK_SIZE as CHUNK_SIZE
from parity_p2p.storage.content import BATCH_LIMIT as BATCH_LIMIT
from parity_p2p.storage.content import BatchFetcher as BatchFetcher
from parity_p2p.storage.content import ContentStore as ContentStore
from parity_p2p.storage.content import Fetcher as Fetcher
from parity_p2p.storage.content import GcResult as GcResult
from parity_p2p.storage.errors import BlockHashMismatch as BlockHashMismatch
from parity_p2p.storage.errors import BlockNotFound as BlockNotFound
from parity_p2p.storage.errors import ContentTooLarge as ContentTooLarge
from parity_p2p.storage.errors import FetcherError as FetcherError
from parity_p2p.storage.errors import InvalidCid as InvalidCid
from parity_p2p.storage.errors import InvalidDag as InvalidDag
from parity_p2p.storage.errors import IpfsRpcError as IpfsRpcError
from parity_p2p.storage.errors import StorageError as StorageError
from parity_p2p.storage.errors import StorageFull as StorageFull
from parity_p2p.storage.importer import MAX_LINKS_PER_NODE as MAX_LINKS_PER_NODE
from parity_p2p.storage.importer import ImportedFile as ImportedFile
from parity_p2p.storage.importer import compute_cid as compute_cid
from parity_p2p.storage.ipfs_rpc import IpfsRpcClient as IpfsRpcClient
from parity_p2p.storage.multiformats import Cid as Cid
from parity_p2p.storage.multiformats import normalize_cid as normalize_cid
from parity_p2p.storage.multiformats import parse_cid as parse_cid
from parity_p2p.storage.pins import PinSet as PinSet
