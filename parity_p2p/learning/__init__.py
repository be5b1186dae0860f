"""The learning core: models, datasets, partitions, update codec and model export (pure ML, no network).

Everything here is deterministic from explicit seeds and imports no networking and no chain code.
"""

from parity_p2p.learning.codec import (
    DecodeLimits as DecodeLimits,
)
from parity_p2p.learning.codec import (
    ModelMeta as ModelMeta,
)
from parity_p2p.learning.codec import (
    TensorSpec as TensorSpec,
)
from parity_p2p.learning.codec import (
    UpdateMeta as UpdateMeta,
)
from parity_p2p.learning.codec import (
    decode_model as decode_model,
)
from parity_p2p.learning.codec import (
    decode_update as decode_update,
)
from parity_p2p.learning.codec import (
    encode_model as encode_model,
)
from parity_p2p.learning.codec import (
    encode_update as encode_update,
)
from parity_p2p.learning.codec import (
    tensor_specs as tensor_specs,
)
from parity_p2p.learning.datasets import (
    TabularDataset as TabularDataset,
)
from parity_p2p.learning.datasets import (
    parse_csv as parse_csv,
)
from parity_p2p.learning.datasets import (
    subset as subset,
)
from parity_p2p.learning.datasets import (
    train_eval_split as train_eval_split,
)
from parity_p2p.learning.errors import (
    CsvError as CsvError,
)
from parity_p2p.learning.errors import (
    LearningError as LearningError,
)
from parity_p2p.learning.errors import (
    ModelConfigError as ModelConfigError,
)
from parity_p2p.learning.errors import (
    PartitionError as PartitionError,
)
from parity_p2p.learning.errors import (
    UpdateRejected as UpdateRejected,
)
from parity_p2p.learning.model_config import (
    ModelConfig as ModelConfig,
)
from parity_p2p.learning.model_config import (
    parse_model_config as parse_model_config,
)
from parity_p2p.learning.models import (
    build_model as build_model,
)
from parity_p2p.learning.models import (
    model_state as model_state,
)
from parity_p2p.learning.partition import (
    SplitSpec as SplitSpec,
)
from parity_p2p.learning.partition import (
    partition as partition,
)
