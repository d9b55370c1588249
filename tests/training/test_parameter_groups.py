"""Per-module learning rates (train.lr_multipliers): the longest matching prefix decides."""

import torch
from torch import nn

from gmc.training.engine import parameter_groups


def test_longest_prefix_wins_and_unmatched_parameters_get_the_base_rate():
    model = nn.Sequential()
    model.add_module("backbone", nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    model.add_module("head", nn.Linear(2, 1))
    groups = parameter_groups(model, 1e-3, {"backbone.": 0.1, "backbone.1.": 0.5})
    by_rate = {round(g["lr"], 12): {id(p) for p in g["params"]} for g in groups}
    backbone0 = {id(p) for p in model.backbone[0].parameters()}
    backbone1 = {id(p) for p in model.backbone[1].parameters()}
    head = {id(p) for p in model.head.parameters()}
    assert by_rate == {1e-4: backbone0, 5e-4: backbone1, 1e-3: head}


def test_frozen_parameters_are_left_out():
    model = nn.Linear(3, 1)
    model.bias.requires_grad_(False)
    (group,) = parameter_groups(model, 0.01, {"nothing.": 2.0})
    assert group["lr"] == 0.01 and [p.shape for p in group["params"]] == [torch.Size([1, 3])]
