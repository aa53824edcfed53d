"""A Lambda execution environment's CPU share: MemorySize / 1,769 of a core.

Lambda allocates CPU in proportion to memory (1,769 MB is one vCPU; 128 MB is ~7.2% of a core,
10,240 MB ~5.8 vCPUs). Locally each environment's process is put in a cgroup of its own with a
CFS quota of that share: cgroup v1's `cpu` controller (`cpu.cfs_quota_us` over
`cpu.cfs_period_us`) or cgroup v2's `cpu.max`, whichever this machine has writable. The process
joins its cgroup before it executes `bootstrap` (a shell writes its own pid into `cgroup.procs`,
then execs), so the runtime's init runs under the quota too.

Where neither can be used (not root, no cpu controller, a read-only /sys/fs/cgroup), `place()`
returns a `Quota` whose `cgroup` is None and whose `problem` says why; the local Lambda writes
that on every environment start and marks its REPORT lines unthrottled.
"""

import os
import uuid

# Lambda: 1,769 MB of memory is one vCPU.
MB_PER_VCPU = 1769
# The CFS period the quota is a share of, microseconds (the kernel's default).
PERIOD_US = 100_000
# The smallest quota the kernel accepts, microseconds.
MIN_QUOTA_US = 1_000

V1_ROOT = "/sys/fs/cgroup/cpu"
V2_ROOT = "/sys/fs/cgroup"
# Every environment's cgroup is under this one (per server process, so two servers never share).
PARENT = f"localaws-{os.getpid()}"


def share(memory_mb: int) -> float:
    """The fraction of one core a function of `memory_mb` gets."""
    return memory_mb / MB_PER_VCPU


def quota_us(memory_mb: int) -> int:
    return max(MIN_QUOTA_US, round(PERIOD_US * share(memory_mb)))


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Quota:
    """One environment's cgroup (or the reason there is none)."""

    def __init__(self, memory_mb: int, cgroup: str | None, problem: str | None):
        self.memory_mb = memory_mb
        self.cgroup = cgroup
        self.problem = problem

    @property
    def throttled(self) -> bool:
        return self.cgroup is not None

    def command(self, bootstrap: str) -> list[str]:
        """The argv that starts `bootstrap` inside the cgroup (exit 126 if it cannot join)."""
        if self.cgroup is None:
            return [bootstrap]
        procs = os.path.join(self.cgroup, "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" || exit 126; exec "$1"', procs, bootstrap]

    def describe(self) -> str:
        if self.cgroup is None:
            return (f"localaws: this execution environment runs without a CPU quota ({self.problem}); "
                    f"on AWS a {self.memory_mb} MB function gets {share(self.memory_mb):.1%} of a core, "
                    f"so its durations here are optimistic")
        return f"localaws: CPU quota {quota_us(self.memory_mb)}/{PERIOD_US} us ({share(self.memory_mb):.1%} of a core)"

    def remove(self) -> None:
        """Removes the cgroup (its process must have exited)."""
        if self.cgroup is not None:
            try:
                os.rmdir(self.cgroup)
            except OSError:
                pass
            self.cgroup = None


def _v1(name: str, memory_mb: int) -> str:
    parent = os.path.join(V1_ROOT, PARENT)
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, name)
    os.mkdir(path)
    try:
        _write(os.path.join(path, "cpu.cfs_period_us"), str(PERIOD_US))
        _write(os.path.join(path, "cpu.cfs_quota_us"), str(quota_us(memory_mb)))
    except OSError:
        os.rmdir(path)
        raise
    return path


def _v2(name: str, memory_mb: int) -> str:
    with open(os.path.join(V2_ROOT, "cgroup.controllers")) as f:
        if "cpu" not in f.read().split():
            raise OSError("cgroup v2 has no cpu controller")
    parent = os.path.join(V2_ROOT, PARENT)
    os.makedirs(parent, exist_ok=True)
    for where in (V2_ROOT, parent):
        _write(os.path.join(where, "cgroup.subtree_control"), "+cpu")
    path = os.path.join(parent, name)
    os.mkdir(path)
    try:
        _write(os.path.join(path, "cpu.max"), f"{quota_us(memory_mb)} {PERIOD_US}")
    except OSError:
        os.rmdir(path)
        raise
    return path


def place(memory_mb: int, enabled: bool = True) -> Quota:
    """A cgroup for one new execution environment with `memory_mb`'s CPU share."""
    if not enabled:
        return Quota(memory_mb, None, "lambda_cpu_quota is off")
    name = uuid.uuid4().hex
    problems = []
    if os.path.isfile(os.path.join(V1_ROOT, "cpu.cfs_quota_us")):
        try:
            return Quota(memory_mb, _v1(name, memory_mb), None)
        except OSError as e:
            problems.append(f"cgroup v1 {V1_ROOT}: {e.strerror or e}")
    if os.path.isfile(os.path.join(V2_ROOT, "cgroup.controllers")):
        try:
            return Quota(memory_mb, _v2(name, memory_mb), None)
        except OSError as e:
            problems.append(f"cgroup v2 {V2_ROOT}: {e.strerror or e}")
    return Quota(memory_mb, None, "; ".join(problems) or "no cgroup cpu controller is mounted")


def cleanup() -> None:
    """Removes this server's parent cgroups (after every environment has stopped)."""
    for root in (V1_ROOT, V2_ROOT):
        try:
            os.rmdir(os.path.join(root, PARENT))
        except OSError:
            pass
