"""Run scim2-tester (PyPI scim2-tester==0.5.2) against a running Roster directory.

usage: run-scim2-tester.py TENANT_URL  (the token comes from SCIM_TOKEN)
Prints one line per check and ends with "N passed, N failed"; exits non-zero if any check failed.
"""

import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    url = sys.argv[1]
    token = os.environ["SCIM_TOKEN"]
    client = SyncSCIMClient(Client(base_url=url, headers={"Authorization": f"Bearer {token}"}))
    results = check_server(client)
    passed = [r for r in results if r.status == Status.SUCCESS]
    failed = [r for r in results if r.status != Status.SUCCESS]
    for r in results:
        print(f"{r.status.name:8} {r.title} {r.resource_type or ''} {r.reason or ''}".rstrip())
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
