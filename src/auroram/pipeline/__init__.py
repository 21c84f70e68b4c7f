"""`auroram run` as a list of steps (auroram.pipeline.steps), one file each, walked by run_recipe; the
run directory's bookkeeping (rundir), what steps share (context) and virtual paths resolved once (resolve).
"""

from auroram.pipeline.rundir import RunError, run_lock
from auroram.pipeline.run import eval_model_dir, run_recipe

__all__ = ["RunError", "eval_model_dir", "run_lock", "run_recipe"]
