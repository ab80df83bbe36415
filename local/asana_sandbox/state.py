"""The bundle of collaborators one sandbox instance's routes share (no module globals, so instances are isolated)."""

from __future__ import annotations

from dataclasses import dataclass, field

from local.asana_sandbox.clock import SandboxClock
from local.asana_sandbox.faults import FaultSwitches
from local.asana_sandbox.pagination import OffsetCodec
from local.asana_sandbox.ratelimit import RateLimiter
from local.asana_sandbox.recorder import RequestRecorder
from local.asana_sandbox.store import SandboxStore


@dataclass
class SandboxState:
    clock: SandboxClock = field(default_factory=SandboxClock)
    faults: FaultSwitches = field(default_factory=FaultSwitches)
    recorder: RequestRecorder = field(default_factory=RequestRecorder)
    store: SandboxStore = field(init=False)
    offsets: OffsetCodec = field(init=False)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.store = SandboxStore(self.clock)
        self.offsets = OffsetCodec(self.clock.now)
        self.limiter = RateLimiter(self.clock.now)
