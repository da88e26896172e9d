"""Train a tiny model variant with recipe overrides given as one JSON argument.

The tests run it in-process (`run`) and as the script torchrun launches on every rank (`__main__`),
so a single-process run and a distributed one are configured by the same code.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segdeploy.models import MODELS
from segdeploy.training.run import TrainConfig
from segdeploy.training.train import train


def tiny_model(name: str, dropout: bool) -> nn.Module:
    torch.manual_seed(0)  # the same initial weights in every process and run
    spec = MODELS[name]
    model = spec.build(**spec.tiny)
    if not dropout:
        # Ranks draw their own dropout masks, which a single process cannot reproduce.
        for module in model.modules():
            if isinstance(module, nn.Dropout2d):
                module.p = 0.0
    return model


def run(args: dict[str, Any]) -> Path:
    spec = MODELS[args["model"]]
    recipe = dataclasses.replace(spec.train_recipe, **{k: tuple(v) if isinstance(v, list) else v
                                                       for k, v in args["recipe"].items()})
    config = TrainConfig(Path(args["data_root"]), Path(args["work_dir"]), recipe, **args.get("config", {}))
    return train(spec, config, model=tiny_model(args["model"], args.get("dropout", True)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    run(json.loads(sys.argv[1]))
