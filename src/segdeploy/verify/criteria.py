"""What a verification demands, with the defaults the CLI states (no heavy imports: the CLI reads it)."""

from __future__ import annotations

from dataclasses import dataclass

# A float32 engine on the same file stays within about 1e-5 of PyTorch on every model here
# (benchmarks/parity.py); the logit allowance is far above that and far below an int8 engine's error.
DEFAULT_ATOL = 1e-3
DEFAULT_RTOL = 1e-3
DEFAULT_MIN_AGREEMENT = 0.999
DEFAULT_MAX_DROP = 0.1  # mIoU percentage points


@dataclass(frozen=True)
class Criteria:
    """Every criterion a verification applies; a None one is not applied.

    Logits pass when every value satisfies |Δ| <= atol + rtol * |reference| (numpy/torch allclose);
    `max_drop` only applies when labels are known.
    """

    atol: float | None = DEFAULT_ATOL
    rtol: float | None = DEFAULT_RTOL
    min_agreement: float | None = DEFAULT_MIN_AGREEMENT
    max_drop: float | None = DEFAULT_MAX_DROP

    @property
    def checks_logits(self) -> bool:
        return self.atol is not None or self.rtol is not None

    def tolerance(self) -> tuple[float, float]:
        """(atol, rtol) with an unset one as 0; the defaults when neither is set (the bisect needs one)."""
        if not self.checks_logits:
            return DEFAULT_ATOL, DEFAULT_RTOL
        return self.atol or 0.0, self.rtol or 0.0
