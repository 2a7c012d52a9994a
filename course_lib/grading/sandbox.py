"""Run a submission's kernel isolated from the grader (issue 17 part 1).

The course's autograding (:class:`~course_lib.grading.preprocessors.RecoveringExecute`, used by
``nbgrader autograde`` and by :func:`~course_lib.grading.grade_notebook`) starts every kernel
through :class:`SandboxedKernelManager`. The kernel, and everything it starts, runs

- as the unprivileged user ``nobody`` (``setresuid``, no supplementary groups, ``no_new_privs``):
  it cannot write the gradebook, the grader's result file or the course folder, and cannot signal
  the grader's processes;
- in a mount namespace of its own, where the course roots (the folder holding ``course_lib`` and any
  folder with an ``nbgrader_config.py`` above the notebook), the grading account's home, ``/tmp``
  and ``/var/tmp`` are covered by empty ``tmpfs`` mounts (``/dev/shm`` by a private one); only
  ``course_lib`` and the Python environment (copy-on-write: what the kernel writes there, numba's
  caches say, stays in its sandbox), the data folder ``COURSE_DATA_DIR`` and the kernel's own sandbox
  folder (a copy of the notebook's folder: the student's files) show through. So ``solutions/``,
  ``.git``, other students' submissions and the grader's temporary course cannot be read;
- in a network namespace of its own with no interface up (``unshare -n``): no connection leaves it;
- as PID 1 of a PID namespace of its own (``unshare -p --kill-child``): when the kernel ends, or the
  grader kills it, every process it started dies with it, also one that called ``setsid`` or forked
  twice.

The kernel talks to the grader over Unix sockets (ZeroMQ's ``ipc`` transport) in its sandbox
folder, which cross the network namespace.

Without root (an instructor's laptop) no other user can be taken on; if user namespaces work, the
kernel still gets the mount, network and PID namespaces (``unshare -r``), but runs with the
instructor's own user id, so files outside the hidden folders that the instructor may write stay
writable. Without ``unshare`` the kernel is not isolated at all. Either way the grade report says
which protections were missing (:func:`isolation_problem`), and nbgrader's log warns.
``COURSE_GRADING_SANDBOX=off`` turns the isolation off (for debugging a kernel that will not start),
``=no-root`` gives what grading without root would (to check that fallback); both are reported the
same way.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import AsyncKernelManager

__all__ = ["Isolation", "SandboxedKernelManager", "isolation", "isolation_problem"]

#: The unprivileged account the kernel runs as (``nobody`` on Linux).
NOBODY = 65534

#: Set to ``off`` to start kernels without isolation (reported as missing protections).
SANDBOX_VARIABLE = "COURSE_GRADING_SANDBOX"

_NAMESPACES = ["-m", "-n", "-p", "-f", "--kill-child", "--mount-proc"]


@dataclass(frozen=True)
class Isolation:
    """Which protections a kernel started here gets.

    Attributes
    ----------
    separate_user
        The kernel runs as ``nobody`` (needs root).
    namespaces
        Mount, network and PID namespaces (hidden folders, no network, processes killed with it).
    missing
        The missing protections in plain words (empty when the kernel is fully isolated).
    unshare
        The ``unshare`` command line prefix that creates the namespaces, or ``[]``.
    """

    separate_user: bool
    namespaces: bool
    missing: tuple[str, ...]
    unshare: tuple[str, ...] = ()


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def _probe(mode: str, euid: int) -> Isolation:
    if mode == "off":
        return Isolation(False, False, (f"kernel isolation turned off ({SANDBOX_VARIABLE}=off)",))
    unshare = shutil.which("unshare")
    try:
        pwd.getpwuid(NOBODY)
        has_nobody = True
    except KeyError:
        has_nobody = False
    missing = []
    separate = euid == 0 and has_nobody
    if not separate:
        missing.append("separate user: the kernel runs as the grading account "
                       + ("(no 'nobody' user)" if euid == 0 else "(grading without root)")
                       + ", so files it may write outside the hidden folders stay writable")
    prefix: list[str] = []
    if unshare is None:
        missing.append("namespaces: no 'unshare' command, so the kernel sees the course folder "
                       "(solutions/ too), has the network and may leave processes behind")
    else:
        prefix = [unshare, *(["-r"] if euid != 0 else []), *_NAMESPACES]
        if not _works(prefix):
            missing.append("namespaces: 'unshare " + " ".join(prefix[1:]) + "' failed here (user "
                           "namespaces disabled?), so the kernel sees the course folder (solutions/ "
                           "too), has the network and may leave processes behind")
            prefix = []
    return Isolation(separate and bool(prefix), bool(prefix), tuple(missing), tuple(prefix))


def isolation() -> Isolation:
    """The protections a kernel started by this process gets (probed once per process).

    ``COURSE_GRADING_SANDBOX=off`` gives none; ``=no-root`` what grading without root would give
    (to check that fallback as root)."""
    mode = os.environ.get(SANDBOX_VARIABLE, "auto").strip().lower()
    return _probe(mode, 1 if mode == "no-root" else os.geteuid())


def isolation_problem() -> str | None:
    """A sentence for the grade report naming the missing protections, or None if there are none."""
    missing = isolation().missing
    return None if not missing else "kernel isolation incomplete: " + "; ".join(missing)


def _course_roots(cwd: Path) -> list[Path]:
    """The course repository holding this course_lib (not a site-packages folder of an installed
    course_lib) and every folder above the notebook with an nbgrader configuration."""
    repo = Path(__file__).resolve().parents[2]
    roots = [repo] if any((repo / name).exists() for name in ("nbgrader_config.py", "solutions")) else []
    roots += [p for p in cwd.resolve().parents if (p / "nbgrader_config.py").is_file()]
    return roots


@functools.lru_cache(maxsize=None)
def _numba_caches(folder: str) -> list[str]:
    """Folders under ``folder`` (relative) that hold numba's on-disk caches (``*.nbi``)."""
    return sorted({os.path.relpath(os.path.dirname(os.path.join(top, name)), folder)
                   for top, _, names in os.walk(folder) for name in names if name.endswith(".nbi")})


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run isolated from the grader (see the module docstring)."""

    _sandbox: Path | None = None

    async def _async_pre_start_kernel(self, **kw):
        iso = isolation()
        if not iso.namespaces:
            self.log.warning("Kernel isolation incomplete: %s", "; ".join(iso.missing))
            return await super()._async_pre_start_kernel(**kw)
        cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
        base = Path(tempfile.mkdtemp(prefix="course-kernel-"))
        self._sandbox = base
        home = base / "home"
        work = home / cwd.parent.name / cwd.name  # keeps nbgrader's <student>/<assignment> names
        shutil.copytree(cwd, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"), symlinks=False)
        for sub in ("tmp", ".ipython", ".cache"):
            (home / sub).mkdir(exist_ok=True)
        self.transport = "ipc"
        self.ip = str(base / "ipc" / "k")
        (base / "ipc").mkdir()
        self.connection_file = str(base / "ipc" / "kernel.json")
        env = dict(kw.get("env") or os.environ)
        env.update(HOME=str(home), TMPDIR=str(home / "tmp"), IPYTHONDIR=str(home / ".ipython"),
                   XDG_CACHE_HOME=str(home / ".cache"), MPLCONFIGDIR=str(home / ".cache"),
                   JUPYTER_RUNTIME_DIR=str(home / ".cache"),
                   # the grader's download cache may lie in a hidden course root: the kernel gets its own
                   COURSE_CACHE_DIR=str(home / ".cache" / "course_lib"),
                   # torch caches under a folder it names in the environment: once the grader's
                   # own process has imported torch._dynamo (torch.optim does), that variable names
                   # the grader's /tmp, hidden here, and the kernel's `import torch._dynamo` fails
                   # with PermissionError
                   TORCHINDUCTOR_CACHE_DIR=str(home / ".cache" / "torchinductor"),
                   TRITON_CACHE_DIR=str(home / ".cache" / "triton"),
                   PYTHONDONTWRITEBYTECODE="1")
        env.pop("NUMBA_CACHE_DIR", None)  # a grader's folder; numba's caches beside the sources show through
        kw["env"] = env
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        uid = gid = None
        if iso.separate_user:
            uid, gid = NOBODY, pwd.getpwuid(NOBODY).pw_gid
            for path in [home, *home.rglob("*"), base / "ipc", *(base / "ipc").rglob("*")]:
                os.chown(path, uid, gid, follow_symlinks=False)
        keep = [(str(base), True)] + [(p, False, _numba_caches(p)) for p in (
            str(Path(__file__).resolve().parents[1]), sys.prefix, sys.base_prefix)]
        user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
        keep += [(p, False) for p in (user_site, env.get("COURSE_DATA_DIR")) if p]
        hide = [str(p) for p in _course_roots(cwd)] + ["/tmp", "/var/tmp"]
        home_dir = Path(os.path.expanduser("~")).resolve()
        if home_dir != Path("/"):
            hide.append(str(home_dir))
        (base / "scratch").mkdir()  # root's: the copy-on-write layers of the read-only folders
        base.chmod(0o711)
        spec = {"hide": hide, "keep": keep, "uid": uid, "gid": gid, "cwd": str(work),
                "scratch": str(base / "scratch"), "fresh": ["/dev/shm"]}
        jail = [sys.executable, "-I", "-S", str(Path(__file__).with_name("_jail.py")), json.dumps(spec), "--"]
        self.log.info("Kernel isolated in %s (%s)", base,
                      "as nobody" if uid is not None else "; ".join(iso.missing))
        return [*iso.unshare, *jail, *kernel_cmd], kw

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._sandbox is not None and not restart:
            shutil.rmtree(self._sandbox, ignore_errors=True)
            self._sandbox = None
