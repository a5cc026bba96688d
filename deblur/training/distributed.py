"""One training run over several processes and hosts: Keras's data parallelism on JAX's runtime (docs/distributed.md).

Every process runs the same command and feeds its shard of every global batch; Keras's :data:`ENV_VARS` (the
coordinator is process 0's ``host:port``) or SLURM's say which it is. ``deblur train --processes N`` starts N here
(:func:`launch`). Keras is imported only in :func:`initialize`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["ProcessGroup", "from_env", "initialize", "current", "launch", "HEARTBEAT_SECONDS", "ENV_VARS"]

#: Keras's names for a process's place in the group.
ENV_VARS = ("KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID", "KERAS_DISTRIBUTION_JOB_ADDRESSES")
#: A process that misses JAX's heartbeats this long is dead, and the others stop (JAX's default is 100 s).
HEARTBEAT_SECONDS = 30
#: How long processes wait for each other to join.
JOIN_SECONDS = 120
#: A process stopped (SIGSTOP) this long has failed: its peers would wait for it until the heartbeat aborts them.
STOPPED_SECONDS = 5
#: Process 0's stderr lines not relayed: the C++ runtime's log (``E1208 04:05:06.123456 ...``) and abort stack trace.
_RUNTIME_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ |\*\*\* SIG\w+ received|PC: @|\s+@\s+0x|"
                           r"(\*\*\* )?Check failure)")
#: A command's refusal (:func:`deblur.cli.run_command`): process 0's is held, so that one line is printed of all.
_REFUSAL_LINE = re.compile(r"^deblur( [\w-]+)?: error: ")


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a training group: ``index`` of ``count``, and the coordinator's ``host:port``."""

    count: int = 1
    index: int = 0
    coordinator: str | None = None

    @property
    def is_chief(self):
        """Process 0: it holds the run-folder lock and writes checkpoints, history and the final model."""
        return self.index == 0

    def shard(self, n):
        """The positions ``[start, stop)`` of a global batch of ``n`` images that this process feeds."""
        if n % self.count:
            raise ValueError(f"a batch of {n} images does not split evenly over {self.count} processes; choose a "
                             f"batch_size that is a multiple of {self.count}.")
        size = n // self.count
        return self.index * size, (self.index + 1) * size


_current = ProcessGroup()


def from_env(environ=None):
    """The :class:`ProcessGroup` the environment describes (one process when it describes none)."""
    env = os.environ if environ is None else environ
    count_var, index_var, address_var = ENV_VARS
    if env.get(count_var):
        names, values = (count_var, index_var), (env.get(count_var), env.get(index_var))
        coordinator = (env.get(address_var) or "").split(",")[0].strip() or None
        if coordinator is None and int(values[0] or 1) > 1:
            raise ValueError(f"{count_var}={values[0]} needs {address_var}=host:port (process 0's address).")
    elif int(env.get("SLURM_NTASKS") or 1) > 1:
        names, values = ("SLURM_NTASKS", "SLURM_PROCID"), (env["SLURM_NTASKS"], env.get("SLURM_PROCID"))
        coordinator = None
    else:
        return ProcessGroup()
    try:
        count, index = int(values[0]), int(values[1])
    except (TypeError, ValueError):
        raise ValueError(f"{names[0]}={values[0]!r} and {names[1]}={values[1]!r} must be integers.") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"{names[1]}={index} must be in [0, {names[0]}={count}).")
    return ProcessGroup(count, index, coordinator)


def initialize(group=None):
    """Join the ``group`` (default :func:`from_env`) once and spread later models over its devices; the group.

    Call it in every process, before building a model; one process needs nothing. RuntimeError: several processes on
    a backend other than JAX, or JAX already started (a model was built first)."""
    global _current
    if _current.count > 1:  # joined already
        return _current
    group = from_env() if group is None else group
    if group.count == 1:
        return group
    if group.coordinator:  # JAX aborts the process (SIGABRT, a C++ stack trace) on both: one line instead
        (_check_port_free if group.is_chief else _wait_for_coordinator)(group.coordinator)
    import keras
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"training over {group.count} processes runs on JAX: set KERAS_BACKEND=jax (this process "
                           f"runs {keras.backend.backend()}).")
    import jax
    try:
        jax.distributed.initialize(group.coordinator, group.count, group.index, initialization_timeout=JOIN_SECONDS,
                                   heartbeat_timeout_seconds=HEARTBEAT_SECONDS)
    except RuntimeError as exc:
        if "before" in str(exc):
            raise RuntimeError("JAX started before the training group was joined: call "
                               "deblur.training.distributed.initialize() before building the model.") from None
        raise
    # Every process feeds its own shard (deblur.training.pipeline), so Keras must not shard the data again.
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices(),
                                                                        auto_shard_dataset=False))
    _current = group
    return group


def _split_address(address):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"the coordinator address {address!r} is not host:port (e.g. 10.0.0.1:1234); fix "
                         f"{ENV_VARS[2]}.")
    return host.strip("[]"), int(port)


def _check_port_free(address):
    """Process 0 serves the coordinator on ``address``'s port: refused at once if something else holds it."""
    _, port = _split_address(address)
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError as exc:
            raise OSError(f"the coordinator port {port} is in use on this machine ({exc.strerror}): name a free "
                          f"port in {ENV_VARS[2]}, or stop what holds it.") from None


def _wait_for_coordinator(address, seconds=None):
    """Wait up to :data:`JOIN_SECONDS` for process 0's coordinator to accept connections; one line if it never does."""
    host, port = _split_address(address)
    seconds = JOIN_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    raise ConnectionError(f"cannot reach the coordinator {address} within {seconds:g} s: start process 0 (the "
                          "coordinator) first, and check the address, the port and any firewall.")


@contextlib.contextmanager
def saving_alone():
    """Save a model in one process of a group: no Keras distribution in the block (saving builds an optimizer, whose
    variables a distribution creates with a collective the other processes never join)."""
    if _current.count == 1:
        yield
        return
    import keras
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def current():
    """The :class:`ProcessGroup` this process joined (one process before :func:`initialize`)."""
    return _current


def launch(argv, processes, *, program=None, poll_seconds=0.2):
    """Run ``python -m deblur ARGV`` (or ``program + ARGV``) as cooperating processes here; their exit status.

    Each process gets Keras's environment variables (coordinator on 127.0.0.1), ``KERAS_BACKEND=jax`` and an equal
    share of the CPU cores. Process 0 prints; the others are quiet. When one fails, the others are stopped at once and
    one line says which failed and how to continue."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    children, logs = [], [tempfile.TemporaryFile() for _ in range(processes)]  # a pipe could fill and block
    for index in range(processes):
        env = {**os.environ, "KERAS_BACKEND": "jax", ENV_VARS[0]: str(processes), ENV_VARS[1]: str(index),
               ENV_VARS[2]: address}
        share = cores[index::processes] if len(cores) >= processes else cores
        pin = (lambda share=share: os.sched_setaffinity(0, share)) if share else None
        command = [*(program or [sys.executable, "-m", "deblur"]), *argv]
        children.append(subprocess.Popen(command, env=env, preexec_fn=pin,
                                         stdout=None if index == 0 else subprocess.DEVNULL,
                                         stderr=subprocess.PIPE if index == 0 else logs[index]))
    failed, refusals = threading.Event(), []
    relay = threading.Thread(target=_relay, args=(children, failed, refusals), daemon=True)
    relay.start()
    try:
        failure = _wait(children, poll_seconds)
        failed.set()
        if failure is not None and failure[0] == 0:
            relay.join(timeout=5)  # process 0 has exited: its last lines are read, its refusal (if any) is held
        return 0 if failure is None else _report(failure, processes, logs, refusals)
    finally:
        for child in children:  # none outlives the launcher (all are done after a success)
            if child.poll() is None:
                child.kill()
            child.wait()
        relay.join(timeout=5)
        children[0].stderr.close()
        for log in logs:
            log.close()


def _relay(children, failed, refusals):
    """Relay process 0's stderr but the runtime's log lines, until a process fails (the launcher's line says more).
    Its refusals (``deblur train: error: ...``) are held in ``refusals``: the launcher prints one line of all."""
    for line in children[0].stderr:
        text = line.decode(errors="replace")
        if _REFUSAL_LINE.match(text):
            refusals.append(text.rstrip("\n"))
        elif not failed.is_set() and not any(c.poll() not in (None, 0) for c in children[1:]) \
                and not _RUNTIME_LINE.match(text):
            sys.stderr.write(text)
            sys.stderr.flush()


def _wait(children, poll_seconds):
    """None once all succeed, else the first failure's ``(index, exit status or "stopped")``."""
    stopped_since = {}
    try:
        while True:
            codes = [c.poll() for c in children]
            failed = [(i, code) for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                return failed[0]
            if all(code == 0 for code in codes):
                return None
            now = time.monotonic()
            for i, child in enumerate(children):
                if codes[i] is None and _stopped(child.pid):
                    if now - stopped_since.setdefault(i, now) >= STOPPED_SECONDS:
                        return i, "stopped"
                else:
                    stopped_since.pop(i, None)
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        return 0, 130


def _stopped(pid):
    """Whether process ``pid`` is stopped (state T or t in ``/proc``; False where there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _report(failure, processes, logs, refusals=()):
    """Exactly one line for the failure of process ``index`` (a refusal's own line, or the launcher's); the launcher's
    exit status."""
    index, code = failure
    if code == "stopped":
        print(f"deblur train: process {index} of {processes} was stopped (SIGSTOP) for {STOPPED_SECONDS} s, and the "
              "others would wait for it; stopped them all. Rerun the same command to resume from the last finished "
              "epoch.", file=sys.stderr)
        return 3
    if code != 2:
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        print(f"deblur train: process {index} of {processes} stopped ({how}); stopped the others. Rerun the same "
              "command to resume from the last finished epoch.", file=sys.stderr)
    else:  # a refusal: the failed process's own line (process 0's held by the relay, the others' in their logs)
        logs[index].seek(0)
        lines = list(refusals) if index == 0 else logs[index].read().decode(errors="replace").strip().splitlines()
        print(lines[-1] if lines else f"deblur train: process {index} refused to start", file=sys.stderr)
    return 2 if code == 2 else 3
