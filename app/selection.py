"""What the sidebar hands every page: the model bundle, the data and a ready :class:`Policy`."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from core.policies import POLICIES, Policy, ThresholdPolicy
from core.run import ModelBundle


@dataclass
class DataChoice:
    source: str                  # "glue" | "probes" | "upload"
    task: str | None = None      # GLUE task (for "glue" and "upload")
    split: str = "validation"
    limit: int | None = None
    upload_name: str | None = None
    upload_bytes: bytes | None = None
    trace: object = None         # source "trace": the opened trace (its samples are the data)

    @property
    def label(self) -> str:
        if self.source == "glue":
            return f"{self.task} {self.split}" + (f" (≤ {self.limit:,} samples)" if self.limit else "")
        if self.source == "probes":
            return "probe sentences (assets/probes.tsv)"
        if self.source == "trace":
            return f"the trace's {self.trace.n:,} samples" if self.trace is not None else "a trace"
        return f"uploaded {self.upload_name}" if self.upload_name else "an upload (none yet)"

    @property
    def digest(self) -> str:
        if self.source == "upload":
            return hashlib.sha256(self.upload_bytes or b"").hexdigest()[:12]
        if self.source == "trace" and self.trace is not None:
            return hashlib.sha256("\n".join(self.trace.texts).encode()).hexdigest()[:12]
        return ""


@dataclass
class Selection:
    bundle: ModelBundle
    data: DataChoice
    policy: Policy
    models: list[str] = field(default_factory=list)

    @property
    def policy_name(self) -> str:
        return self.policy.name

    @property
    def title(self) -> str:
        return POLICIES[self.policy.name].title

    @property
    def threshold(self) -> float | None:
        return float(self.policy.threshold) if isinstance(self.policy, ThresholdPolicy) else None

    @property
    def earliest(self) -> int:
        """1-based earliest exit block."""
        return self.policy.min_block + 1
