"""Run the sandbox standalone: `python -m local.asana_sandbox --port 3010`."""

from __future__ import annotations

import argparse
import logging
import threading

from local.asana_sandbox import demo
from local.asana_sandbox.server import AsanaSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Asana sandbox")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=3010)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sandbox = AsanaSandbox(host=args.host, port=args.port).start()
    print(f"Asana sandbox listening on {sandbox.base_url}")
    print(f"  API:   {sandbox.api_base_url}")
    print(f"  OAuth: {sandbox.oauth_base_url}/oauth_authorize")
    print(f"  Demo app client_id: {demo.DEMO_APP_CLIENT_ID} (secret and PAT: see local/asana_sandbox/demo.py)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
