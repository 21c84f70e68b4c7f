"""The steps of `auroram run`, one per file, in the order they run:

    data -> curate -> safety -> tokenizer -> shards (one per source) -> eval-base (an imported base)
         -> one step per training stage -> report
"""

from __future__ import annotations

from auroram.config import Recipe
from auroram.pipeline.context import Step
from auroram.pipeline.steps.base_eval import BaseEvalStep
from auroram.pipeline.steps.curate import CurateStep
from auroram.pipeline.steps.data import DataStep
from auroram.pipeline.steps.report import ReportStep
from auroram.pipeline.steps.safety import SafetyStep
from auroram.pipeline.steps.shards import ShardStep, stage_sources
from auroram.pipeline.steps.stage import StageStep
from auroram.pipeline.steps.tokenizer import TokenizerStep


def recipe_steps(recipe: Recipe) -> list[Step]:
    """Every step of the recipe, in order."""
    # an imported base is measured as it is instead of trained: its 'base' stage is left out
    stages = [(i, s) for i, s in enumerate(recipe.stages) if not (recipe.model.base and s.name == "base")]
    steps: list[Step] = [DataStep(), CurateStep(), SafetyStep(), TokenizerStep()]
    steps += [ShardStep(name) for name in stage_sources(recipe, [s for _, s in stages])]
    if recipe.model.base:
        steps.append(BaseEvalStep())
    steps += [StageStep(stage, index) for index, stage in stages]
    steps.append(ReportStep())
    return steps
