"""``make run``: the whole system on this machine, then every URL and credential a person needs, until Ctrl-C.

Ports default to gateway 3000, Asana sandbox 3010, moto 3020, dev sign-in 3030; change them with flags or with
``GATEWAY_PORT``/``SANDBOX_PORT``/``MOTO_PORT``/``SIGNIN_PORT`` (``GATEWAY_PORT=4000 make run``). Everything listens
on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from local.asana_sandbox import demo
from local.gateway.async_invoke import LOCAL_RETRY_DELAY_SCALE
from local.stack import DEFAULT_PORTS, LocalStack, StackPorts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    def port(env: str, default: int) -> int:
        return int(os.environ.get(env, default))

    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=port("GATEWAY_PORT", DEFAULT_PORTS.gateway), help="gateway")
    parser.add_argument("--sandbox-port", type=int, default=port("SANDBOX_PORT", DEFAULT_PORTS.sandbox))
    parser.add_argument("--aws-port", type=int, default=port("MOTO_PORT", DEFAULT_PORTS.aws), help="moto")
    parser.add_argument("--signin-port", type=int, default=port("SIGNIN_PORT", DEFAULT_PORTS.signin))
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the functions' and the gateway's",
    )
    parser.add_argument("--no-schedules", action="store_true", help="do not fire scheduled events on their timer")
    parser.add_argument(
        "--no-pollers",
        action="store_true",
        help="do not poll the SQS event sources in the background (drain them with POST /_local/queues/<Queue>/drain)",
    )
    parser.add_argument(
        "--retry-delay-scale",
        type=float,
        default=float(os.environ.get("RETRY_DELAY_SCALE", LOCAL_RETRY_DELAY_SCALE)),
        help="scale of Lambda's 1 and 2 minute waits before retrying a failed asynchronous event "
        f"(default {LOCAL_RETRY_DELAY_SCALE:.4f}: 1 s and 2 s; 1 waits as AWS does)",
    )
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    # moto's request lines and botocore's endpoint discovery drown the gateway's own access log.
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def banner(stack: LocalStack) -> str:
    urls = stack.urls
    identities = "\n".join(f"    {i.key:<12} {i.label} (org_id {i.org_id}, sub {i.user_id})" for i in stack.identities)
    queues = ", ".join(sorted({p.mapping.queue for p in stack.gateway.event_sources.pollers})) or "none"
    return f"""
SecureDB <-> Asana, local mode. Nothing here reaches AWS or Asana.

  Admin settings page   {urls.settings_page}
  Dev sign-in           {urls.signin}      (pick an identity; you land on the settings page signed in)
  Asana sandbox         {urls.sandbox}      (API {urls.asana_api}, OAuth {urls.asana_oauth})
  AWS (moto)            {urls.aws}
  Fire the hourly sync  curl -X POST {urls.gateway}/_local/schedules/SyncFunction
  Drain a queue now     curl -X POST {urls.gateway}/_local/queues/<Queue>/drain   (<Queue>: {queues})
  SQS event sources     {urls.gateway}/_local/queues
  Routes                {urls.gateway}/_local/routes

Register in the Asana app (the sandbox's demo apps already list them):
  Redirect URIs         {urls.redirect_uris[0]}
                        {urls.redirect_uris[1]}
  Webhook URL           {urls.webhook}

Demo Asana credentials (valid only against the sandbox):
  Client ID             {demo.DEMO_APP_CLIENT_ID}
  Client Secret         {demo.DEMO_APP_CLIENT_SECRET}
  Personal access token {demo.DEMO_PAT}

Demo SecureDB identities (dev sign-in):
{identities}

A token for curl:       curl -s -X POST {urls.signin}token -d identity=admin

Ctrl-C stops everything.
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    stack = LocalStack(
        StackPorts(gateway=args.port, sandbox=args.sandbox_port, aws=args.aws_port, signin=args.signin_port),
        run_schedules=not args.no_schedules,
        run_pollers=not args.no_pollers,
        retry_delay_scale=args.retry_delay_scale,
        log_level=args.log_level,
    )
    try:
        stack.start()
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        print(
            f"make run: {error.strerror or error}. Is another `make run` running? "
            "For other ports see `.venv/bin/python -m local.run --help`.",
            file=sys.stderr,
        )
        return 1
    # Signals only set a flag: stopping happens here, on the main thread, never inside a signal handler.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print(banner(stack), flush=True)
        stopping.wait()
        print("\nStopping…", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
