"""`labtui _supervise RUN_ID --ready-fd N` (hidden): the process that owns a detached deploy.

Started by labtui.runs.client.start_supervisor through labtui's own entry point, never by hand. This is
the composition root of a detached deploy, above deploy and ops: it turns the pickled request's
declarative fields into objects (the generation probe and the health gate over one SSH pool) and hands
the `DeployRun` to the run-agnostic supervisor (labtui.runs.supervisor).
"""

from __future__ import annotations

import argparse
import os

from labtui.deploy.detached import DetachedDeploy, detached_deploy
from labtui.deploy.orchestrator import DeployRun, PostNodeHook
from labtui.deploy.request import DeployRequest
from labtui.inventory.model import Inventory
from labtui.runs.client import SUPERVISE_VERB, take_payload
from labtui.runs.files import RawSink, job_output_writer
from labtui.runs.journal import RunHeader
from labtui.runs.locks import operator_name
from labtui.runs.remote_locks import LOCK_PATH, RemoteHostLocks
from labtui.runs.supervisor import SupervisedRun, run_supervisor
from labtui.ssh.api import RemoteShell


def health_gate_for(request: DeployRequest, inventory: Inventory, shell: RemoteShell) -> PostNodeHook | None:
    """The post-node hook the request asks for (call inside the event loop: it starts a snapshot).

    Only an action that changes the running system is gated; only one that added a generation is rolled
    back on failure (after `test` the profile did not move, so its checks are reported)."""
    from labtui.ops.gate import make_post_deploy_gate

    if request.health_gate == "off" or not request.action.activates:
        return None
    policy = request.health_gate if request.action.adds_generation else "report"
    gate = make_post_deploy_gate(inventory, shell, policy)
    gate.start_snapshot([inventory.get(node) for node in request.nodes()])
    return gate


def remote_locks_for(request: DeployRequest, inventory: Inventory, shell: RemoteShell,
                     run_id: str) -> RemoteHostLocks | None:
    """The locks on the hosts themselves, taken over `shell`'s connections (a pool that can hold a command
    running: labtui.ssh.pool.SshPool), each with the privileges deploys use on that host (as deploy-rs's
    activation: so operators logging in as different users meet in /run/lock)."""
    from labtui.ops.privilege import privilege_for

    conversation = getattr(shell, "conversation", None)
    if conversation is None:
        return None

    def privileged(node: str, script: str) -> str:
        privilege = privilege_for(inventory.get(node))
        return script if privilege.needs_password else privilege.wrap(script)  # no password to give it here

    # LABTUI_HOST_LOCK_PATH: tests whose "hosts" are this machine's sshd keep their lock out of its /run/lock.
    path = os.environ.get("LABTUI_HOST_LOCK_PATH") or LOCK_PATH
    return RemoteHostLocks(request.nodes(), run_id, operator_name(), conversation, privileged, path=path)


def build_deploy_run(deploy: DetachedDeploy, files: RawSink, run_id: str, *,
                     shell: RemoteShell | None = None) -> tuple[DeployRun, RunHeader]:
    """The deploy with its probe and health gate, its host locks taken (HostLocked otherwise)."""
    request, inventory = deploy.request, deploy.inventory
    if shell is None and (request.probe or request.health_gate != "off" or request.host_lock):
        from labtui.ssh.pool import SshPool

        shell = SshPool(inventory.hosts)
    probe = None
    post_node = None
    wave_rollback = None
    if shell is not None:
        from labtui.ops.gate import PostDeployGate
        from labtui.ops.generations import generation_probe

        probe = generation_probe(shell) if request.probe else None
        post_node = health_gate_for(request, inventory, shell)
        if request.waves and isinstance(post_node, PostDeployGate) and post_node.policy == "rollback":
            wave_rollback = post_node.roll_back_node  # a failed wave is rolled back as a whole
    multi = len(request.nodes()) > 1 and not request.atomic
    remote_locks = remote_locks_for(request, inventory, shell, run_id) if request.host_lock and shell else None
    run = DeployRun(request, inventory, run_id=run_id, post_node=post_node, probe=probe,
                    timings=deploy.runner_timings(), on_raw=job_output_writer(files, multi),
                    wave_rollback=wave_rollback, remote_locks=remote_locks)
    run.acquire_locks()
    header = RunHeader(operator=operator_name(), method=",".join(sorted({j.method for j in run.jobs})),
                       action=request.action.value, targets=request.targets, flake=run.flake,
                       revision=inventory.revision, dirty=inventory.dirty, argv=run.argvs, waves=request.waves)
    return run, header


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"labtui {SUPERVISE_VERB}")
    parser.add_argument("run_id")
    parser.add_argument("--ready-fd", type=int)
    args = parser.parse_args(argv)
    run_id: str = args.run_id

    def build(files: RawSink) -> tuple[SupervisedRun, RunHeader]:
        deploy = detached_deploy(take_payload(run_id))
        return build_deploy_run(deploy, files, run_id)

    return run_supervisor(run_id, args.ready_fd, build)
