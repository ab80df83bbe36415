"""Run the sandbox standalone: `python -m local.asana_sandbox --port 3010 [--size large [--seed N]]`."""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import replace

from local.asana_sandbox import demo
from local.asana_sandbox.large_org import LARGE
from local.asana_sandbox.server import AsanaSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Asana sandbox")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=3010)
    parser.add_argument(
        "--size",
        choices=("demo", "large"),
        default="demo",
        help="demo: the small demo organization; large: a generated one (see local/asana_sandbox/large_org.py)",
    )
    parser.add_argument("--seed", type=int, default=LARGE.seed, help="seed of the generated organization")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dataset = replace(LARGE, seed=args.seed) if args.size == "large" else None
    sandbox = AsanaSandbox(host=args.host, port=args.port, dataset=dataset).start()
    print(f"Asana sandbox listening on {sandbox.base_url}")
    print(f"  API:   {sandbox.api_base_url}")
    print(f"  OAuth: {sandbox.oauth_base_url}/oauth_authorize")
    print(f"  Data:  {f'a generated organization, {dataset}' if dataset else 'the demo organization'}")
    print(f"  Demo app client_id: {demo.DEMO_APP_CLIENT_ID} (secret and PAT: see local/asana_sandbox/demo.py)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
