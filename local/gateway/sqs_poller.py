"""Lambda's SQS poller, against moto's SQS: receive batches, invoke the function, delete what succeeded.

Lambda's side is played here; the queue's side is moto's own, never re-implemented: the visibility timeout (a
received message stays hidden for the queue's ``VisibilityTimeout``, and a failed one is simply not deleted, so it
returns when that ends, with its ``ApproximateReceiveCount`` one higher), ``DelaySeconds`` (queue-wide or per message),
and the redrive policy (moto moves a message to the dead-letter queue on the receive that finds it already received
``maxReceiveCount`` times, as SQS does).

As Lambda does (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS"):

- a batch gathers up to ``BatchSize`` messages (ReceiveMessage returns ten at most, so larger batches take several),
  for at most ``MaximumBatchingWindowInSeconds`` after the first one, and stops short of the 6 MB synchronous payload
  limit (what does not fit opens the next batch);
- at most ``MaximumConcurrency`` batches run at once; a poller only receives when a batch may start, so no message
  waits hidden for a free slot;
- with a batching window, if window + function timeout exceeds the queue's visibility timeout, messages are received
  with window + timeout + 30 s instead (the guide's "effective queue visibility timeout");
- the function is invoked synchronously, queued behind its reserved concurrency rather than throttled;
- :mod:`local.gateway.sqs_batch` decides which messages are deleted; the rest are left to their visibility timeout.

Two ways to run it: :meth:`QueuePoller.start` polls in the background like the deployed mapping (``make run``);
:meth:`QueuePoller.poll_once` and :meth:`QueuePoller.drain` do the same work on the caller's demand, so tests and
scripts step the queue without depending on timing. Both may run together: receives are serialized per mapping
(moto's ReceiveMessage is not atomic across threads) and share the mapping's concurrency.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.gateway.runtime import REGION, FunctionHost, Outcome
from local.gateway.sqs_batch import batch_verdict, sqs_record
from local.gateway.sqs_mappings import SqsMapping

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef, ReceiveMessageRequestTypeDef

_log = logging.getLogger("local.sqs")

SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload quota
_RECEIVE_MAX = 10  # ReceiveMessage's MaxNumberOfMessages ceiling
_EMPTY_EVENT_BYTES = len('{"Records": []}')
_STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class BatchReport:
    queue: str
    function: str
    request_id: str
    outcome: Outcome
    message_ids: tuple[str, ...]
    deleted: tuple[str, ...]
    returned: tuple[str, ...]
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "requestId": self.request_id,
            "outcome": self.outcome,
            "messages": len(self.message_ids),
            "deleted": len(self.deleted),
            "returned": list(self.returned),
            "reason": self.reason,
        }


@dataclass
class QueueCounts:
    """SQS's approximate counts: visible now, received and hidden (in flight), and delayed."""

    visible: int
    in_flight: int
    delayed: int


@dataclass
class DrainReport:
    queue: str
    batches: list[BatchReport] = field(default_factory=list)
    remaining: QueueCounts = field(default_factory=lambda: QueueCounts(0, 0, 0))
    settled: bool = False  # nothing left to do: no visible message (and, when waited for, none in flight or delayed)

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "settled": self.settled,
            "batches": [batch.as_json() for batch in self.batches],
            "messages": sum(len(batch.message_ids) for batch in self.batches),
            "deleted": sum(len(batch.deleted) for batch in self.batches),
            "returned": sum(len(batch.returned) for batch in self.batches),
            "remaining": {
                "visible": self.remaining.visible,
                "inFlight": self.remaining.in_flight,
                "delayed": self.remaining.delayed,
            },
        }


class QueuePoller:
    """One event source mapping: one queue, one function."""

    def __init__(
        self,
        mapping: SqsMapping,
        host: FunctionHost,
        sqs: SQSClient,
        *,
        poll_wait_seconds: int = 1,
    ) -> None:
        if mapping.function not in host.functions:
            raise ValueError(f"{mapping.function} polls {mapping.queue} but is no function of the template")
        self.mapping = mapping
        self._host = host
        self._sqs = sqs
        # Short long-polls (AWS's pollers wait 20 s) so that stopping takes at most about this long.
        self._poll_wait_seconds = poll_wait_seconds
        self._timeout = host.functions[mapping.function].spec.timeout
        self._queue_url = sqs.get_queue_url(QueueName=mapping.queue_name, QueueOwnerAWSAccountId=mapping.account_id)[
            "QueueUrl"
        ]
        self._receive_visibility = self._effective_visibility_timeout()
        self._slots = threading.BoundedSemaphore(mapping.maximum_concurrency)
        self._receive_lock = threading.Lock()
        self._carried: list[dict[str, Any]] = []  # received records that did not fit the last batch's payload
        self._running = 0  # batches received and not yet finished, from any caller
        self._drains = 0  # drains in progress: the background poller pauses
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.mapping.queue}->{self.mapping.function}"

    # ------------------------------------------------------------------------------------------------ background
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already polling")
        self._thread = threading.Thread(target=self._poll_forever, name=f"sqs-poller:{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop receiving (returns at once; :meth:`stop` also waits)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop receiving, and give running batches a moment to finish. A batch still running after that is left to
        its handler thread; its messages return after their visibility timeout, as when an environment dies."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_wait_seconds + 5)
        if not self._wait_idle(time.monotonic() + _STOP_GRACE_SECONDS):
            _log.warning("%s: stopped with batches running; their messages return when visible again", self.name)

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            if self._draining():  # a drain is stepping this queue: it alone receives until it is done
                self._stop.wait(0.05)
                continue
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                batch = self._claim_batch(wait_seconds=self._poll_wait_seconds)
            except Exception:
                _log.exception("%s: receiving failed; retrying in a second", self.name)
                self._stop.wait(1)
                continue
            if batch:
                self._run_in_background(batch, collect=None)

    # ------------------------------------------------------------------------------------------------ on demand
    def poll_once(self, *, wait_seconds: int = 0) -> BatchReport | None:
        """Receive one batch now and run it to the end in this thread; ``None`` when no message is visible."""
        self._slots.acquire()
        batch = self._claim_batch(wait_seconds=wait_seconds)
        if not batch:
            return None
        try:
            return self._process(batch)
        finally:
            self._finish_batch()

    def drain(self, *, wait_for_invisible: bool = False, timeout: float = 60.0) -> DrainReport:
        """Run batches, up to the mapping's concurrency, until no message is visible and none is being processed
        (what the function queued meanwhile included). With ``wait_for_invisible``, also wait for messages in flight
        or delayed to become visible and process them, until the queue is empty (failures end in the dead-letter
        queue or are deleted) or ``timeout`` passes. The background poller pauses meanwhile."""
        with self._idle:
            self._drains += 1
        try:
            return self._drain(wait_for_invisible, time.monotonic() + timeout)
        finally:
            with self._idle:
                self._drains -= 1

    def _drain(self, wait_for_invisible: bool, deadline: float) -> DrainReport:
        report = DrainReport(self.mapping.queue)
        collected: list[BatchReport] = []
        while True:
            started = 0
            while time.monotonic() < deadline and self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                batch = self._claim_batch(wait_seconds=0)
                if not batch:
                    break
                self._run_in_background(batch, collect=collected)
                started += 1
            idle = self._wait_idle(deadline)
            report.remaining = self.counts()
            left = deadline - time.monotonic()
            hidden = report.remaining.in_flight + report.remaining.delayed
            if left > 0 and (report.remaining.visible or (wait_for_invisible and hidden)):
                if not started:  # nothing was receivable yet (hidden, or just counted): look again shortly
                    self._stop.wait(min(0.1, left))
                continue
            report.settled = idle and not report.remaining.visible and not (wait_for_invisible and hidden)
            report.batches = list(collected)
            return report

    def counts(self) -> QueueCounts:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return QueueCounts(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    # ------------------------------------------------------------------------------------------------ one batch
    def _claim_batch(self, *, wait_seconds: int) -> list[dict[str, Any]]:
        """Receive a batch for a concurrency slot the caller holds. A batch comes back counted as running (the caller
        ends it with :meth:`_finish_batch`); after an empty receive, or an error, the slot is given back here."""
        try:
            with self._receive_lock:
                batch = self._gather(wait_seconds)
                if batch:  # counted inside the lock: a drain that finds none visible sees these running
                    with self._idle:
                        self._running += 1
        except BaseException:
            self._slots.release()
            raise
        if not batch:
            self._slots.release()
        return batch

    def _gather(self, first_wait_seconds: int) -> list[dict[str, Any]]:
        """One batch as Lambda gathers it (see the module's docstring); the caller holds the receive lock."""
        mapping = self.mapping
        batch: list[dict[str, Any]] = []
        size = _EMPTY_EVENT_BYTES
        pending, self._carried = self._carried, []
        window_ends: float | None = None
        wait = first_wait_seconds
        while True:
            if not pending:
                if len(batch) >= mapping.batch_size:
                    break
                pending = self._receive(min(_RECEIVE_MAX, mapping.batch_size - len(batch)), wait)
                if not pending:
                    break
            if window_ends is None:
                window_ends = time.monotonic() + mapping.batching_window_seconds
            for index, record in enumerate(pending):
                record_size = len(json.dumps(record).encode()) + 1
                if batch and (size + record_size > SYNC_PAYLOAD_LIMIT_BYTES or len(batch) >= mapping.batch_size):
                    self._carried = pending[index:]
                    return batch
                batch.append(record)
                size += record_size
            pending = []
            remaining = window_ends - time.monotonic()
            if mapping.batching_window_seconds == 0 or remaining <= 0:
                break
            wait = math.ceil(remaining)
        return batch

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        request: ReceiveMessageRequestTypeDef = {
            "QueueUrl": self._queue_url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self._receive_visibility is not None:
            request["VisibilityTimeout"] = self._receive_visibility
        messages = self._sqs.receive_message(**request).get("Messages", [])
        return [sqs_record(message, self.mapping.queue_arn, REGION) for message in messages]

    def _run_in_background(self, batch: list[dict[str, Any]], *, collect: list[BatchReport] | None) -> None:
        def run() -> None:
            try:
                report = self._process(batch)
                if collect is not None:
                    collect.append(report)
            except Exception:
                _log.exception("%s: a batch failed in the poller itself", self.name)
            finally:
                self._finish_batch()

        threading.Thread(target=run, name=f"sqs-batch:{self.name}", daemon=True).start()

    def _process(self, batch: Sequence[dict[str, Any]]) -> BatchReport:
        mapping = self.mapping
        # Kept apart from the event: the handler may change the records it was given.
        receipts = {record["messageId"]: record["receiptHandle"] for record in batch}
        message_ids = tuple(receipts)
        invocation = self._host.invoke(mapping.function, {"Records": list(batch)}, queue_when_throttled=True)
        verdict = batch_verdict(
            invocation,
            message_ids,
            report_batch_item_failures=mapping.report_batch_item_failures,
            timeout_seconds=self._timeout,
        )
        deleted = tuple(message_id for message_id in message_ids if message_id not in verdict.returned)
        self._delete([receipts[message_id] for message_id in deleted])
        report = BatchReport(
            queue=mapping.queue,
            function=mapping.function,
            request_id=invocation.request_id,
            outcome=invocation.outcome,
            message_ids=message_ids,
            deleted=deleted,
            returned=tuple(message_id for message_id in message_ids if message_id in verdict.returned),
            reason=verdict.reason,
        )
        log = _log.warning if report.returned else _log.info
        log(
            "%s: %d messages, %d deleted, %d returned%s (request %s)",
            self.name,
            len(message_ids),
            len(deleted),
            len(report.returned),
            f": {verdict.reason}" if verdict.reason else "",
            invocation.request_id,
        )
        return report

    def _delete(self, receipts: Sequence[str]) -> None:
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": receipt} for index, receipt in enumerate(receipts)
        ]
        for start in range(0, len(entries), _RECEIVE_MAX):
            chunk = entries[start : start + _RECEIVE_MAX]
            failed = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=chunk).get("Failed", [])
            for failure in failed:
                # A run longer than the visibility timeout: the message was received again, its old handle expired.
                _log.warning("%s: could not delete a message: %s", self.name, failure.get("Code"))

    # ------------------------------------------------------------------------------------------------ bookkeeping
    def _finish_batch(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()
        self._slots.release()

    def _wait_idle(self, deadline: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout=max(0.0, deadline - time.monotonic()))

    def _draining(self) -> bool:
        with self._idle:
            return self._drains > 0

    def _effective_visibility_timeout(self) -> int | None:
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["VisibilityTimeout"])
        queue_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        window = self.mapping.batching_window_seconds
        if window and window + self._timeout > queue_timeout:
            return window + self._timeout + 30
        return None


class EventSources:
    """The stack's SQS event source mappings, started, stopped and drained together."""

    def __init__(self, pollers: Sequence[QueuePoller]) -> None:
        self.pollers = list(pollers)

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()
            _log.info(
                "polling %s for %s (batch size %d, window %d s, concurrency %d%s)",
                poller.mapping.queue,
                poller.mapping.function,
                poller.mapping.batch_size,
                poller.mapping.batching_window_seconds,
                poller.mapping.maximum_concurrency,
                ", ReportBatchItemFailures" if poller.mapping.report_batch_item_failures else "",
            )

    def stop(self) -> None:
        for poller in self.pollers:
            poller.request_stop()  # all stop receiving at once; then each waits for its own batches
        for poller in self.pollers:
            poller.stop()

    def for_queue(self, queue: str) -> list[QueuePoller]:
        """The mappings reading a queue, named by its logical id (or its name or ARN)."""
        found = [p for p in self.pollers if queue in (p.mapping.queue, p.mapping.queue_name, p.mapping.queue_arn)]
        if not found:
            known = ", ".join(sorted({p.mapping.queue for p in self.pollers})) or "none"
            raise LookupError(f"no event source mapping reads {queue!r} (known: {known})")
        return found

    def drain(
        self, queue: str | None = None, *, wait_for_invisible: bool = False, timeout: float = 60.0
    ) -> list[DrainReport]:
        """Drain one queue's mappings, or all, round after round until a round runs no batch: a function may queue
        work for another mapping (or its own) while it runs."""
        pollers = self.for_queue(queue) if queue is not None else self.pollers
        deadline = time.monotonic() + timeout
        reports = {poller.name: DrainReport(poller.mapping.queue) for poller in pollers}
        while True:
            ran = 0
            for poller in pollers:
                left = max(0.0, deadline - time.monotonic())
                round_report = poller.drain(wait_for_invisible=wait_for_invisible, timeout=left)
                total = reports[poller.name]
                total.batches += round_report.batches
                total.remaining, total.settled = round_report.remaining, round_report.settled
                ran += len(round_report.batches)
            if ran == 0 or time.monotonic() >= deadline:
                return list(reports.values())
