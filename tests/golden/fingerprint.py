"""What a run computed, without when or how fast: each stage's exported weights (sha256 of every tensor)
and every number the report holds that training and evaluation produce. Used to pin refactors: the
same recipe on the same corpus must give the same fingerprint, bit for bit on the machine it was
recorded on.

    python tests/golden/fingerprint.py RUN_DIR [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

# timings, dates and machine facts change from run to run; everything else must not
VOLATILE = {"seconds", "train_seconds", "tokens_per_s", "bytes_per_s", "eval_seconds", "created", "provenance", "finished_at",
            "resumed_from", "processes", "wall_seconds", "elapsed_seconds", "sections", "imported",
            "protections",  # the sandbox's machine facts (interpreter path, uids, mounts), not results
            "eval_on"}  # where the stage-end evaluation ran (names the process count, like "processes")


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE and not k.endswith("_seconds")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def weight_hashes(hf_dir: Path) -> dict[str, str]:
    from safetensors import safe_open

    out = {}
    for f in sorted(hf_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as fh:
            for name in sorted(fh.keys()):
                t = fh.get_tensor(name).contiguous()
                out[name] = hashlib.sha256(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes()
                                           ).hexdigest()[:16] + f":{str(t.dtype)}:{list(t.shape)}"
    return out


def fingerprint(run_dir: Path) -> dict[str, Any]:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    stages = {}
    for s in report["stages"]:
        hf = run_dir / "stages" / s["name"] / "hf"
        stages[s["name"]] = {"weights": weight_hashes(hf) if hf.is_dir() else None, "result": _strip(s)}
    keep = ("domains", "forgetting", "continual", "tokenizer", "data", "use_replay", "curation")
    return {"stages": stages, "report": {k: _strip(report.get(k)) for k in keep}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--out")
    a = ap.parse_args()
    text = json.dumps(fingerprint(Path(a.run_dir)), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if a.out:
        Path(a.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
