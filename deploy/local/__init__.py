"""Native local Kafka and ClickHouse for development, CI and the demo (``citystream up``)."""

from deploy.local.process import DeployError
from deploy.local.services import SERVICES, ServiceStatus, ensure_up, service_status, stop_all

__all__ = ["SERVICES", "DeployError", "ServiceStatus", "ensure_up", "service_status", "stop_all"]
