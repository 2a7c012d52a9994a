"""Enter the sandbox of a submission's kernel, then start the kernel (internal; standard library only).

Usage (started by :class:`course_lib.grading.sandbox.SandboxedKernelManager` inside ``unshare``'s
new mount, PID and network namespaces)::

    python -I -S _jail.py SPEC_JSON -- KERNEL_COMMAND...

``SPEC_JSON`` holds ``hide`` (folders covered by an empty read-only-for-others ``tmpfs``: the course
roots, ``/tmp``, ...), ``keep`` (``[path, writable]`` pairs that stay visible through the hidden
folders: ``course_lib``, the Python environment, the kernel's own sandbox), ``uid``/``gid`` (the
unprivileged user to become, or null) and ``cwd``. The mounts exist only in this process's mount
namespace; the grader outside sees its files unchanged. Then the privileges are dropped for good
(``no_new_privs``, no supplementary groups) and the kernel command replaces this process, which is
PID 1 of the namespace: when the kernel ends, the Linux kernel kills every process left in it
(``setsid``/double-forked ones too).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def enter(spec: dict) -> None:
    """Hide, keep, drop privileges (see the module docstring)."""
    keep = [(os.path.realpath(p), bool(w)) for p, w in spec.get("keep", []) if os.path.isdir(p)]
    fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path, _ in keep}
    for hidden in sorted({os.path.realpath(h) for h in spec.get("hide", [])}, key=len):
        if os.path.isdir(hidden):  # (a folder inside one hidden before is gone already)
            _mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for path, writable in sorted(keep, key=lambda k: len(k[0])):
        if os.path.isdir(path) and os.path.samefile(f"/proc/self/fd/{fds[path]}", path):
            continue  # not under a hidden folder
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC)
        if not writable:
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for fd in fds.values():
        os.close(fd)
    if spec.get("uid") is not None:
        os.setgroups([])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.chdir(spec["cwd"])


def main(argv: list[str]) -> int:
    """Entry point: ``SPEC_JSON -- COMMAND...``."""
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    enter(json.loads(argv[0]))
    os.execvp(argv[2], argv[2:])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
