"""Fails when a dependency's licence is not permissive (the project is MIT OR Apache-2.0).

Reads `cargo metadata` from standard input. An SPDX expression passes when at least one of its
OR-alternatives consists only of allowed licences.
A crate that declares its licence only as a file (`license-file`) passes when it is listed in
LICENSE_FILES and its file starts with the listed licence's title: each such crate was read by
hand, and a change of its licence text fails here.
"""
import json
import os
import re
import sys

ALLOWED = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause", "ISC",
    "Zlib", "Unicode-3.0", "Unicode-DFS-2016", "CC0-1.0", "Unlicense", "0BSD", "BSL-1.0",
    "CDLA-Permissive-2.0",
}

# Crates whose licence is a file, with the first line that file must have.
LICENSE_FILES = {
    "opendp": "MIT License",
    "opendp_derive": "MIT License",
}


def license_from_file(pkg) -> str | None:
    expected = LICENSE_FILES.get(pkg["name"])
    path = pkg.get("license_file")
    if not expected or not path:
        return None
    path = os.path.join(os.path.dirname(pkg["manifest_path"]), path)
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline().strip()
    except OSError:
        return None
    return "MIT" if first == expected == "MIT License" else None


def acceptable(expr: str) -> bool:
    expr = expr.replace("/", " OR ").replace("(", " ").replace(")", " ")
    for alternative in re.split(r"\s+OR\s+", expr):
        parts = [p.strip() for p in re.split(r"\s+AND\s+", alternative) if p.strip()]
        if parts and all(p in ALLOWED for p in parts):
            return True
    return False


meta = json.load(sys.stdin)
bad = []
for pkg in meta["packages"]:
    if pkg.get("source") is None:
        continue  # this crate
    lic = pkg.get("license") or license_from_file(pkg)
    if not lic or not acceptable(lic):
        bad.append(f"{pkg['name']} {pkg['version']}: {lic or 'no licence declared'}")
if bad:
    print("dependencies with licences that are not permissive:")
    print("\n".join(sorted(set(bad))))
    sys.exit(1)
print(f"{sum(1 for p in meta['packages'] if p.get('source'))} dependencies, all permissively licensed")
