"""The module layering Package.swift declares, and the import lines that must keep to it.

QKVSchema (what a model is) is pure Swift with no dependency; QKVTokenizers stands on it alone, so a
program that only tokenizes never links libhdf5 or the containers; QKVFormat (the containers) stands on
it and on the C libraries it needs; CRC-32 is its own C target, apart from the compute kernels. Read
from `swift package dump-package` (the manifest as SwiftPM resolves it) and from the sources, since a
file can import a module its target does not declare and still build when another target brings it in.
"""

import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Modules of the toolchain, not of this package or its dependencies.
SYSTEM_MODULES = {"Foundation", "Glibc", "Dispatch", "Synchronization", "XCTest", "Testing"}


@pytest.fixture(scope="module")
def targets():
    out = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True)
    package = json.loads(out.stdout)
    result = {}
    for target in package["targets"]:
        names = []
        for dep in target.get("dependencies", []):
            kind, value = next(iter(dep.items()))
            names.append(value[0] if kind != "product" else "product:" + value[0])
        result[target["name"]] = names
    return result


def imports(folder):
    """Every module a Swift file under `folder` imports, with the file that does."""
    found = {}
    for base, _, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            if not name.endswith(".swift"):
                continue
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as f:
                for line in f:
                    m = re.match(r"\s*(?:@_exported\s+|@testable\s+|@_implementationOnly\s+|public\s+|package\s+|internal\s+)*import\s+(\w+)", line)
                    if m:
                        found.setdefault(m.group(1), []).append(os.path.relpath(path, ROOT))
    return found


def test_schema_dependsOnNothing(targets):
    assert targets["QKVSchema"] == []
    assert set(imports("Sources/QKVSchema")) <= SYSTEM_MODULES


def test_tokenizers_dependOnTheSchemaOnly(targets):
    assert targets["QKVTokenizers"] == ["QKVSchema"]
    assert set(imports("Sources/QKVTokenizers")) <= SYSTEM_MODULES | {"QKVSchema"}


def test_tokenizerTests_linkNoContainer(targets):
    assert targets["QKVTokenizersTests"] == ["QKVTokenizers"]
    assert set(imports("Tests/QKVTokenizersTests")) <= SYSTEM_MODULES | {"QKVSchema", "QKVTokenizers"}


def test_format_standsOnTheSchema_withChecksumNotKernels(targets):
    assert "QKVSchema" in targets["QKVFormat"]
    assert "CQKVChecksum" in targets["QKVFormat"]
    assert "CQKVKernels" not in targets["QKVFormat"]
    assert "QKVTokenizers" not in targets["QKVFormat"]
    assert "CQKVKernels" not in imports("Sources/QKVFormat")


def test_checksum_isItsOwnCTarget(targets):
    assert targets["CQKVChecksum"] == []
    assert os.path.exists(os.path.join(ROOT, "Sources/CQKVChecksum/qkv_crc32.c"))
    assert not os.path.exists(os.path.join(ROOT, "Sources/CQKVKernels/qkv_crc32.c"))


def test_fileCalls_areTheirOwnCTarget_usedByTheFormatOnly(targets):
    assert targets["CQKVFiles"] == []
    assert "CQKVFiles" in targets["QKVFormat"]
    users = [name for name, deps in targets.items() if "CQKVFiles" in deps]
    assert users == ["QKVFormat"], users


def test_templates_standOnTheSchemaOnly(targets):
    # The schema's JSON parser is the one templates read JSON with; nothing with C or containers.
    assert targets["QKVTemplates"] == ["QKVSchema"]
    assert set(imports("Sources/QKVTemplates")) <= SYSTEM_MODULES | {"QKVSchema"}
