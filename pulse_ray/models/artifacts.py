"""A trained model on disk: ``model.pt`` (weights) and ``model.json`` (family,
architecture, preprocessing, data contract, input schema). Written to a local directory
by training, published to the artifact store (any pyarrow filesystem URI,
:func:`pulse_ray.models.files.publish`), loaded by the ModelServer."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import torch

from pulse_ray.models.files import SPEC as _SPEC
from pulse_ray.models.files import WEIGHTS as _WEIGHTS
from pulse_ray.models.inputs import Contract, InputSchema, read_contract
from pulse_ray.models.tabular import TabularNet, TabularPreprocessor

__all__ = ["TrainedModel", "weights_digest"]


def weights_digest(state: dict[str, torch.Tensor], length: int = 6) -> str:
    """Short SHA-256 of the weights (names and bytes, in name order): the version suffix."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:length]


@dataclass
class TrainedModel:
    net: TabularNet
    preprocessor: TabularPreprocessor
    contract: Contract = field(default_factory=dict)  # the model's, when it was trained
    architecture: str = "mlp"  # the candidate the run kept (models.tabular.ARCHITECTURES)

    @property
    def input_schema(self) -> InputSchema:
        return self.preprocessor.input_schema(self.contract)

    @torch.inference_mode()
    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Outputs for validated inputs (see TabularPreprocessor.decide)."""
        numeric, categorical = self.preprocessor.encode_rows(rows)
        device = next(self.net.parameters()).device
        outputs = self.net(torch.from_numpy(numeric).to(device),
                           torch.from_numpy(categorical).to(device))
        return self.preprocessor.decide(self.preprocessor.predictions(outputs))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / _WEIGHTS)
        (directory / _SPEC).write_text(json.dumps({
            "family": self.preprocessor.family,
            "architecture": self.architecture,
            "preprocessor": self.preprocessor.to_dict(),
            "contract": {n: c.model_dump() for n, c in self.contract.items()},
            "input_schema": self.input_schema.model_dump(),
        }))

    @staticmethod
    def from_parts(spec: dict[str, Any], weights: bytes) -> TrainedModel:
        preprocessor = TabularPreprocessor.from_dict(spec["preprocessor"])
        architecture = str(spec.get("architecture", "mlp"))  # older artifacts: the MLP
        net = TabularNet.for_preprocessor(preprocessor, architecture)
        net.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
        net.eval()
        return TrainedModel(net=net, preprocessor=preprocessor,
                            contract=read_contract(spec.get("contract", {})),
                            architecture=architecture)

    @staticmethod
    def load(uri: str) -> TrainedModel:
        """From a local directory or any pyarrow filesystem URI."""
        fs, root = pafs.FileSystem.from_uri(uri)
        with fs.open_input_stream(f"{root}/{_SPEC}") as f:
            spec = json.loads(f.read())
        with fs.open_input_stream(f"{root}/{_WEIGHTS}") as f:
            weights = f.read()
        return TrainedModel.from_parts(spec, weights)

