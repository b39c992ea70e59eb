"""The public names of floecli.engine.config, pinned."""

from __future__ import annotations

import floecli.engine.config as config


def test_public_names() -> None:
    assert sorted(config.__all__) == [
        "AppConfig", "Common", "ConfigError", "Flow", "Node", "Problem", "TypeCatalog", "User",
        "app_schema", "check_app", "env_mapping", "expand_path", "expand_value", "expand_ws",
        "expand_ws_dot", "load_app", "load_flow_file", "merge_env", "merge_flow_file",
        "parse_app", "parse_flow", "zero_nid",
    ]
    for name in config.__all__:
        assert getattr(config, name) is not None
