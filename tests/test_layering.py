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
