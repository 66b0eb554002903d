"""The leash: a deploy process ends when the process that runs it (the supervisor) is gone (issue 11, point 5).

deploy-rs and nixos-rebuild must not go on deploying with nobody watching, recording or holding the locks: a
supervisor killed by SIGKILL (or the OOM killer) cannot clean up after itself. So each deploy command is started
through a small launcher, the leash, which:

- is the process group (and, for interactive sudo, session) leader, forks the deploy command into its group and
  waits for it, ignoring SIGINT/SIGTERM/SIGHUP itself (the runner's cancel signals the whole group; the command
  gets them with their default meaning);
- holds the read end of a pipe whose only write end is the supervisor's (the "watch" pipe). The kernel closes that
  end when the supervisor dies, however it dies; the leash then sees end-of-file and ends the whole group and its
  own children: SIGTERM, then SIGKILL after GRACE seconds until none is left, then exits. The group id stays
  allocated while the leash lives, so it is never another process's group by then;
- is a child subreaper (PR_SET_CHILD_SUBREAPER): an ssh or nix child that deploy-rs leaves behind is re-parented to
  the leash, not to init, so it is ended with the rest even if it moved to a group of its own;
- reports the command's exit (`exit N` or `signal N`) on a second pipe as soon as it happens, and stays until the
  command's leftovers have exited or the runner closes the watch pipe (it does after its late-output window).

It is plain Python run with `-I -S` (no site, no user environment: a few milliseconds), from this module's source,
so it needs nothing installed on the jump host beyond the interpreter labtui runs on.
"""

from __future__ import annotations

import sys

GRACE = 3.0  # seconds between SIGTERM and SIGKILL when the supervisor is gone

# argv: WATCH_FD STATUS_FD PROGRAM ARGS...
LEASH = r"""
import os, select, signal, sys, time
watch, status = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
GRACE = float(os.environ.get("LABTUI_LEASH_GRACE", "@GRACE@"))
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
QUIET = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
for s in QUIET:
    signal.signal(s, signal.SIG_IGN)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *a: None)
child = os.fork()
if child == 0:
    signal.set_wakeup_fd(-1)
    for s in (*QUIET, signal.SIGCHLD):
        signal.signal(s, signal.SIG_DFL)
    for fd in (watch, status, wake_r, wake_w):
        os.close(fd)
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        os.write(2, ("labtui: cannot run %s: %s\n" % (argv[0], exc.strerror)).encode())
    os._exit(127)
keep = {watch, status, wake_r, wake_w}
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)  # the command's pipes and terminal are its own: only it holds them open
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    if fd > 2 and fd not in keep:
        try:
            os.close(fd)
        except OSError:
            pass

def report(code):
    global status
    if status is not None:
        try:
            os.write(status, code.encode())
        except OSError:
            pass
        os.close(status)
        status = None

def reap():
    # Collect every child that ended; False once none is left.
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == child:
            report("signal %d\n" % os.WTERMSIG(st) if os.WIFSIGNALED(st) else "exit %d\n" % os.WEXITSTATUS(st))

def children():
    found = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open("/proc/self/task/%s/children" % tid) as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found

def group():
    # The other members of our process group (its id is our pid).
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[2]) == me:
                        found.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return found

def end_all(sig):
    # Leftovers that left the group are still ours (subreaper): our children, and the group's members.
    for pid in set(children()) | set(group()):
        try:
            os.kill(pid, sig)
        except OSError:
            pass

def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass

while True:
    ready, _, _ = select.select([watch, wake_r], [], [])
    if wake_r in ready:
        drain(wake_r)
        if not reap():
            break  # the command and everything it left behind have exited
    if watch in ready:
        try:
            data = os.read(watch, 4096)
        except OSError:
            data = b""
        if data:
            continue
        # The supervisor is gone (or the runner is done): nothing may go on deploying unwatched.
        end_all(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        alive = reap()
        while alive and time.monotonic() < deadline:
            select.select([wake_r], [], [], max(0.0, deadline - time.monotonic()))
            drain(wake_r)
            alive = reap()
        for _ in range(100):  # SIGKILL until nothing is left (a child dying may leave us its own children)
            if not alive and not group():
                break
            end_all(signal.SIGKILL)
            time.sleep(0.05)
            alive = reap()
        break
report("signal 9\n")  # not reached with a reported command; a command never reaped was killed with its group
""".replace("@GRACE@", str(GRACE))


def leash_command(watch_fd: int, status_fd: int, argv: list[str]) -> list[str]:
    """The argv that runs `argv` (its program an absolute path) on a leash watching `watch_fd`, reporting on
    `status_fd`."""
    return [sys.executable, "-I", "-S", "-c", LEASH, str(watch_fd), str(status_fd), *argv]


def parse_status(text: str) -> int | None:
    """The command's exit as the runner wants it: the exit status, or -N when signal N ended it; None when the
    leash reported nothing (it was killed with its group)."""
    words = text.split()
    if len(words) >= 2 and words[1].isdigit():
        if words[0] == "exit":
            return int(words[1])
        if words[0] == "signal":
            return -int(words[1])
    return None
