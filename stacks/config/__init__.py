"""The per-environment configuration from cdk.json context, parsed once and validated.

Constructs never read context or the process environment: app.py builds these objects and passes typed
values down. Any bad value fails synth naming its key. One module per concern: `base` (a setting described
on its field), `environment` (the settings and the rules between them), `alarms`, `access`, `windows`,
`instances`, `app` (every environment at once); the time limits come from migrator.aws.budget.
"""

from stacks.config.alarms import Alarms, OnCall
from stacks.config.app import ENVIRONMENT_NAMES, MIGRATE_MODES, AppConfig, parse_app_config
from stacks.config.base import ConfigError
from stacks.config.environment import EnvironmentConfig, LockSettings, parse_environment
from stacks.config.instances import estimated_max_connections, instance_memory_gib

__all__ = [
    "ENVIRONMENT_NAMES",
    "MIGRATE_MODES",
    "Alarms",
    "AppConfig",
    "ConfigError",
    "EnvironmentConfig",
    "LockSettings",
    "OnCall",
    "estimated_max_connections",
    "instance_memory_gib",
    "parse_app_config",
    "parse_environment",
]
