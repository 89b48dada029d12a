# sgnoise: tail-index analysis of stochastic gradient noise (Şimşekli, Sagun & Gürbüzbalaban,
# ICML 2019) and Lévy-SDE first-exit simulations. The default study runs with
#   snakemake --cores 8
# See README.md for the figures, the config keys and the SLURM profile.

import sys
from pathlib import Path

from snakemake.utils import min_version

# The library is used from this workflow's own source tree, installed or not: for the workflow
# (sys.path) and for every job's script, conda envs included (sgnoise.use_source_tree: PYTHONPATH).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from sgnoise import use_source_tree

use_source_tree()

min_version("9.20")


configfile: "config.yaml"


report: "report/workflow.rst"


# common.smk validates the config against schemas/*.schema.yaml (with defaults) before anything else
include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/noise.smk"
include: "rules/alpha.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/estimators.smk"
include: "rules/sde.smk"
include: "rules/iterates.smk"


rule all:
    input:
        all_targets(),
    default_target: True
