"""`auroram verify RUN`: a finished run checks out; missing, changed and truncated files and a corrupt shard
are each named, with a summary line and exit 1."""

from __future__ import annotations

from auroram import cli

from .conftest import copy_run


def test_verify_passes_a_finished_run_and_names_every_problem(clean_run, tmp_path, capsys):
    assert cli.main(["verify", str(clean_run)]) == 0
    assert capsys.readouterr().out.startswith(f"{clean_run}: ok (")
    run = copy_run(clean_run, tmp_path / "run")
    (run / "stages" / "cap" / "hf" / "config.json").unlink()
    tokens = run / "shards" / "en" / "parts" / "part-00000.bin"
    tokens.write_bytes(tokens.read_bytes()[:100])
    fi = run / "shards" / "fi" / "parts" / "part-00000.bin"
    blob = bytearray(fi.read_bytes())
    blob[-1] ^= 0xFF  # same size, one bit pattern changed
    fi.write_bytes(bytes(blob))
    assert cli.main(["verify", str(run)]) == 1
    cap = capsys.readouterr()
    assert "stages/cap/hf/config.json: missing" in cap.out
    assert "shards/en/parts/part-00000.bin: truncated (100 bytes" in cap.out
    assert "shards/fi/parts/part-00000.bin: changed (sha256 differs from the manifest)" in cap.out
    assert "shards/fi/parts/part-00000.bin: corrupt: " in cap.out  # the shard set's own check agrees
    assert cap.err.strip().startswith(f"{run}: 5 problem(s) in ") and cap.err.strip().endswith(" files of the manifest")
