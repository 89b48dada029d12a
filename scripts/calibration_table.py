import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.tail import validation  # noqa: E402
from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.tail.views import method_options_from_config  # noqa: E402

settings = snakemake.params.validation
calibration = settings["calibration"]
table = validation.calibration_study(
    alphas=calibration["alphas"], methods=calibration["methods"] or settings["methods"], replicates=calibration["replicates"],
    n_rows=calibration["n_rows"], n_columns=calibration["n_columns"], controls=calibration["controls"],
    test_columns=calibration["test_columns"], seed=calibration["seed"], pooled_columns=calibration["pooled_columns"],
    pooled_replicates=calibration["pooled_replicates"],
    method_options=method_options_from_config(snakemake.params.method_options))
write_csv_atomic(table, snakemake.output.table, float_format="%.6g")
