"""Deepstory: render a story into a talking-portrait video.

python run.py story=chapter3
python run.py -m cut_size=400000,800000
"""

import hydra
from omegaconf import DictConfig

import deepstory.config  # noqa: F401  (registers the ${asset:...} and ${torch_device:...} resolvers)
from deepstory.run import cli
from deepstory.run.config import register_schemas

register_schemas()  # the typed schemas conf/ names (deepstory/run/config.py), before Hydra composes


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    cli.main(cfg)


if __name__ == "__main__":
    cli.run(main)
