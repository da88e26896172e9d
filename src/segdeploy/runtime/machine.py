"""What this machine offers an engine: the cores this process may use, the CPU and the libraries."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path


def physical_cores() -> int:
    """Cores to give an engine's intra-op pool: what this process may use (hyperthreads are not
    worth a thread each for conv-heavy work, but we cannot see the topology portably)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_memory_bytes() -> int:
    """Memory a new allocation can get without swapping: MemAvailable (free plus reclaimable cache)."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# CPU features that decide which kernels an engine can use (reduced precision and int8 dot products)
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
                "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def machine_info() -> dict:
    """CPU model, its kernel-relevant flags, cores, load and library versions: what a timing depends on."""
    info = {"cpu": platform.processor() or platform.machine(), "cpu_flags": [], "cores": physical_cores(),
            "logical_cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg")
            else None, "python": platform.python_version()}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        fields = dict(line.split(":", 1) for line in cpuinfo.read_text().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu"] = fields.get("model name", info["cpu"])
        info["cpu_flags"] = [flag for flag in KERNEL_FLAGS if flag in fields.get("flags", "").split()]
    for package in ("torch", "onnxruntime", "onnx", "onnxslim", "numpy", "openvino", "nncf"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    return info
