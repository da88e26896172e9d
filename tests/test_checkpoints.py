"""What the checkpoint reader refuses before any weight reaches a model."""

from __future__ import annotations

import pytest
import torch

from segdeploy.checkpoints import read_state_dict
from segdeploy.errors import SegdeployError


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.uint8, torch.complex64])
def test_non_floating_weights_are_refused(tmp_path, dtype):
    torch.save({"conv.weight": torch.ones(2, 3, dtype=dtype), "bn.num_batches_tracked": torch.tensor(5)},
               tmp_path / "c.pth")
    with pytest.raises(SegdeployError, match=f"1 tensor.s. are not floating point, e.g. conv.weight is "
                                             f"{str(dtype).removeprefix('torch.')}"):
        read_state_dict(tmp_path / "c.pth")


def test_floats_of_any_width_and_the_batchnorm_counter_are_weights(tmp_path):
    state = {"a.weight": torch.ones(2, dtype=torch.float16), "b.weight": torch.ones(2, dtype=torch.bfloat16),
             "c.weight": torch.ones(2, dtype=torch.float64), "bn.num_batches_tracked": torch.tensor(7)}
    torch.save({"state_dict": state}, tmp_path / "c.pth")
    assert read_state_dict(tmp_path / "c.pth").keys() == state.keys()
    torch.save({"bn.num_batches_tracked": torch.tensor(True)}, tmp_path / "b.pth")
    with pytest.raises(SegdeployError, match="num_batches_tracked is bool"):
        read_state_dict(tmp_path / "b.pth")
