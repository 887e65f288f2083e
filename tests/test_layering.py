"""model/ is pure computation: it never imports server/."""
import ast
import subprocess
import sys

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_model_module_imports_server():
    offenders = []
    for path in sorted((ROOT / "model").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            offenders += [f"{path.name}: {n}" for n in names
                          if "server" in n.split(".") or n.startswith("..")]
    assert offenders == []


def test_importing_all_of_model_loads_no_server_code():
    code = ("import pkgutil, importlib, sys, vamen.model as m\n"
            "for info in pkgutil.iter_modules(m.__path__):\n"
            "    importlib.import_module('vamen.model.' + info.name)\n"
            "print(sorted(k for k in sys.modules if k.startswith('vamen.server')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- server/: wings by concern, imports pointing one way ----------------------
#
# A wing may import itself and the wings listed here; the app (the top-level
# modules engine, options, config, bench and the cli package) may import
# every wing, and no wing imports the app. Imports under ``if TYPE_CHECKING:``
# are annotations only and do not count.
WINGS = {
    "core": set(),
    "ops": {"core"},
    "audio": {"core"},
    "render": {"core", "audio"},
    "sinks": {"core"},
    "sources": {"core", "ops"},
    "midi": {"core", "ops", "audio", "sources"},
    "clocks": {"core", "midi"},
}


def _server_imports(path: Path) -> list[str]:
    """Absolute ``vamen.server...`` module names ``path`` imports (TYPE_CHECKING blocks skipped)."""
    rel = path.relative_to(ROOT / "server").with_suffix("")
    package = ["vamen", "server", *rel.parts[:-1]]
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from vamen.server import commands``: each name may be a module
            found += [f"{module}.{a.name}" for a in node.names] if module in (
                "vamen.server", *(f"vamen.server.{w}" for w in WINGS)) else [module]
    return [name for name in found if name.startswith("vamen.server")]


def _wing(module: str) -> str:
    """The wing of a dotted module under vamen.server; 'app' for the top-level modules and cli."""
    parts = module.split(".")
    if len(parts) < 3:
        return "app"
    return parts[2] if parts[2] in WINGS else "app"


def wing_offences(root: Path = ROOT) -> list[str]:
    offences = []
    for path in sorted((root / "server").rglob("*.py")):
        rel = path.relative_to(root / "server")
        wing = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in WINGS else "app"
        if wing == "app":
            continue
        for name in _server_imports(path):
            target = _wing(name)
            if target != wing and target not in WINGS[wing]:
                offences.append(f"server/{rel.as_posix()}: {wing} imports {name} ({target})")
    return offences


def test_wings_import_only_the_wings_below_them():
    assert wing_offences() == []


def test_every_wing_is_a_package_and_listed_in_setup_cfg():
    # as setuptools reads it: a list spread over lines with commas once read as one name
    from setuptools.config.setupcfg import read_configuration

    listed = read_configuration(ROOT / "setup.cfg")["options"]["packages"]
    for wing in WINGS:
        assert (ROOT / "server" / wing / "__init__.py").is_file(), wing
        assert f"vamen.server.{wing}" in listed, (wing, listed)


def test_the_audio_wing_never_imports_torch():
    offenders = []
    for path in sorted((ROOT / "server" / "audio").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] == "torch" or n.startswith("vamen.model.")
                          and n != "vamen.model.errors"]
    assert offenders == []
