"""streamstack: build, check and deploy the streaming platform's CloudFormation."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build"
PARAMS_DIR = ROOT / "params"
