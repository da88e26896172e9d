"""segdeploy: semantic-segmentation models from official checkpoints to a proven deployment."""

__version__ = "0.1.0"
