"""What the long-running programs (the engine, the agent) share to run as services: TOML
configuration files whose keys are their flags, and log output as text or JSON lines carrying
the migration, VM and host a line concerns."""

from miglane.daemon.config_file import add_config_option, parse_args_with_config
from miglane.daemon.logs import (
    CONTEXT_FIELDS,
    LOG_FORMATS,
    JsonLineFormatter,
    add_logging_arguments,
    bind_log_context,
    clear_log_context,
    configure_logging,
    log_context,
    log_handler,
)

__all__ = [
    "CONTEXT_FIELDS",
    "LOG_FORMATS",
    "JsonLineFormatter",
    "add_config_option",
    "add_logging_arguments",
    "bind_log_context",
    "clear_log_context",
    "configure_logging",
    "log_context",
    "log_handler",
    "parse_args_with_config",
]
