"""cluster.yaml is a valid Ray cluster launcher config (Ray's own schema), and starts the hub."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_matches_rays_schema() -> None:
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # Ray fills its defaults, then refuses what it would
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "hub serve --address auto" in head and "hub serve --address auto" in workers
    assert any("pip install" in c for c in config["setup_commands"])


def test_the_schema_check_does_refuse_a_bad_config() -> None:
    import pytest
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["hub_shards"] = 4  # not a key of Ray's launcher
    with pytest.raises(Exception, match="hub_shards"):
        validate_config(prepare_config(config))


def test_the_commented_cloud_variant_is_valid_too() -> None:
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    text = (ROOT / "cluster.yaml").read_text()
    block = text[text.index("aws begin") : text.index("aws end")].splitlines()[1:-1]
    cloud = yaml.safe_load("\n".join(line.removeprefix("# ") for line in block))
    config = {**yaml.safe_load(text), **cloud}
    assert config["provider"]["type"] == "aws" and config["head_node_type"] == "head"
    validate_config(prepare_config(config))


def test_ray_token_auth_is_on_and_the_token_reaches_every_node() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    mounts = config["file_mounts"]
    assert mounts["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"  # file_mounts go to every node
    assert config["auth"]["ssh_user"] == "ubuntu"  # so that is the nodes' ~/.ray/auth_token
    commands = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    starts = [c for c in commands if "ray start" in c or "hub serve" in c]
    assert len(starts) == 4 and all(c.startswith("RAY_AUTH_MODE=token ") for c in starts), starts
