"""`python -m sandbox.cluster [--scenario FILE] [--port N] [--kubeconfig PATH]`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from sandbox.cluster import SCENARIOS, load_scenario, start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.cluster", description=__doc__)
    parser.add_argument("--scenario", default=str(SCENARIOS / "order-api.yaml"))
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--kubeconfig", default=".warroom/sandbox.kubeconfig")
    parser.add_argument("--namespace", default="production")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    running = start(load_scenario(args.scenario), port=args.port, verbose=args.verbose)
    path = running.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
    print(f"sandbox cluster at {running.url}; kubectl --kubeconfig {path} get pods")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()


if __name__ == "__main__":
    main()
