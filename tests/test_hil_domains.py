"""DDS domains leased per run (tether.hil.domains) and stuck nodes that leave their stacks behind."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tether.hil.domains import FIRST_DOMAIN, LAST_DOMAIN, DomainInUseError, DomainLease
from tether.hil.processes import NodeProcesses


def test_two_leases_never_share_a_domain_and_a_released_one_is_free_again(tmp_path):
    with DomainLease(lock_dir=tmp_path) as a, DomainLease(lock_dir=tmp_path) as b:
        assert a.domain_id != b.domain_id
        assert FIRST_DOMAIN <= a.domain_id <= LAST_DOMAIN and FIRST_DOMAIN <= b.domain_id <= LAST_DOMAIN
        taken = a.domain_id
    with DomainLease(taken, lock_dir=tmp_path) as again:
        assert again.domain_id == taken


def test_a_requested_domain_held_by_another_process_is_refused_naming_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from tether.hil.domains import DomainLease
            lease = DomainLease(151, lock_dir={str(tmp_path)!r}); lease.acquire()
            print("held", flush=True); time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DomainInUseError, match=rf"domain 151 is in use .*pid {holder.pid}"):
            DomainLease(151, lock_dir=tmp_path).acquire()
        with DomainLease(lock_dir=tmp_path) as other:  # an automatic lease steps around it
            assert other.domain_id != 151
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with DomainLease(151, lock_dir=tmp_path) as freed:  # the kernel dropped the dead holder's lock
        assert freed.domain_id == 151


def test_out_of_range_domain_is_refused():
    with pytest.raises(ValueError, match="0..232"):
        DomainLease(233)


def test_a_node_stuck_at_shutdown_dumps_its_stack_before_it_is_killed(tmp_path):
    stuck = textwrap.dedent("""
        import faulthandler, signal, time
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignores the polite stop

        def wait_forever():
            while True:
                time.sleep(0.05)

        print("ready", flush=True)
        wait_forever()
    """)
    script = tmp_path / "stuck_node.py"
    script.write_text(stuck)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    procs = NodeProcesses(tmp_path / "logs", env=env, stop_timeout_s=1.0)
    with procs:
        procs.start("stuck", "stuck_node", [])
        for _ in range(200):  # bounded: up to 10 s for the interpreter to start
            if "ready" in procs.log_tail("stuck"):
                break
            time.sleep(0.05)
        assert "ready" in procs.log_tail("stuck")
    assert procs.stuck_on_stop == ["stuck"]
    log = procs.log_tail("stuck")
    assert "wait_forever" in log and "most recent call first" in log  # faulthandler traceback
