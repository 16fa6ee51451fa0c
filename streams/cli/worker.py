"""``citystream worker``: one Faust worker process running the chosen roles.

The worker's Faust app id, which is its Kafka consumer group, is
``<CITYSTREAM_APP_ID>.<role set>`` (streams.app.factory.group_id): processes started with
the same roles are replicas and share those roles' partitions; a process whose roles
overlap a live group of another role set refuses to start (exit 2).

SIGTERM and SIGINT stop it gracefully (Faust's worker commits what it processed and leaves
the consumer group). Logs go to stderr, one JSON object per line with
``CITYSTREAM_LOG_FORMAT=json`` (the default) or plain text; ``/health`` and ``/metrics``
(Prometheus text) are served on ``CITYSTREAM_WEB_PORT``.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys
from collections.abc import Sequence

from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from streams.app.factory import ROLES

    parser.add_argument(
        "--roles",
        default=None,
        help=f"comma-separated roles ({', '.join(ROLES)}) or 'all' "
        "(default: CITYSTREAM_WORKER_ROLES)",
    )
    parser.add_argument("--web-port", type=int, default=None, help="health/metrics port")


def run(settings: Settings, args: argparse.Namespace) -> int:
    import faust

    from streams.app.factory import create_app, parse_roles
    from streams.app.kafka_admin import ensure_topics
    from streams.app.logs import logging_config
    from streams.cases.calendar import CalendarError

    if args.web_port is not None:
        settings = settings.replace(web_port=args.web_port)
    try:
        roles = parse_roles(args.roles) if args.roles else list(settings.worker.roles)
    except ValueError as exc:
        print(f"citystream worker: {exc}", file=sys.stderr)
        return 2
    config = logging_config(settings.worker.log_level, settings.worker.log_format)
    logging.config.dictConfig(config)
    ensure_topics(settings)
    if not _roles_free(settings, roles):
        return 2
    # Load every kernel (from numba's disk cache, or compile it) before consuming, so the
    # first batches a worker takes over do not pay for it while its lag grows.
    from kernels.warmup import warmup

    warmup()
    try:
        app = create_app(settings, roles)
    except CalendarError as exc:  # e.g. no holiday table for this year: refuse to start
        print(f"citystream worker: {exc}", file=sys.stderr)
        return 2
    worker = faust.Worker(
        app, loglevel=settings.worker.log_level, redirect_stdouts=False, logging_config=config
    )
    worker.execute_from_commandline()
    return 0


def _roles_free(settings: Settings, roles: Sequence[str]) -> bool:
    """False (and why, on stderr) when a live group of this app id runs any of ``roles``
    under another role set; an idle such group is only worth a warning."""
    from streams.app.factory import GROUP_SEPARATOR, group_id, overlapping_groups
    from streams.app.kafka_admin import consumer_groups

    groups = consumer_groups(settings, settings.worker.app_id + GROUP_SEPARATOR)
    live, idle = overlapping_groups(settings, roles, groups)
    own = group_id(settings, roles)
    if live:
        print(
            f"citystream worker: consumer group(s) {', '.join(live)} are running some of the "
            f"roles {','.join(roles)} (group {own}); each role must run under one role set "
            "per app id: start this process with the same --roles as those workers, or stop "
            "them first",
            file=sys.stderr,
        )
        return False
    if idle:
        logging.getLogger(__name__).warning(
            "idle groups %s once ran some of the roles of %s: their committed offsets do not "
            "carry over, a new group reads its topics from the earliest retained record",
            ", ".join(idle),
            own,
        )
    return True
