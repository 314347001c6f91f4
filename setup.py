"""One distribution, several source roots: each top-level folder holds part of `miglane.*`."""

from setuptools import find_namespace_packages, setup

SOURCE_ROOTS = ["proto", "engine", "agent", "tui", "lab", "cli", "common", "testing", "pki"]

packages: list[str] = []
package_dir: dict[str, str] = {}
for root in SOURCE_ROOTS:
    for package in find_namespace_packages(where=root, include=["miglane.*"]):
        packages.append(package)
        package_dir[package] = f"{root}/{package.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
