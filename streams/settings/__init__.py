"""The settings of citystream: every tunable, read from ``CITYSTREAM_*`` variables.

:class:`Settings` composes one frozen dataclass per concern (``settings.kafka``,
``.clickhouse``, ``.pipeline``, ``.calendar``, ``.worker``, ``.sink``, ``.dispatch``,
``.verify``, ``.walk``, ``.patrol``, ``.api``) plus
``home`` (local state) and ``cache_dir`` (downloads). Each field declares its environment
variable; the names are those of the flat settings object before it was split
(``CITYSTREAM_KAFKA_PORT``, ``CITYSTREAM_PARTITIONS``, ``CITYSTREAM_WORKER_ROLES``, ...), so
operators' ``.env`` files keep working. Lists are comma-separated in the variables and
tuples in Python. Every construction validates (``Settings(...)``, ``.replace()``,
:func:`load_settings`) and raises :class:`SettingsError` naming the variable.

``home`` comes from ``CITYSTREAM_HOME``, else the user's data folder
(``$XDG_DATA_HOME/citystream`` or ``~/.local/share/citystream``); the project's scripts and
Makefile set it to the checkout's ``var/``. Nothing here runs at import time.
"""

from streams.settings.codecs import BENCH_ENV_PREFIX, ENV_PREFIX, SettingsError
from streams.settings.concerns import (
    WORKER_ROLES,
    CalendarSettings,
    ClickHouseSettings,
    KafkaSettings,
    LogFormat,
    LogLevel,
    PipelineSettings,
    SchemaPath,
    SinkSettings,
    WorkerRole,
    WorkerSettings,
)
from streams.settings.loop import (
    ApiSettings,
    DispatchSettings,
    EscalationSettings,
    PatrolSettings,
    VerifySettings,
    WalkSettings,
)
from streams.settings.root import (
    PROJECT_ROOT,
    SETTINGS_FILE_VARIABLE,
    Settings,
    env_names,
    load_settings,
    user_cache_home,
    user_data_home,
)

__all__ = [
    "BENCH_ENV_PREFIX",
    "ENV_PREFIX",
    "PROJECT_ROOT",
    "SETTINGS_FILE_VARIABLE",
    "WORKER_ROLES",
    "ApiSettings",
    "CalendarSettings",
    "ClickHouseSettings",
    "DispatchSettings",
    "EscalationSettings",
    "KafkaSettings",
    "LogFormat",
    "LogLevel",
    "PatrolSettings",
    "PipelineSettings",
    "SchemaPath",
    "Settings",
    "SettingsError",
    "SinkSettings",
    "VerifySettings",
    "WalkSettings",
    "WorkerRole",
    "WorkerSettings",
    "env_names",
    "load_settings",
    "user_cache_home",
    "user_data_home",
]
