"""`[recording] shared_dir`: each node records into its own folder of the shared store."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediacore.server.config import ConfigError, load_config


def test_without_a_shared_store_recordings_stay_in_the_data_dir(tmp_path: Path) -> None:
    config = load_config(environ={"MEDIACORE_SERVER_DATA_DIR": str(tmp_path)})
    assert config.recordings_store == tmp_path


def test_each_node_records_into_its_own_folder_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(
        f'[recording]\nshared_dir = "{tmp_path / "shared"}"\n\n'
        '[cluster]\nredis = "redis://10.0.0.5:6379/0"\nnode = "node-a"\nadvertise = "10.0.0.11"\n'
    )
    assert load_config(path, environ={}).recordings_store == tmp_path / "shared" / "node-a"


def test_the_signing_key_may_not_lie_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    shared = tmp_path / "shared"
    path.write_text(f'[recording]\nshared_dir = "{shared}"\nsigning_key = "{shared}/k.key"\n')
    with pytest.raises(ConfigError, match="shared_dir"):
        load_config(path, environ={})
