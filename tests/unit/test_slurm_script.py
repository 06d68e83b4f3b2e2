"""A Slurm launch's resources are checked with messages that say what is accepted, and the
batch script and env file it becomes are right (the env file is sourced by a real bash)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from traindeck.launch.executor import ExecutorError
from traindeck.launch.slurm_script import (
    BatchJob,
    ResourcesError,
    SlurmResources,
    render_env_file,
    render_script,
)


def test_every_resource_becomes_its_sbatch_option() -> None:
    res = SlurmResources.parse({"partition": "gpu", "account": "proj-1", "nodes": 2,
                                "tasks": 8, "cpus": 4, "gpus": "a100:8", "mem": "64g",
                                "time": "1-12:00:00"})
    assert res.sbatch_options() == [
        "--partition=gpu", "--account=proj-1", "--nodes=2", "--ntasks=8",
        "--cpus-per-task=4", "--gpus=a100:8", "--mem=64G", "--time=1-12:00:00"]
    assert SlurmResources.parse({}).sbatch_options() == []
    assert SlurmResources.parse(None) == SlurmResources()
    assert SlurmResources.parse({"mem": 2048, "time": 90, "gpus": 0}).sbatch_options() == [
        "--mem=2048M", "--time=90"]


@pytest.mark.parametrize("time", ["5", "90", "5:30", "1:00:00", "2-0", "2-00", "1-12",
                                  "1-12:30", "1-12:30:15", "0:30", 7])
def test_slurm_time_forms_are_accepted(time: Any) -> None:
    assert SlurmResources.parse({"time": time}).time == str(time)


@pytest.mark.parametrize("time", ["", "abc", "1:60", "1:00:60", "1:61:00", "1-24", "1-1:60",
                                  "0", "0:00", "-5", "1h", "1:2:3:4", "1-2-3", 0, -1, 1.5, True])
def test_bad_time_limits_are_refused_with_the_forms_slurm_takes(time: Any) -> None:
    with pytest.raises(ResourcesError, match=r"resources\.time") as info:
        SlurmResources.parse({"time": time})
    assert "minute" in str(info.value)


def test_unknown_keys_are_refused_naming_the_keys_slurm_launches_take() -> None:
    with pytest.raises(ResourcesError) as info:
        SlurmResources.parse({"partition": "debug", "gpu": 1, "memory": "1G"})
    message = str(info.value)
    assert "'gpu'" in message and "'memory'" in message
    assert "gpus" in message and "mem" in message and "partition" in message


@pytest.mark.parametrize(("raw", "key"), [
    ({"nodes": "2"}, "nodes"), ({"nodes": 0}, "nodes"), ({"tasks": True}, "tasks"),
    ({"tasks": 1.0}, "tasks"), ({"cpus": -1}, "cpus"), ({"gpus": -1}, "gpus"),
    ({"gpus": "lots"}, "gpus"), ({"gpus": "a100:two"}, "gpus"), ({"mem": "16 GB"}, "mem"),
    ({"mem": 0}, "mem"), ({"mem": "0G"}, "mem"), ({"partition": "gpu; rm -rf /"}, "partition"),
    ({"partition": ""}, "partition"), ({"account": 5}, "account"),
])
def test_wrong_types_and_values_are_refused_naming_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ResourcesError, match=rf"resources\.{key}"):
        SlurmResources.parse(raw)


def test_resources_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(ResourcesError, match="an object"):
        SlurmResources.parse(["partition"])  # type: ignore[arg-type]


def test_resources_errors_are_executor_errors() -> None:
    assert issubclass(ResourcesError, ExecutorError)


def _job(tmp_path: Path, argv: list[str] | None = None, **kw: str) -> BatchJob:
    fields = {"cwd": str(tmp_path), "stdout": str(tmp_path / "out.log"),
              "stderr": str(tmp_path / "err.log"), "exit_file": str(tmp_path / "exit"),
              "env_file": str(tmp_path / "slurm.env"), "job_name": "td-abc", **kw}
    return BatchJob(argv=argv or ["python", "train.py", "--lr", "0.1"], **fields)


def test_the_script_names_output_folder_and_job_and_exports_nothing(tmp_path: Path) -> None:
    text = render_script(_job(tmp_path), SlurmResources.parse({"partition": "debug",
                                                               "time": "10"}))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    sbatch = [line for line in lines if line.startswith("#SBATCH ")]
    assert f"#SBATCH --output={tmp_path}/out.log" in sbatch
    assert f"#SBATCH --error={tmp_path}/err.log" in sbatch
    assert f"#SBATCH --chdir={tmp_path}" in sbatch
    assert "#SBATCH --job-name=td-abc" in sbatch
    assert "#SBATCH --export=NONE" in sbatch
    assert "#SBATCH --partition=debug" in sbatch and "#SBATCH --time=10" in sbatch
    # A job step also for one task: Slurm signals exactly the command's processes.
    assert "srun --export=ALL --kill-on-bad-exit=1 python train.py --lr 0.1" in lines


def test_tasks_are_ranks_of_one_srun_step(tmp_path: Path) -> None:
    text = render_script(_job(tmp_path), SlurmResources.parse({"tasks": 2}))
    assert "srun --export=ALL --kill-on-bad-exit=1 python train.py --lr 0.1" in text
    assert "#SBATCH --ntasks=2" in text


def test_paths_with_spaces_are_quoted_and_newlines_refused(tmp_path: Path) -> None:
    text = render_script(_job(tmp_path, stdout="/a b/out.log"), SlurmResources())
    assert '#SBATCH --output="/a b/out.log"' in text
    with pytest.raises(ExecutorError, match="newline"):
        render_script(_job(tmp_path, cwd="/a\n#SBATCH --x"), SlurmResources())


def test_the_env_file_gives_bash_every_value_exactly(tmp_path: Path) -> None:
    env = {"TRAINDECK_TOKEN": "td_s3cr3t'\"$(whoami)`x`\\n", "PLAIN": "1",
           "SPACES": "a  b\tc", "NEWLINE": "one\ntwo", "EMPTY": "",
           "BASH_FUNC_f%%": "() { :; }", "SLURM_JOB_ID": "99"}
    path = tmp_path / "env"
    path.write_text(render_env_file(env))
    names = ["TRAINDECK_TOKEN", "PLAIN", "SPACES", "NEWLINE", "EMPTY"]
    dump = "; ".join(f'printf "%s\\0" "${{{n}}}"' for n in names)
    script = f". {path}; {dump}; printf '%s' \"${{SLURM_JOB_ID-unset}}\""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    *values, slurm = out.stdout.split("\0")
    assert values == [env[n] for n in names]
    assert slurm == "unset"  # the submitting side's SLURM_* are not carried over


@pytest.mark.parametrize("resources", [{"partition": "gpu\n"}, {"account": "a\n#SBATCH x"},
                                       {"gpus": "2\n"}])
def test_a_newline_never_reaches_an_sbatch_line(resources: dict[str, str]) -> None:
    with pytest.raises(ResourcesError):
        SlurmResources.parse(resources)
    # sizes and times are trimmed: what goes into the script has no newline
    parsed = SlurmResources.parse({"mem": "16G\n", "time": "10\n"})
    assert (parsed.mem, parsed.time) == ("16G", "10")


def test_slurms_exit_code_reads_as_the_batch_script_records_it() -> None:
    """``ExitCode=X:Y`` from ``scontrol``: a signal as ``-Y``; a shell's ``128+N`` (a step
    SIGKILLed before the script could record it) as ``-N`` too, like the exit file."""
    from traindeck.launch.slurm import _exit_code

    def code(text: str) -> int | None:
        return _exit_code(f"JobId=7 JobName=td-x {text} Reboot=No")

    assert [code("ExitCode=0:0"), code("ExitCode=3:0"), code("ExitCode=0:9"),
            code("ExitCode=137:0"), code("ExitCode=143:0"), code("ExitCode=255:0")] == [
        0, 3, -9, -9, -15, 255]
    assert code("State=RUNNING") is None
