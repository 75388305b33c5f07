#!/usr/bin/env python
"""Export torchvision's CNN families to ONNX with both of PyTorch's exporters (random weights).

    python scripts/export_torchvision.py --out DIR [--size 224] [--exporter both] [MODEL ...]

Needs torch, torchvision, onnx and onnxscript (any Python that has them; bfpdse itself is not
imported). Models are built with ``weights=None`` (nothing is downloaded), their BatchNorm
running statistics randomised so that BN folding is exercised, their conv/linear biases too (the
dynamo exporter drops biases that are zero), and put in eval mode. Each file is
``DIR/<model>_<exporter>_<size>.onnx`` with its weights inside (no external data), exported
at batch 1 as a user would (``dynamo=False`` at opset 17, or the default ``dynamo=True``).
Beside it, ``<model>_<size>.npz`` holds one input ``x`` and PyTorch's output ``y``. A summary
line per file goes to stdout as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

#: the 13 classification CNN families of torchvision, one member each
FAMILIES = (
    "resnet18",
    "vgg11_bn",
    "alexnet",
    "squeezenet1_1",
    "densenet121",
    "googlenet",
    "shufflenet_v2_x1_0",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mnasnet0_5",
    "efficientnet_b0",
    "regnet_x_400mf",
    "convnext_tiny",
)
EXPORTERS = ("legacy", "dynamo")


def build(name: str):
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs: dict = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.normal_(0.0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
            elif isinstance(mod, torch.nn.Conv2d | torch.nn.Linear) and mod.bias is not None:
                mod.bias.normal_(0.0, 0.05)  # zero biases would vanish from dynamo's exports
    return model.eval()


def export(model, x, path: Path, exporter: str) -> None:
    import onnx

    with contextlib.redirect_stdout(sys.stderr):  # the exporters' progress is not our output
        _export(model, x, path, exporter)
    # one self-contained file: the dynamo exporter may write the weights beside it
    proto = onnx.load(str(path))
    onnx.save(proto, str(path), save_as_external_data=False)
    for extra in path.parent.glob(path.name + ".*"):
        extra.unlink()


def _export(model, x, path: Path, exporter: str) -> None:
    import torch

    if exporter == "legacy":
        torch.onnx.export(model, x, str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])  # fmt: skip
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=list(FAMILIES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--exporter", choices=(*EXPORTERS, "both"), default="both")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    exporters = EXPORTERS if args.exporter == "both" else (args.exporter,)
    for name in args.models:
        model = build(name)
        x_np = np.random.default_rng(args.size).uniform(-2, 2, (1, 3, args.size, args.size))
        x = torch.from_numpy(x_np.astype(np.float32))
        try:
            with torch.no_grad():
                y = model(x).numpy()
        except Exception as exc:  # the architecture does not accept this size
            print(json.dumps({"model": name, "size": args.size, "ok": False,
                              "error": f"eager: {type(exc).__name__}: {exc}"[:300]}))  # fmt: skip
            continue
        np.savez(args.out / f"{name}_{args.size}.npz", x=x.numpy(), y=y)
        for exporter in exporters:
            path = args.out / f"{name}_{exporter}_{args.size}.onnx"
            t0 = time.perf_counter()
            rec = {"model": name, "size": args.size, "exporter": exporter, "file": str(path)}
            try:
                export(model, x, path, exporter)
                rec["ok"] = True
            except Exception as exc:
                rec.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
