"""Run an exported policy graph op by op in PyTorch eager mode.

The inference benchmark compares ONNX Runtime against PyTorch eager on the
same weights. A robot-side ONNX file does not carry the PyTorch module, so
this rebuilds it: every node of the (feed-forward) graph becomes the
equivalent torch call, with the initializers as tensors. Covers the ops
Tether's exporter emits for MLP policies; anything else is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _gemm(node: onnx.NodeProto) -> Callable[..., torch.Tensor]:
    alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
    ta, tb = int(_attr(node, "transA", 0)), int(_attr(node, "transB", 0))

    def run(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        a = a.T if ta else a
        b = b.T if tb else b
        if c is None:
            return alpha * (a @ b)
        return torch.addmm(c, a, b, beta=beta, alpha=alpha)

    return run


def _elu(node: onnx.NodeProto) -> Callable[..., torch.Tensor]:
    alpha = float(_attr(node, "alpha", 1.0))
    return lambda x: torch.nn.functional.elu(x, alpha=alpha)


def _clip(node: onnx.NodeProto) -> Callable[..., torch.Tensor]:
    return lambda x, lo=None, hi=None: torch.clamp(x, lo, hi)


_OPS: dict[str, Callable[[onnx.NodeProto], Callable[..., torch.Tensor]]] = {
    "Gemm": _gemm,
    "MatMul": lambda n: torch.matmul,
    "Add": lambda n: torch.add,
    "Sub": lambda n: torch.sub,
    "Mul": lambda n: torch.mul,
    "Div": lambda n: torch.div,
    "Elu": _elu,
    "Relu": lambda n: torch.relu,
    "Tanh": lambda n: torch.tanh,
    "Sigmoid": lambda n: torch.sigmoid,
    "Clip": _clip,
    "Identity": lambda n: lambda x: x,
}


class EagerGraph(torch.nn.Module):
    """A feed-forward ONNX graph with one input and one output, executed with torch ops."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        model = onnx.load(str(path))
        graph = model.graph
        unknown = sorted({n.op_type for n in graph.node} - set(_OPS) - {"Constant"})
        if unknown:
            raise ValueError(
                f"{path}: ops {unknown} are not supported by the eager rebuild; supported: {sorted(_OPS)}"
            )
        self.consts: dict[str, torch.Tensor] = {
            t.name: torch.from_numpy(np.array(numpy_helper.to_array(t))) for t in graph.initializer
        }
        self.steps: list[tuple[Callable[..., torch.Tensor], list[str], str]] = []
        for node in graph.node:
            if node.op_type == "Constant":
                value = onnx.helper.get_attribute_value(node.attribute[0])
                self.consts[node.output[0]] = torch.from_numpy(np.array(numpy_helper.to_array(value)))
                continue
            self.steps.append((_OPS[node.op_type](node), list(node.input), node.output[0]))
        feeds = [i.name for i in graph.input if i.name not in self.consts]
        if len(feeds) != 1 or len(graph.output) != 1:
            raise ValueError(
                f"{path}: expected one input and one output, found {feeds} → "
                f"{[o.name for o in graph.output]} (recurrent graphs are not supported here)"
            )
        self.input_name, self.output_name = feeds[0], graph.output[0].name

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = dict(self.consts)
        values[self.input_name] = x
        for fn, inputs, output in self.steps:
            values[output] = fn(*(values[i] if i else None for i in inputs))
        return values[self.output_name]
