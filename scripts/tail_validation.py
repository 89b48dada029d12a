import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.tail import validation  # noqa: E402
from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.tail.views import method_options_from_config  # noqa: E402

settings = snakemake.params.validation
mixture = settings["scale_mixture"]
method_options = method_options_from_config(snakemake.params.method_options)

samples = validation.estimator_validation(alphas=settings["alphas"], sizes=settings["sizes"], methods=settings["methods"],
                                          repeats=settings["repeats"], seed=settings["seed"], method_options=method_options)
scale_mixture = validation.scale_mixture(log_scale_sds=mixture["log_scale_sds"], n_minibatches=mixture["n_minibatches"],
                                         n_coordinates=mixture["n_coordinates"], methods=mixture["methods"],
                                         seed=mixture["seed"], method_options=method_options)
write_csv_atomic(samples, snakemake.output.samples)
write_csv_atomic(validation.validation_summary(samples), snakemake.output.summary)
write_csv_atomic(scale_mixture, snakemake.output.scale_mixture)
