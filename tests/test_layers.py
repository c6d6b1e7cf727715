"""The house's layers (DESIGN.md): dependencies point one way, storage and shapes each in one place."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> the package it is installed as
LAYERS = {"models": "facelake.models", "schemas": "facelake.schemas", "store": "facelake.store",
          "transforms": "facelake.transforms", "pipelines": "facelake.pipelines", "facelake": "facelake"}
DOORS_AND_OPERATIONS = ("facelake.client", "facelake.operations", "facelake.context", "facelake.faces", "facelake.users",
                        "facelake.collections", "facelake.video", "facelake.cli")


def imports(folder: str) -> dict[str, set[str]]:
    """module file -> the modules it imports (relative imports resolved)."""
    out = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = LAYERS[folder] + ("." + base if base else "")
                names.add(base)
                names.update(f"{base}.{a.name}" for a in node.names)
        out[f"{folder}/{path.name}"] = names
    return out


def reaches(names: set[str], prefixes) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


@pytest.mark.parametrize("folder", ["models", "schemas"])
def test_models_and_schemas_import_no_layer_above(folder):
    above = ("facelake.transforms", "facelake.pipelines", "facelake.store", *DOORS_AND_OPERATIONS)
    for module, names in imports(folder).items():
        assert not reaches(names, above), (module, reaches(names, above))


def test_store_imports_only_models_schemas_and_settings():
    above = ("facelake.transforms", "facelake.pipelines", *DOORS_AND_OPERATIONS)
    for module, names in imports("store").items():
        assert not reaches(names, above), (module, reaches(names, above))


def test_transforms_do_not_reach_the_doors_or_the_jobs():
    for module, names in imports("transforms").items():
        bad = reaches(names, ("facelake.pipelines", *DOORS_AND_OPERATIONS))
        assert not bad, (module, bad)


def test_only_the_store_calls_lancedb_and_nobody_hides_an_import():
    for folder in LAYERS:
        for module, names in imports(folder).items():
            if folder != "store":
                assert not reaches(names, ("lancedb", "lance")), module
            assert "importlib" not in names, module
            assert "__import__" not in (ROOT / module).read_text(), module


def test_fsspecs_private_helpers_are_not_used():
    for folder in LAYERS:
        for path in (ROOT / folder).glob("*.py"):
            assert "._strip_protocol" not in path.read_text(), path


def test_every_model_slot_has_a_version_column():
    import json

    from facelake.schemas.tables import MODEL_SLOTS

    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
    assert set(manifest) == set(MODEL_SLOTS)


def test_attribute_names_agree_between_models_and_schemas():
    from facelake.models.attributes import NAMES, SLOTS
    from facelake.schemas.rekognition import ATTRIBUTE_MEMBERS

    assert set(NAMES) == set(ATTRIBUTE_MEMBERS) == set(SLOTS)
