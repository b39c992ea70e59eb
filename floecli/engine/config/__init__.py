"""The app document: loading with line numbers, validation, the model, ids and expansion."""

from ..errors import ConfigError, Problem
from ..flow import AppConfig, Common, Flow, Node, TypeCatalog, User
from .expand import (
    env_mapping,
    expand_path,
    expand_value,
    expand_ws,
    expand_ws_dot,
    merge_env,
)
from .flowfile import load_flow_file, merge_flow_file, parse_flow
from .ids import zero_nid
from .loader import check_app, load_app, parse_app
from .schema import app_schema

__all__ = [
    "AppConfig",
    "Common",
    "ConfigError",
    "Flow",
    "Node",
    "Problem",
    "TypeCatalog",
    "User",
    "app_schema",
    "check_app",
    "env_mapping",
    "expand_path",
    "expand_value",
    "expand_ws",
    "expand_ws_dot",
    "load_app",
    "load_flow_file",
    "merge_env",
    "merge_flow_file",
    "parse_app",
    "parse_flow",
    "zero_nid",
]
