"""Image decoders side by side on this machine: the numbers behind `segdeploy.data.decode`'s choices.

    .venv/bin/python benchmarks/bench_decode.py              # writes benchmarks/results/decode.json
    .venv/bin/python benchmarks/bench_decode.py --runs 5

Files: a 2048x1024 synthetic street scene as PNG (compression level 1, as `segdeploy data synthetic`
writes, and 6, the usual default), its 8-bit grey trainIds label PNG, and the scene at VOC's
500x375 as JPEG (quality 90, 4:2:0). Per decoder: median ms per decode, whether its RGB pixels
equal Pillow's, the speed-up of 2 threads over 1 on 8 decodes, and the share of its decode during
which the GIL was free (`segdeploy.inference.workers.gil_free_share`). Optional decoders
(imagecodecs, simplejpeg: `pip install -e '.[bench]'`) say "not installed" when absent.
A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pyspng
from bench_engines import results_markdown
from PIL import Image
from rich.console import Console
from rich.table import Table

from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.inference.workers import gil_free_share
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic

HERE = Path(__file__).resolve().parent


def _pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB") if img.mode != "L" else img)


def _opencv(data: bytes) -> np.ndarray:
    flags = cv2.IMREAD_UNCHANGED if data.startswith(b"\x89PNG") and data[25] == 0 else cv2.IMREAD_COLOR
    out = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    return out if out.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def _decoders() -> dict[str, dict[str, object]]:
    """format -> decoder name -> function (or the reason it is absent)."""
    png = {"pillow": _pillow, "opencv": _opencv, "pyspng": pyspng.load}
    jpeg = {"pillow": _pillow, "opencv": _opencv}
    if importlib.util.find_spec("imagecodecs"):
        import imagecodecs  # optional: the `bench` extra

        png["imagecodecs"] = imagecodecs.png_decode
        jpeg["imagecodecs"] = imagecodecs.jpeg8_decode
    else:
        png["imagecodecs"] = jpeg["imagecodecs"] = "not installed"
    if importlib.util.find_spec("simplejpeg"):
        import simplejpeg  # optional: the `bench` extra

        jpeg["simplejpeg"] = lambda data: simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False,
                                                                 fastupsample=False)
    else:
        jpeg["simplejpeg"] = "not installed"
    return {"png": png, "jpeg": jpeg}


def _files(work: Path) -> dict[str, tuple[str, bytes]]:
    (path,) = generate_cityscapes_like(work, "val", 1, size=(1024, 2048), seed=0)
    scene = read_rgb(path)
    label = next((work / "gtFine" / "val").rglob("*_labelTrainIds.png")).read_bytes()

    def encoded(array: np.ndarray, fmt: str, **options) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    voc = cv2.resize(scene, (500, 375), interpolation=cv2.INTER_AREA)
    return {"scene 2048x1024 PNG level 1": ("png", path.read_bytes()),
            "scene 2048x1024 PNG level 6": ("png", encoded(scene, "PNG", compress_level=6)),
            "trainIds label 2048x1024 grey PNG": ("png", label),
            "VOC-sized 500x375 JPEG q90": ("jpeg", encoded(voc, "JPEG", quality=90))}


def _median_ms(decode, data: bytes, runs: int) -> float:
    decode(data)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        decode(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _thread_speedup(decode, data: bytes, jobs: int = 8) -> float:
    walls = []
    for threads in (1, 2):
        with ThreadPoolExecutor(threads) as pool:
            start = time.perf_counter()
            list(pool.map(decode, [data] * jobs))
            walls.append(time.perf_counter() - start)
    return walls[0] / walls[1]


def run(runs: int) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp))
    decoders = _decoders()
    for label, (fmt, data) in files.items():
        reference = _pillow(data)
        for name, decode in decoders[fmt].items():
            if isinstance(decode, str):
                rows.append({"file": label, "decoder": name, "status": decode})
                continue
            out = decode(data)
            rows.append({"file": label, "decoder": name, "status": "ok", "ms": _median_ms(decode, data, runs),
                         "same_pixels_as_pillow": bool(np.array_equal(out, reference)),
                         "two_threads_speedup": _thread_speedup(decode, data),
                         "gil_free_share": gil_free_share(lambda: decode(data))[1]})
    for label in files:
        ok = [r for r in rows if r["file"] == label and r["status"] == "ok" and r["same_pixels_as_pillow"]]
        best = min(ok, key=lambda r: r["ms"])
        pillow = next(r for r in ok if r["decoder"] == "pillow")
        for r in ok:
            r["vs_pillow"] = pillow["ms"] / r["ms"]
            r["fastest"] = r is best
    return {"machine": {"cpu": _cpu(), "python": platform.python_version(), "opencv": cv2.__version__,
                        "pillow": Image.__version__, "pyspng": getattr(pyspng, "__version__", "?")},
            "load": " ".join(f"{v:.2f}" for v in os.getloadavg()), "runs": runs, "rows": rows}


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return names[0] if names else platform.processor()


def table(result: dict) -> Table:
    out = Table(title=f"decoders on {result['machine']['cpu']} (median of {result['runs']})")
    for header in ("file", "decoder", "ms", "x Pillow", "same pixels", "2 threads / 1", "GIL free", "fastest"):
        out.add_column(header, justify="left" if header in ("file", "decoder") else "right")
    for r in result["rows"]:
        if r["status"] != "ok":
            out.add_row(r["file"], r["decoder"], r["status"], "", "", "", "", "")
            continue
        out.add_row(r["file"], r["decoder"], f"{r['ms']:.2f}", f"{r.get('vs_pillow', float('nan')):.2f}",
                    "yes" if r["same_pixels_as_pillow"] else "NO", f"{r['two_threads_speedup']:.2f}",
                    f"{r['gil_free_share']:.0%}", "<-" if r.get("fastest") else "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    result = run(args.runs)
    Console(width=160).print(table(result))
    write_json_atomic(HERE / "results" / "decode.json", result)
    write_text_atomic(HERE / "RESULTS.md", results_markdown(HERE / "results"))  # its table is part of the e2e section


if __name__ == "__main__":
    main()
