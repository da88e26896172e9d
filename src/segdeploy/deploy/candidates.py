"""The deployment candidates (engine and precision x batch x threads/streams), and the pick among them.

Pure data and decisions; running the candidates is `segdeploy.deploy.search`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from segdeploy.benchmark.catalog import ENGINES
from segdeploy.benchmark.timing import BatchTiming

AUTO_BATCHES = (1, 2, 4, 8)
Status = Literal["timed", "unavailable", "error", "over budget", "not needed"]


@dataclass(frozen=True)
class Candidate:
    engine: str  # a name of the engine catalogue (`segdeploy.benchmark.catalog.ENGINES`)
    batch: int
    threads: int  # intra-op threads of each stream
    streams: int = 1  # engine instances running at once, each on its own thread

    @property
    def id(self) -> str:
        return f"{self.engine}-b{self.batch}-t{self.threads}x{self.streams}"

    @property
    def precision(self) -> str:
        return ENGINES[self.engine].precision

    @property
    def setting(self) -> str:
        return f"{self.threads} thread{'s' * (self.threads > 1)} x {self.streams} stream{'s' * (self.streams > 1)}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def engine_order(engines: Sequence[str]) -> list[str]:
    """torch first (the reference), then the engines running an exported file (the deployment targets),
    then the other torch engines (their tuning is the slowest to build), each in catalogue order."""
    names = [n for n in ENGINES if n in engines]
    return (["torch"] * ("torch" in names) + [n for n in names if ENGINES[n].file is not None]
            + [n for n in names if ENGINES[n].file is None and n != "torch"])


def thread_settings(cores: int) -> list[tuple[int, int]]:
    """(threads, streams) pairs sharing out `cores`: all on one call (lowest latency), then 2 and 4
    streams (more calls at once: higher throughput where one call cannot use every core)."""
    return [(cores // streams, streams) for streams in (1, 2, 4) if streams == 1 or cores >= streams]


def candidate_list(engines: Sequence[str], batches: Sequence[int], cores: int) -> list[Candidate]:
    return [Candidate(engine, batch, threads, streams) for engine in engine_order(engines) for batch in batches
            for threads, streams in thread_settings(cores)]


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's outcome: its timing, and the accuracy of its engine on the scored images."""

    candidate: Candidate
    status: Status
    reason: str = ""
    timing: BatchTiming | None = None
    latencies_ms: tuple[float, ...] = ()  # every timed call of every stream
    detail: str = ""  # what exactly ran: the file, torch's tuned options
    miou: float | None = None  # percent
    d_miou: float | None = None  # points vs PyTorch fp32 on the same images
    passed: bool = False  # within the accuracy budget

    @property
    def timed(self) -> bool:
        return self.status == "timed" and self.timing is not None and self.timing.status == "ok"

    @property
    def deployable(self) -> bool:
        return self.timed and self.passed

    @property
    def verdict(self) -> str:
        """One word or phrase for tables: pass / failed accuracy / why it was not timed."""
        if self.status == "over budget":
            return "skipped: time budget"
        if self.status != "timed":
            return f"{self.status}: {self.reason}" if self.reason else self.status
        if self.timing is not None and self.timing.status != "ok":
            return f"skipped: {self.timing.reason}"
        return "pass" if self.passed else "failed accuracy"

    def timing_json(self) -> dict[str, Any]:
        """What a search stores per candidate (the accuracy is its engine's, stored once per engine)."""
        return {"candidate": self.candidate.to_json(), "status": self.status, "reason": self.reason,
                "timing": None if self.timing is None else self.timing.to_json(),
                "latencies_ms": list(self.latencies_ms), "detail": self.detail}

    @classmethod
    def from_timing_json(cls, obj: dict[str, Any]) -> CandidateResult:
        timing = obj["timing"]
        return cls(Candidate(**obj["candidate"]), obj["status"], obj["reason"],
                   None if timing is None else BatchTiming(**timing), tuple(obj["latencies_ms"]), obj["detail"])


def pick(results: Sequence[CandidateResult]) -> CandidateResult | None:
    """The passing candidate with the highest throughput (ties: the lower median latency)."""
    return max((r for r in results if r.deployable), key=lambda r: (r.timing.samples_per_s, -r.timing.p50_ms),
               default=None)


def pareto_front(results: Sequence[CandidateResult]) -> list[CandidateResult]:
    """Timed candidates no other beats on both throughput and mIoU (failed ones included: a fast
    candidate that lost accuracy is still a point of the trade-off)."""
    points = [r for r in results if r.timed and r.miou is not None and not math.isnan(r.miou)]

    def beaten(r: CandidateResult) -> bool:
        return any(o.timing.samples_per_s >= r.timing.samples_per_s and o.miou >= r.miou
                   and (o.timing.samples_per_s > r.timing.samples_per_s or o.miou > r.miou) for o in points)

    return sorted((r for r in points if not beaten(r)), key=lambda r: r.timing.samples_per_s)


def tradeoff(chosen: CandidateResult, results: Sequence[CandidateResult], unit: str = "images") -> str:
    """Which side of the latency/throughput trade-off the pick took, against the lowest-latency passing one."""
    fastest_call = min((r for r in results if r.deployable), key=lambda r: r.timing.p50_ms)
    c, t = chosen.timing, fastest_call.timing
    said = (f"highest throughput: {chosen.candidate.id} ({chosen.candidate.setting}) computes {c.samples_per_s:.1f} "
            f"{unit}/s, one call of {c.batch} taking {c.p50_ms:.1f} ms (p50), {c.p90_ms:.1f} ms (p90)")
    if fastest_call is chosen or t.p50_ms >= c.p50_ms:
        return said + "; it is also the lowest-latency passing candidate"
    return (said + f". For latency instead, {fastest_call.candidate.id} answers one call of {t.batch} in "
                   f"{t.p50_ms:.1f} ms (p50) at {t.samples_per_s:.1f} {unit}/s ({t.samples_per_s / c.samples_per_s:.2f}x "
                   "the throughput)")
