"""The embedded mini-FBM benchmark behind tools/analysis/run_benchmark.py: the runs (`runner`, `jobs`), the provenance
archive (`archive`), the claim checks on the claims data file (`claims`) and the results page (`page`)."""
from .claims import CLAIMS_FILE, chance_levels, claim_lines, load_claims
from .jobs import evaluator_checkpoint, plan_tasks, run_tasks, run_variant
from .page import write_page
from .runner import CHECK_VARIANTS, FACTORS, REPO, VARIANTS, Runner, config_file

__all__ = ['CLAIMS_FILE', 'chance_levels', 'claim_lines', 'load_claims', 'evaluator_checkpoint', 'plan_tasks',
           'run_tasks', 'run_variant', 'write_page', 'CHECK_VARIANTS', 'FACTORS', 'REPO', 'VARIANTS', 'Runner',
           'config_file']
