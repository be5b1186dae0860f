"""The learning core: models, datasets, partitions, update codec and model export (pure ML, no network).

Everything here is deterministic from explicit seeds and imports no networking and no chain code.
Training, strategies, privacy and compression live in their own modules of this package.
"""

from parity_p2p.learning.codec import (
    DecodeLimits,
    ModelMeta,
    TensorSpec,
    UpdateMeta,
    decode_model,
    decode_update,
    encode_model,
    encode_update,
    peek_update_meta,
    tensor_specs,
)
from parity_p2p.learning.datasets import TabularDataset, parse_csv, subset, train_eval_split
from parity_p2p.learning.errors import (
    CsvError,
    DatasetError,
    ExportError,
    LearningError,
    ModelConfigError,
    PartitionError,
    UpdateRejected,
)
from parity_p2p.learning.export import (
    export_model_json,
    export_model_safetensors,
    load_model_json,
    load_model_safetensors,
)
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.models import build_model, load_state, model_state, predict_output
from parity_p2p.learning.partition import SplitSpec, partition

__all__ = [
    "CsvError",
    "DatasetError",
    "DecodeLimits",
    "ExportError",
    "LearningError",
    "ModelConfig",
    "ModelConfigError",
    "ModelMeta",
    "PartitionError",
    "SplitSpec",
    "TabularDataset",
    "TensorSpec",
    "UpdateMeta",
    "UpdateRejected",
    "build_model",
    "decode_model",
    "decode_update",
    "encode_model",
    "encode_update",
    "export_model_json",
    "export_model_safetensors",
    "load_model_json",
    "load_model_safetensors",
    "load_state",
    "model_state",
    "parse_csv",
    "parse_model_config",
    "partition",
    "peek_update_meta",
    "predict_output",
    "subset",
    "tensor_specs",
    "train_eval_split",
]
