"""configs/ray-cluster.yaml is a valid Ray cluster launcher configuration that installs this package."""
from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ray-cluster.yaml"


def test_cluster_config_passes_rays_schema():
    jsonschema = pytest.importorskip("jsonschema")  # noqa: F841 (Ray's validator needs it)
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(CONFIG.read_text())
    validate_config(prepare_config(config))


def test_cluster_config_installs_the_package_and_shares_storage():
    config = yaml.safe_load(CONFIG.read_text())
    mount = next(dst for dst, src in config["file_mounts"].items() if src == ".")
    assert any(f"pip install" in c and mount in c for c in config["setup_commands"])
    assert any("/mnt/shared" in c for c in config["setup_commands"])
    assert any("postgresql" in c for c in config["head_setup_commands"])
    gpu = config["available_node_types"]["gpu_worker"]
    assert gpu["max_workers"] >= 1 and config["head_node_type"] == "head"
