"""The bundle of collaborators one sandbox instance's routes act on. Nothing that changes is global, so instances are
isolated.

One Flask app serves every sandbox in the process (building one per instance, which compiles every route, cost more
than everything else a sandbox does at start); each instance's WSGI server puts its state into the request environ,
where `current_state()` finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import request

from local.asana_sandbox import demo
from local.asana_sandbox.changes import Changes
from local.asana_sandbox.clock import SandboxClock
from local.asana_sandbox.events import EventLog
from local.asana_sandbox.faults import FaultSwitches
from local.asana_sandbox.pagination import OffsetCodec
from local.asana_sandbox.ratelimit import RateLimiter
from local.asana_sandbox.recorder import RequestRecorder
from local.asana_sandbox.store import SandboxStore
from local.asana_sandbox.webhooks import Webhooks

ENVIRON_KEY = "asana_sandbox.state"


@dataclass
class SandboxState:
    # The Asana data to start with; None: the small demo organization (demo.build_demo_data()).
    dataset: demo.DemoData | None = None
    clock: SandboxClock = field(default_factory=SandboxClock)
    faults: FaultSwitches = field(default_factory=FaultSwitches)
    recorder: RequestRecorder = field(default_factory=RequestRecorder)
    # Webhook targets on loopback and private addresses: allowed for local mode, refused (403) as Asana does if off.
    allow_loopback_targets: bool = True
    store: SandboxStore = field(init=False)
    offsets: OffsetCodec = field(init=False)
    limiter: RateLimiter = field(init=False)
    events: EventLog = field(init=False)
    changes: Changes = field(init=False)
    webhooks: Webhooks = field(init=False)

    def __post_init__(self) -> None:
        self.store = SandboxStore(self.clock, self.dataset)
        self.dataset = None  # the store owns (and mutates) it from here on
        self.offsets = OffsetCodec(self.clock.now)
        self.limiter = RateLimiter(self.clock.now)
        self.events = EventLog(self.clock.now)
        self.changes = Changes(self.store, self.events, self.clock.now)
        self.webhooks = Webhooks(
            self.store, self.events, self.clock.now, allow_loopback_targets=self.allow_loopback_targets
        )

    def load(self, data: demo.DemoData) -> None:
        """Swap in another dataset: every resource and event is replaced; apps, PATs, issued tokens and webhooks
        stay."""
        with self.store.lock:
            self.store.load(data)
            for app in data.apps:
                self.store.apps.setdefault(app.client_id, app)
            for token, user_gid in data.pats.items():
                self.store.pats.setdefault(token, user_gid)
            self.events.clear()


def current_state() -> SandboxState:
    """The state of the sandbox that received the request being handled."""
    state: SandboxState = request.environ[ENVIRON_KEY]
    return state
