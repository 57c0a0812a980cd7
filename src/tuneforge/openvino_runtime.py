"""Run an OpenVINO IR task model on the CPU: the predictor backend of `compress --method openvino`
and `openvino-int8` (``"backend": "openvino"`` in tuneforge.json).

OpenVINO comes with the optional extra ``openvino`` and is imported only here and in
compress/openvino.py, behind an error that names the extra.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge.errors import TuneforgeError
from tuneforge.inference import collate, cpu_flags, length_sorted_batches, physical_cores

OPENVINO_XML = "openvino_model.xml"
# The weights beside the graph. OpenVINO names them model.bin by default, but the registry refuses
# every *.bin file (PyTorch's pickle weights use that suffix), so they are saved under a name of
# their own; `openvino.Core().read_model(xml, weights)` reads them from any name.
OPENVINO_WEIGHTS = "openvino_model.weights"
OPENVINO_PRECISIONS = ("f32", "bf16")


def require_openvino() -> Any:
    """The ``openvino`` module.

    Raises:
        TuneforgeError: OpenVINO is not installed (the message names the extra).
    """
    try:
        import openvino
    except ImportError as exc:
        raise TuneforgeError(
            "The OpenVINO backend needs OpenVINO and NNCF: pip install 'tuneforge[openvino]'."
        ) from exc
    return openvino


@contextlib.contextmanager
def telemetry_off() -> Iterator[None]:
    """No usage telemetry from OpenVINO's converter or NNCF inside the block.

    Both send through openvino_telemetry, which counts a missing consent file as consent for
    tools that show no opt-in dialog (convert_model is one). It has no switch of its own besides
    writing ``$HOME/intel/openvino_telemetry``, which a library should not do; it declines when
    it believes it runs in CI (``CI=true``, checked when a tool initialises it), so that is set
    for the block and restored after.
    """
    previous = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = previous


class _SignalStack(ctypes.Structure):
    """POSIX ``stack_t``, the argument of sigaltstack(2)."""

    _fields_ = (
        ("ss_sp", ctypes.c_void_p),
        ("ss_flags", ctypes.c_int),
        ("ss_size", ctypes.c_size_t),
    )


_SS_ONSTACK = 1  # a flag sigaltstack reports, never one it accepts


@contextlib.contextmanager
def signal_stack_kept() -> Iterator[None]:
    """Put the calling thread's alternate signal stack back as it was when the block ends.

    OpenVINO's CPU plugin (2026.4) installs an alternate signal stack of its own on the thread
    that compiles a model, and puts back the one it found when that compiled model is released.
    Two compiled models released in the order they were compiled (the predictor recompiling for
    a thread count does that) leave the thread on a stack that was already freed; CPython's
    signal handlers run on the alternate stack, so the next Ctrl-C or SIGTERM after that was a
    segmentation fault instead of a clean stop (found when a torch test that sends itself
    SIGINT crashed after the OpenVINO tests). Every compile, and the release of whatever an
    OpenVINO call compiled for itself (NNCF does), happens inside this block; the stack the
    thread had before is what it has after, so each compiled model also saves and later puts
    back that valid one."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    saved = _SignalStack()
    if libc.sigaltstack(None, ctypes.byref(saved)) != 0:
        yield  # nothing known to restore
        return
    saved.ss_flags &= ~_SS_ONSTACK
    try:
        yield
    finally:
        gc.collect()  # release the block's own compiled models while their stacks are known
        libc.sigaltstack(ctypes.byref(saved), None)


def default_precision() -> str:
    """bf16 where the cores compute it natively (AMX or AVX512-BF16), else f32: the same rule as
    the PyTorch predictor's ``precision: auto`` and OpenVINO's own CPU default."""
    flags = cpu_flags()
    return "bf16" if "avx512_bf16" in flags or "amx_bf16" in flags else "f32"


def compile_model(
    model_dir: Path, precision: str = "f32", threads: int | None = None
) -> tuple[Any, Any]:
    """Read ``model_dir``'s IR and compile it for the CPU.

    Args:
        model_dir: the folder holding OPENVINO_XML and OPENVINO_WEIGHTS.
        precision: "f32" or "bf16" inference precision (OpenVINO's INFERENCE_PRECISION_HINT);
            set explicitly because OpenVINO's default on bf16 CPUs is bf16 even for an f32 IR.
        threads: inference threads; None: one per physical core.

    Returns:
        (compiled model, the read ov.Model).
    """
    ov = require_openvino()
    core = ov.Core()
    model = core.read_model(str(model_dir / OPENVINO_XML), str(model_dir / OPENVINO_WEIGHTS))
    with signal_stack_kept():
        compiled = core.compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "INFERENCE_NUM_THREADS": threads or physical_cores(),
                # One stream: a request uses every thread, as PyTorch and ONNX Runtime do here.
                "PERFORMANCE_HINT": "LATENCY",
            },
        )
    return compiled, model


class OpenVinoTaskModel:
    """A task model compiled by OpenVINO; takes the place of the torch module in the predictor
    and returns logits like :func:`tuneforge.inference.forward_logits`."""

    def __init__(self, model_dir: Path, precision: str = "f32", threads: int | None = None):
        self.model_dir = Path(model_dir)
        self.precision = precision
        self.compiled, self.ir = compile_model(self.model_dir, precision, threads)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]

    def with_threads(self, threads: int) -> OpenVinoTaskModel:
        """The same model compiled again for ``threads`` inference threads."""
        return OpenVinoTaskModel(self.model_dir, self.precision, threads)

    def forward_logits(
        self, features: list[dict[str, Any]], batch_size: int, pad_token_id: int
    ) -> list[np.ndarray]:
        """Logits of every example in input order (token tasks cut to the real length)."""
        # A request per call: an infer request is not safe to share between the server's threads.
        request = self.compiled.create_infer_request()
        outputs: list[np.ndarray | None] = [None] * len(features)
        for indices in length_sorted_batches(features, batch_size):
            batch = collate([features[i] for i in indices], pad_token_id)
            feed = {name: batch[name].numpy() for name in self.input_names}
            logits = np.array(request.infer(feed)[0], dtype=np.float32)
            for row, index in enumerate(indices):
                length = len(features[index]["input_ids"])
                outputs[index] = logits[row, :length] if logits.ndim == 3 else logits[row]
        return [array for array in outputs if array is not None]

    def parameter_counts(self) -> dict[str, int]:
        """Total and non-zero values of the weight constants (int8 weights count one each;
        their per-channel scales are counted too, a fraction of a percent)."""
        total = nonzero = 0
        for op in self.ir.get_ordered_ops():
            if op.get_type_name() != "Constant":
                continue
            values = op.get_data()
            # Scalars and int64 arrays are shapes, axes and quantisation zero points.
            if values.ndim == 0 or values.dtype == np.int64 or values.dtype.kind not in "fiu":
                continue
            total += values.size
            nonzero += int(np.count_nonzero(values))
        return {"parameters": total, "nonzero_parameters": nonzero}
