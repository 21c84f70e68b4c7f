"""Named fault points for crash tests: `AURORAM_FAULT=NAME` kills the process with SIGKILL at NAME.

Test-only: with the variable unset this is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    want = os.environ.get("AURORAM_FAULT")
    if want and want == name:
        os.kill(os.getpid(), signal.SIGKILL)
