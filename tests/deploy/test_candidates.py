"""The candidates and the pick: ordering, threads/streams, Pareto front, trade-off, from constructed results."""

from __future__ import annotations

from segdeploy.benchmark.catalog import CUDA_ENGINES, ENGINES
from segdeploy.benchmark.timing import BatchTiming
from segdeploy.deploy.candidates import (
    Candidate,
    CandidateResult,
    candidate_list,
    engine_order,
    pareto_front,
    pick,
    thread_settings,
    tradeoff,
)


def result(engine: str, batch: int, rate: float, p50: float, miou: float, passed: bool, streams: int = 1):
    timing = BatchTiming(engine, batch, "ok", samples_per_s=rate, p50_ms=p50, p90_ms=p50 * 1.2, mean_ms=p50, loops=5)
    return CandidateResult(Candidate(engine, batch, 2 // streams, streams), "timed", timing=timing, miou=miou,
                           d_miou=miou - 80, passed=passed)


def test_torch_first_then_exported_files_then_other_torch_engines():
    cpu_engines = [e for e in ENGINES if e not in CUDA_ENGINES]
    assert engine_order(cpu_engines) == ["torch", "onnxruntime", "onnxruntime-slim", "onnxruntime-fused",
                                         "onnxruntime-int8", "onnxruntime-int8-aware", "onnxruntime-streams",
                                         "onnxruntime-int8-streams", "openvino", "openvino-bf16",
                                         "openvino-int8", "openvino-throughput", "openvino-bf16-throughput",
                                         "openvino-int8-throughput", "torch-opt", "torch-bf16"]
    assert engine_order(["onnxruntime-int8", "torch"]) == ["torch", "onnxruntime-int8"]


def test_thread_settings_share_the_cores_out():
    assert thread_settings(1) == [(1, 1)]
    assert thread_settings(2) == [(2, 1), (1, 2)]
    assert thread_settings(16) == [(16, 1), (8, 2), (4, 4)]
    listed = candidate_list(["onnxruntime", "torch"], [1, 4], cores=2)
    assert [c.id for c in listed][:2] == ["torch-b1-t2x1", "torch-b1-t1x2"] and len(listed) == 8
    assert [Candidate(e, 1, 2).precision for e in ("torch", "onnxruntime-int8", "openvino-bf16", "torch-opt")] == \
        ["fp32", "int8", "bf16", "fp32"]


def test_the_fastest_passing_candidate_is_picked_never_a_failed_or_untimed_one():
    slow = result("torch", 1, 10, 100, 80.0, True)
    fast_failed = result("onnxruntime-int8", 4, 90, 40, 70.0, False)
    best = result("onnxruntime", 4, 40, 90, 80.0, True, streams=2)
    low_latency = result("onnxruntime", 1, 30, 30, 80.0, True)
    skipped = CandidateResult(Candidate("openvino", 1, 2), "over budget")
    results = [slow, fast_failed, best, low_latency, skipped]
    assert pick(results) is best and pick([fast_failed, skipped]) is None
    assert [r.candidate.id for r in pareto_front(results)] == [best.candidate.id, fast_failed.candidate.id]
    said = tradeoff(best, results)
    assert said.startswith("highest throughput: onnxruntime-b4-t1x2") and "onnxruntime-b1-t2x1" in said
    assert "0.75x the throughput" in said
    assert tradeoff(low_latency, [low_latency]).endswith("also the lowest-latency passing candidate")
    assert skipped.verdict == "skipped: time budget" and fast_failed.verdict == "failed accuracy"


def test_a_stored_timing_round_trips():
    r = result("openvino", 2, 12.5, 80, 79.0, True)
    back = CandidateResult.from_timing_json(r.timing_json())
    assert back.candidate == r.candidate and back.timing == r.timing and back.miou is None
