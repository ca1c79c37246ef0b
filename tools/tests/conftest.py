"""pytest setup for tools/tests: make tools/ importable (qkv_numpy, make_fixtures)."""

import os
import sys

TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TOOLS_DIR not in sys.path:
    sys.path.insert(0, TOOLS_DIR)
