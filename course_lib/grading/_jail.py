"""Enter the sandbox of a submission's kernel, then start the kernel (internal; standard library only).

Usage (started by :class:`course_lib.grading.sandbox.SandboxedKernelManager` inside ``unshare``'s
new mount, PID and network namespaces)::

    python -I -S _jail.py SPEC_JSON -- KERNEL_COMMAND...

``SPEC_JSON`` holds ``hide`` (folders covered by an empty read-only-for-others ``tmpfs``: the course
roots, ``/tmp``, ...), ``keep`` (``[path, writable, cache folders]`` that stay visible through the
hidden folders: ``course_lib`` and the Python environment as copy-on-write overlays whose changes
land in ``scratch`` (numba's cache folders there writable to the kernel), the kernel's own sandbox), ``uid``/``gid`` (the
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
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 38, 1

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def enter(spec: dict) -> None:
    """Hide, keep, drop privileges (see the module docstring)."""
    keep = [(os.path.realpath(k[0]), bool(k[1])) for k in spec.get("keep", []) if os.path.isdir(k[0])]
    caches = {os.path.realpath(k[0]): k[2] if len(k) > 2 else [] for k in spec.get("keep", [])}
    fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path, _ in keep}
    scratch_root = None
    if spec.get("scratch"):  # reached through its descriptor once /tmp is hidden
        scratch_root = f"/proc/self/fd/{os.open(spec['scratch'], os.O_PATH | os.O_DIRECTORY)}"
    for hidden in sorted({os.path.realpath(h) for h in spec.get("hide", [])}, key=len):
        if os.path.isdir(hidden):  # (a folder inside one hidden before is gone already)
            _mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for path, writable in sorted(keep, key=lambda k: len(k[0])):
        if os.path.isdir(path) and os.path.samefile(f"/proc/self/fd/{fds[path]}", path):
            continue  # not under a hidden folder
        os.makedirs(path, exist_ok=True)
        if not writable and scratch_root:
            # copy-on-write: the kernel may write (numba's caches next to the code), but only into
            # its own scratch folder, which the grader removes; nobody else sees the change
            scratch = os.path.join(scratch_root, str(len(os.listdir(scratch_root))))
            os.makedirs(os.path.join(scratch, "upper"))
            os.makedirs(os.path.join(scratch, "work"))
            for rel in caches.get(path, []):  # numba's cache folders: readable and writable to the
                folder = os.path.join(scratch, "upper", rel)  # kernel, so it reuses the compiled code
                os.makedirs(folder, exist_ok=True)
                if spec.get("uid") is not None:
                    os.chown(folder, spec["uid"], spec["gid"])
            try:
                _mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV,
                       f"lowerdir=/proc/self/fd/{fds[path]},upperdir={scratch}/upper,workdir={scratch}/work")
                continue
            except OSError:
                pass  # no overlayfs here: a read-only view
        _mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC)
        if not writable:
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for folder in spec.get("fresh", []):  # an empty private folder everybody may write (/dev/shm)
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    for fd in fds.values():
        os.close(fd)
    if spec.get("uid") is not None:
        os.setgroups([])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    # unshare --kill-child asked for SIGKILL when unshare dies, but changing the user id clears
    # that request: ask again (the kernel and, as PID 1, everything in its namespace die with it)
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
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
