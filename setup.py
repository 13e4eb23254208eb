"""Build script for lanecore.

Project metadata lives in pyproject.toml; this file adds the packages and the optional compiled
core: every ``lanecore_pyx/*.pyx`` becomes the extension module ``lanecore_pyx.<name>``.

* Cython compiler directives come from each .pyx file's own ``# cython:`` header; only
  ``language_level=3`` is passed here.
* If Cython is missing or the C build fails (no compiler, ...), a WARNING is printed and the
  pure-Python package is installed; ``lanecore`` then falls back to its pure-Python core.
* With ``LANECORE_REQUIRE_EXTENSIONS=1`` in the environment any such failure is fatal (CI and
  cibuildwheel set it).
* ``LANECORE_CYTHON_ANNOTATE=1`` also writes Cython's HTML annotation next to each .pyx.
* ``pip install -e .`` (PEP 660) builds the extensions in place, so the compiled ``.so`` sits next
  to its ``.pyx`` and tests run from the source tree use the compiled core.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import (
    CCompilerError,
    CompileError,
    ExecError,
    FileError,
    LinkError,
    PlatformError,
)

HERE = Path(__file__).resolve().parent
PYX_PACKAGE = "lanecore_pyx"

# What a failed C build raises: compiler or linker errors, a missing compiler executable,
# an unsupported platform/toolchain, a missing source file.
BUILD_ERRORS: tuple[type[BaseException], ...] = (
    CCompilerError,
    CompileError,
    LinkError,
    ExecError,
    PlatformError,
    FileError,
    OSError,
    ValueError,  # distutils' MSVC lookup raises it on a Windows box with no compiler
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


REQUIRE_EXTENSIONS = _flag("LANECORE_REQUIRE_EXTENSIONS")


def _banner(lines: list[str]) -> None:
    bar = "*" * 78
    print("\n".join(["", bar, *lines, bar, ""]), file=sys.stderr, flush=True)


def _give_up(what: str, exc: BaseException | None) -> None:
    """Report a failed compiled-core build: fatal when required, otherwise a warning."""
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    if REQUIRE_EXTENSIONS:
        _banner(
            [
                f"ERROR: lanecore: {what}.",
                "LANECORE_REQUIRE_EXTENSIONS is set, so this build fails instead of",
                "falling back to the pure-Python core.",
                detail,
            ]
        )
        if exc is not None:
            raise exc
        raise SystemExit(f"lanecore: {what}")
    _banner(
        [
            f"WARNING: lanecore: {what}.",
            "Installing the pure-Python package: lanecore works, but uses the slower",
            "pure-Python scheduling core (lanecore.IMPLEMENTATION == 'python').",
            "Set LANECORE_REQUIRE_EXTENSIONS=1 to make this an error.",
            detail,
        ]
    )


def _extensions() -> list[Extension]:
    """One Extension per lanecore_pyx/*.pyx, with paths relative to this directory."""
    return [
        Extension(f"{PYX_PACKAGE}.{pyx.stem}", [pyx.relative_to(HERE).as_posix()])
        for pyx in sorted((HERE / PYX_PACKAGE).glob("*.pyx"))
    ]


class OptionalBuildExt(build_ext):
    """build_ext that cythonizes lazily and degrades to pure Python when the build fails."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None and len(self.extensions) > 1:
            self.parallel = min(len(self.extensions), os.cpu_count() or 1)

    def run(self) -> None:
        self._failed: set[str] = set()
        if self.extensions and not self._cythonize():
            self.extensions = []  # nothing to compile: install the pure-Python package
        super().run()

    def _cythonize(self) -> bool:
        """Translate the .pyx sources to C in place; False (after a warning) if impossible."""
        try:
            from Cython.Build import cythonize
        except ImportError as exc:
            _give_up("Cython is not installed, so the compiled core cannot be built", exc)
            return False
        try:
            # cythonize() skips .pyx files whose .c is newer than the .pyx and its .pxd deps.
            cythonized = cythonize(
                self.extensions,
                language_level=3,
                include_path=[str(HERE)],
                annotate=_flag("LANECORE_CYTHON_ANNOTATE"),
                force=bool(self.force),
                quiet=not self.verbose,
            )
        except Exception as exc:  # Cython has already printed the offending source lines
            _give_up("Cython failed to translate lanecore_pyx/*.pyx to C", exc)
            return False
        # Keep the Extension objects setuptools has already finalized (it stores private state
        # on them) and take over the public attributes (sources=[*.c], ...) of the new ones.
        by_name = {ext.name: ext for ext in cythonized}
        for ext in self.extensions:
            public = {k: v for k, v in vars(by_name[ext.name]).items() if not k.startswith("_")}
            vars(ext).update(public)
        return True

    def build_extensions(self) -> None:
        if self.compiler.compiler_type != "msvc":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-O3"]
        try:
            super().build_extensions()
        except BUILD_ERRORS as exc:  # raised outside build_extension(), e.g. compiler setup
            if REQUIRE_EXTENSIONS:
                raise  # already reported by build_extension() or fatal as it is
            _give_up("the C compiler could not build the compiled core", exc)
            self._failed.update(ext.name for ext in self.extensions)
        # Forget extensions that failed, so the in-place copy done by editable installs and
        # get_outputs() do not look for files that were never built.
        self.extensions = [ext for ext in self.extensions if ext.name not in self._failed]

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            _give_up(f"building the extension {ext.name} failed", exc)
            self._failed.add(ext.name)


setup(
    packages=find_packages(include=["lanecore", "lanecore.*", PYX_PACKAGE]),
    package_data={
        "lanecore": ["py.typed"],
        "lanecore.redis": ["lua/*.lua"],  # the backend's Lua scripts
        # .pyi for type checkers; .pxd so other Cython code can cimport the core.
        PYX_PACKAGE: ["py.typed", "*.pyi", "*.pxd"],
    },
    include_package_data=False,
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    zip_safe=False,
)
