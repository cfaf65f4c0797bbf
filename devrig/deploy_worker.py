"""A deploy worker in a process of its own, which a fault test can pause and SIGKILL at a stage.

    python -m devrig.deploy_worker DEPLOYMENT_ID --frontend fe1 --stage configtest \
        --reached FILE [--resume FILE]

runs deploy.runner.deployment_execute(DEPLOYMENT_ID) like `manage.py db_worker` would; when
the front-end's row reaches the stage (recorded at the START of the stage, before its work), it creates
--reached and waits — for SIGKILL, or until --resume exists (then it carries on). The environment
selects the database (DATABASE_URL) and the settings (DJANGO_SETTINGS_MODULE), as for any worker.
"""

from __future__ import annotations

import argparse
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostpanel.test_settings")
django.setup()

from deploy.runner import deployment_execute  # noqa: E402 - Django must be set up first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("deployment", type=int)
    parser.add_argument("--frontend", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--reached", required=True)
    parser.add_argument("--resume", default="")
    args = parser.parse_args()
    paused: list[str] = []

    def pause(host) -> None:
        if host.frontend_name == args.frontend and host.stage == args.stage and not paused:
            paused.append(args.stage)
            with open(args.reached, "w") as fh:
                fh.write(str(os.getpid()))
            deadline = time.monotonic() + 300  # bounded: a test that forgot this worker does not leave it forever
            while time.monotonic() < deadline and not (args.resume and os.path.exists(args.resume)):
                time.sleep(0.02)

    deployment = deployment_execute(args.deployment, on_progress=pause)
    print("DEPLOYMENT", deployment.status if deployment else "skipped", flush=True)


if __name__ == "__main__":
    main()
