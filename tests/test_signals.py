"""flows.run.signals: SIGTERM (what a scheduler or container sends) and SIGINT stop an export cleanly: staging and lock
removed, `latest` untouched, exit code 143 or 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from flows.kernel.errors import Interrupted
from flows.run.signals import handled, shielded
from tests.conftest import RAW, ROOT, STUDYID

KILL_WHILE_WRITING = textwrap.dedent(
    """
    import os, signal, sys
    from flows import cli
    from flows.run import pipeline

    out, signum = sys.argv[1], int(sys.argv[2])
    write = pipeline.write_outputs

    def write_then_signal(*args):
        written = write(*args)
        os.kill(os.getpid(), signum)  # as a scheduler would, with the staging folder half full
        return written

    pipeline.write_outputs = write_then_signal
    raise SystemExit(cli.main(["export", "--raw", sys.argv[3], "--out", out, "--force"]))
    """
)


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_signal_during_export_cleans_up(sample_export, tmp_path, signum, code, name):
    import shutil

    _, transfer = sample_export
    out = tmp_path / "out"
    (out / STUDYID).mkdir(parents=True)
    shutil.copytree(transfer, out / STUDYID / transfer.name)
    (out / STUDYID / "latest").symlink_to(transfer.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_WHILE_WRITING, str(out), str(int(signum)), str(RAW)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.splitlines()[-1] == f"interrupted ({name}): nothing published; cleaned up"
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (out / STUDYID).iterdir()) == sorted([transfer.name, "latest"])  # no staging, lock
    assert os.readlink(out / STUDYID / "latest") == transfer.name


def test_second_signal_does_not_cut_the_cleanup_short():
    cleaned = []
    with pytest.raises(Interrupted) as caught, handled():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: the cleanup below still runs
            cleaned.append(True)
    assert caught.value.exit_code == 143 and cleaned == [True]


def test_shielded_holds_a_signal_until_the_block_is_done():
    steps = []
    with pytest.raises(Interrupted), handled():
        with shielded():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("rename")
            steps.append("switch latest")
        for _ in range(1000):  # delivered right after the block
            steps.append("after")
    assert steps[:2] == ["rename", "switch latest"] and len(steps) < 1002


SIGNAL_ON_IMPORT = textwrap.dedent(
    """
    import os, signal, sys

    signum = int(sys.argv[1])

    class SignalOnImport:  # the signal lands while the command line's modules are imported
        def find_spec(self, name, path=None, target=None):
            if name == "flows.cli":
                os.kill(os.getpid(), signum)
            return None

    sys.meta_path.insert(0, SignalOnImport())
    sys.argv = ["s103-sdtm", "export", "--raw", sys.argv[2], "--out", sys.argv[3]]
    from flows.__main__ import main
    raise SystemExit(main())
    """
)


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_signal_while_starting_is_one_line(tmp_path, signum, code, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_ON_IMPORT, str(int(signum)), str(RAW), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (code, f"interrupted ({name}): nothing published; cleaned up\n")
    assert not (tmp_path / "out").exists()


SIGNAL_AFTER_PUBLISHING = textwrap.dedent(
    """
    import os, signal, sys
    from flows import cli
    from flows.run import pipeline

    where = sys.argv[1]
    original = {"publish": pipeline.publish, "report": cli.print_rejects}

    def then_signal(name):
        def call(*args, **kwargs):
            done = original[name](*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler would, a moment too late
            return done
        return call

    if where == "publish":
        pipeline.publish = then_signal("publish")
    else:
        cli.print_rejects = then_signal("report")
    sys.argv = ["s103-sdtm", "export", "--raw", sys.argv[2], "--out", sys.argv[3], "--force"]
    from flows.__main__ import main
    raise SystemExit(main())
    """
)


@pytest.mark.parametrize("where", ["publish", "report"])
def test_sigterm_after_publishing_reports_the_publication(tmp_path, where):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_AFTER_PUBLISHING, where, str(RAW), str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    latest = out / STUDYID / "latest"
    assert proc.stdout.startswith(f"published {out / STUDYID / os.readlink(latest)}: ")
    assert "interrupted" not in proc.stderr and "Traceback" not in proc.stderr
