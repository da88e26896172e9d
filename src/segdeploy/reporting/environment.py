"""The machine and libraries a measurement was made with, for reports that must be reproducible."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from segdeploy.runtime.machine import physical_cores

# Packages whose versions change what an engine computes or how fast.
LIBRARIES = ("segdeploy", "torch", "onnxruntime", "onnx", "onnxslim", "openvino", "numpy")
# CPU features the engines' kernels dispatch on (vector width, int8 dot products, bf16, AMX).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
_CPUINFO = Path("/proc/cpuinfo")


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    """Installed version of each package (None: not installed), read without importing them."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    for line in _cpuinfo_lines():
        if line.startswith("flags"):
            return sorted(line.split(":", 1)[1].split())
    return []


def physical_core_count() -> int | None:
    """Distinct (socket, core) pairs in /proc/cpuinfo; None where it does not say."""
    cores, socket = set(), None
    for line in _cpuinfo_lines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            socket = value.strip()
        elif key.strip() == "core id":
            cores.add((socket, value.strip()))
    return len(cores) or None


def environment() -> dict:
    """CPU model and flags, core counts, OS, Python and library versions."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "kernel_flags": [f for f in KERNEL_FLAGS if f in flags],
        "flags": flags,
        "logical_cpus": os.cpu_count(),
        "usable_cores": physical_cores(),  # the affinity mask: what engine threads get
        "physical_cores": physical_core_count(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": library_versions(),
    }


def _cpuinfo_lines() -> list[str]:
    try:
        return _CPUINFO.read_text().splitlines()
    except OSError:  # not Linux, or /proc not mounted
        return []
