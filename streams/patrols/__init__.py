"""The patrols stage's pure core (铁脚板): pings to sessions, sessions to streets walked.

:mod:`streams.patrols.sessions` groups a device's pings into sessions and keeps the open
ones as changelog records; :mod:`streams.patrols.walker` walks a closed session over the
district's streets (docs/patrols.md). The Faust shell is ``streams/app/patrols_agent.py``.
"""

from streams.patrols.sessions import ClosedSession, OpenSession, SessionBook, session_id
from streams.patrols.walker import SessionWalker, visit_rows

__all__ = [
    "ClosedSession",
    "OpenSession",
    "SessionBook",
    "SessionWalker",
    "session_id",
    "visit_rows",
]
