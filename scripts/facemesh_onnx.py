#!/usr/bin/env python3
"""Convert MediaPipe's face landmark model (TFLite) to ONNX, once: ``deepstory/assets/models/face_landmark.onnx``.

Where the model comes from
    ``mediapipe/modules/face_landmark/face_landmark.tflite`` inside the wheel
    ``mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl`` (PyPI, Apache-2.0; its
    ``LICENSE`` and ``METADATA`` say so), wheel sha256
    05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3, model sha256
    1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814 (1,242,398 bytes: float16
    weights).  Any wheel of 0.10.21 holds the same model file; the sha256 is checked.

What it is
    One 192x192 RGB crop in (NHWC, float32) -> 468 landmarks x (x, y, z) in the crop's pixels
    (``conv2d_21``, 1404 floats) and a face-presence logit (``conv2d_31``).  Seven operator kinds:
    CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MAX_POOL_2D, PAD (channel padding of the residuals) and
    DEQUANTIZE (float16 weights -> float32).

What the conversion does (format only, no retraining, no change of weights beyond float16 -> float32)
    Each operator becomes its ONNX equivalent; the graph runs channels-first after one Transpose of the
    input; the float16 weights are widened to float32 constants (the DEQUANTIZE ops vanish); TF "SAME"
    padding becomes explicit pads (the odd pixel at the end, as TF does); the outputs are named
    ``landmarks`` [1, 1404] and ``presence`` [1, 1] (a logit: sigmoid it).  The result is written
    byte-for-byte the same on every run.

Run it (in a throwaway venv; none of these is a deepstory dependency)::

    python -m venv /tmp/convvenv && /tmp/convvenv/bin/pip install tflite onnx onnxruntime numpy pillow ai-edge-litert
    pip download mediapipe==0.10.21 --no-deps --only-binary=:all: --python-version 3.11 \\
        --platform manylinux_2_28_x86_64 -d /tmp/mp
    /tmp/convvenv/bin/python scripts/facemesh_onnx.py /tmp/mp/mediapipe-0.10.21-*.whl \\
        --check deepstory/assets/portraits/astronaut.png@152,40,300,188 \\
                /usr/share/doc/opencv-doc/examples/data/messi5.jpg@207,79,273,145

Written 2,434,884 bytes, sha256 1452de7e7e42b62b4c2c1e6166f2e3d0df10610d052bccefb9205b0b9ded1c7a; the check
prints a largest landmark difference of 1.7e-4 px (presence logits equal to three decimals).

``--check IMAGE[@x0,y0,x1,y1]`` runs both the TFLite interpreter (``ai-edge-litert``) and the ONNX
model on the image (or that box of it) resized to 192x192, with inputs scaled to 0..1 and to -1..1,
plus a noise image, and prints the largest landmark difference in crop pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
MODEL_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
OUT = Path(__file__).resolve().parent.parent / "deepstory" / "assets" / "models" / "face_landmark.onnx"
OUTPUTS = {"conv2d_21": ("landmarks", [1, 1404]), "conv2d_31": ("presence", [1, 1])}
SIZE = 192


def read_tflite(wheel: Path) -> bytes:
    """The model file out of the wheel (or a .tflite given directly), its sha256 checked."""
    data = wheel.read_bytes() if wheel.suffix == ".tflite" else zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise SystemExit(f"{MEMBER}: sha256 {digest}, expected {MODEL_SHA256} (another model version?)")
    return data


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's SAME padding along one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Converter:
    """TFLite flatbuffer (one subgraph, float) -> ONNX graph, channels-first."""

    def __init__(self, data: bytes) -> None:
        import tflite

        self.tfl = tflite
        self.model = tflite.Model.GetRootAsModel(data, 0)
        assert self.model.SubgraphsLength() == 1
        self.graph = self.model.Subgraphs(0)
        self.opnames = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}

    def tensor(self, index: int):
        return self.graph.Tensors(index)

    def name(self, index: int) -> str:
        return self.tensor(index).Name().decode()

    def shape(self, index: int) -> list[int]:
        return [int(v) for v in self.tensor(index).ShapeAsNumpy()]

    def constant(self, index: int) -> np.ndarray:
        """A weight: a float16 buffer (widened) or the output of a DEQUANTIZE of one."""
        name = self.name(index)
        if name in self.inits:
            return self.inits[name]
        t = self.tensor(index)
        types = {self.tfl.TensorType.FLOAT16: np.float16, self.tfl.TensorType.FLOAT32: np.float32}
        types[self.tfl.TensorType.INT32] = np.int32
        raw = self.model.Buffers(t.Buffer()).DataAsNumpy()
        return np.frombuffer(raw.tobytes(), dtype=types[t.Type()]).reshape(self.shape(index))

    def options(self, op, kind):
        table = op.BuiltinOptions()
        opts = kind()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def add_init(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def conv_pads(self, opts, x: int, kh: int, kw: int) -> list[int]:
        _, h, w, _ = self.shape(x)
        if opts.Padding() == self.tfl.Padding.VALID:
            return [0, 0, 0, 0]
        top, bottom = _same_pads(h, kh, opts.StrideH())
        left, right = _same_pads(w, kw, opts.StrideW())
        return [top, left, bottom, right]

    def convert(self):
        from onnx import TensorProto, helper, numpy_helper

        g, tfl = self.graph, self.tfl
        (inp,) = [g.Inputs(i) for i in range(g.InputsLength())]
        self.nodes.append(helper.make_node("Transpose", ["image"], [self.name(inp)], perm=[0, 3, 1, 2]))
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            kind = self.opnames[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins, outs = [int(v) for v in op.InputsAsNumpy()], [int(v) for v in op.OutputsAsNumpy()]
            out = self.name(outs[0])
            if kind == "DEQUANTIZE":
                self.add_init(out, self.constant(ins[0]).astype(np.float32))
            elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                self.conv(op, kind, ins, out)
            elif kind == "PRELU":
                alpha = self.constant(ins[1])  # [1, 1, C] (NHWC broadcast) -> [C, 1, 1]
                slope = self.add_init(self.name(ins[1]), alpha.reshape(-1, 1, 1).astype(np.float32))
                self.nodes.append(helper.make_node("PRelu", [self.name(ins[0]), slope], [out]))
            elif kind == "ADD":
                self.no_activation(self.options(op, tfl.AddOptions))
                self.nodes.append(helper.make_node("Add", [self.name(ins[0]), self.name(ins[1])], [out]))
            elif kind == "MAX_POOL_2D":
                opts = self.options(op, tfl.Pool2DOptions)
                self.no_activation(opts)
                kh, kw = opts.FilterHeight(), opts.FilterWidth()
                pads = self.conv_pads(opts, ins[0], kh, kw)
                self.nodes.append(
                    helper.make_node(
                        "MaxPool",
                        [self.name(ins[0])],
                        [out],
                        kernel_shape=[kh, kw],
                        strides=[opts.StrideH(), opts.StrideW()],
                        pads=pads,
                    )
                )
            elif kind == "PAD":
                nhwc = self.constant(ins[1]).astype(np.int64)  # [[before, after]] per N, H, W, C
                nchw = nhwc[[0, 3, 1, 2]]
                pads = self.add_init(self.name(ins[1]), np.concatenate([nchw[:, 0], nchw[:, 1]]))
                self.nodes.append(helper.make_node("Pad", [self.name(ins[0]), pads], [out], mode="constant"))
            else:
                raise SystemExit(f"operator {kind} is not converted")
        outputs = []
        for name, (onnx_name, shape) in OUTPUTS.items():
            target = self.add_init(f"{onnx_name}_shape", np.array(shape, dtype=np.int64))
            self.nodes.append(helper.make_node("Reshape", [name, target], [onnx_name]))
            outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, shape))
        used = {n for node in self.nodes for n in node.input}
        inits = [numpy_helper.from_array(v, k) for k, v in self.inits.items() if k in used]
        graph = helper.make_graph(
            self.nodes,
            "face_landmark",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, SIZE, SIZE, 3])],
            outputs,
            inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="deepstory scripts/facemesh_onnx.py"
        )
        model.ir_version = 8
        model.doc_string = (
            "MediaPipe face landmark model (face_landmark.tflite from mediapipe 0.10.21, sha256 "
            f"{MODEL_SHA256}), Apache-2.0, Copyright The MediaPipe Authors; converted to ONNX "
            "(format only: float16 weights widened to float32). Input: image [1,192,192,3] RGB; "
            "outputs: landmarks [1,1404] (468 x (x,y,z), crop pixels), presence [1,1] (logit)."
        )
        return model

    def conv(self, op, kind: str, ins: list[int], out: str) -> None:
        from onnx import helper

        depthwise = kind == "DEPTHWISE_CONV_2D"
        opts = self.options(op, self.tfl.DepthwiseConv2DOptions if depthwise else self.tfl.Conv2DOptions)
        self.no_activation(opts)
        assert opts.DilationHFactor() == 1 and opts.DilationWFactor() == 1
        weight = self.constant(ins[1])  # conv: [O, kh, kw, I]; depthwise: [1, kh, kw, C * multiplier]
        weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
        channels = self.shape(ins[0])[3]
        kh, kw = weight.shape[2], weight.shape[3]
        names = [self.name(ins[0]), self.add_init(f"{out}/weight", np.ascontiguousarray(weight, np.float32))]
        names.append(self.name(ins[2]))
        self.nodes.append(
            helper.make_node(
                "Conv",
                names,
                [out],
                kernel_shape=[kh, kw],
                strides=[opts.StrideH(), opts.StrideW()],
                pads=self.conv_pads(opts, ins[0], kh, kw),
                group=channels if depthwise else 1,
            )
        )

    def no_activation(self, opts) -> None:
        if opts.FusedActivationFunction() != self.tfl.ActivationFunctionType.NONE:
            raise SystemExit("a fused activation is not converted")


def _crops(specs: list[str]) -> list[tuple[str, np.ndarray]]:
    """192x192 RGB uint8 crops: each ``IMAGE[@x0,y0,x1,y1]``, and a noise image."""
    from PIL import Image

    crops = []
    for spec in specs:
        path, _, box = spec.partition("@")
        im = Image.open(path).convert("RGB")
        if box:
            im = im.crop(tuple(int(v) for v in box.split(",")))
        crops.append((spec, np.asarray(im.resize((SIZE, SIZE), Image.Resampling.BILINEAR))))
    crops.append(("noise", np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)))
    return crops


def check(tflite_data: bytes, onnx_path: Path, specs: list[str]) -> float:
    """The largest landmark difference (crop pixels) between the TFLite interpreter and the ONNX model."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_data)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    outs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for name, crop in _crops(specs):
        for low in (0.0, -1.0):
            x = (crop.astype(np.float32) / 255.0 * (1.0 - low) + low)[None]
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            ref = interpreter.get_tensor(outs["conv2d_21"]).reshape(-1)
            ref_logit = float(interpreter.get_tensor(outs["conv2d_31"]).reshape(-1)[0])
            got, logit = session.run(None, {"image": x})
            diff = float(np.abs(got.reshape(-1) - ref).max())
            worst = max(worst, diff)
            print(
                f"{name} (input {low:g}..1): landmarks max |onnx - tflite| {diff:.2e} px, "
                f"presence logit {ref_logit:+.3f} vs {float(logit.reshape(-1)[0]):+.3f}"
            )
    print(f"largest landmark difference: {worst:.2e} px")
    return worst


def main(argv: list[str] | None = None) -> int:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="the mediapipe 0.10.21 wheel (or face_landmark.tflite itself)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", nargs="*", metavar="IMAGE[@x0,y0,x1,y1]", help="compare with TFLite on these")
    args = parser.parse_args(argv)
    data = read_tflite(args.wheel)
    model = Converter(data).convert()
    onnx.checker.check_model(model, full_check=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.SerializeToString())
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")
    if args.check is not None:
        check(data, args.out, args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
