import sys; sys.stderr = open(snakemake.log[0], "w")  # noqa: E702

import logging

from sgnoise.data import download_manifest

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
params = snakemake.params
download_manifest(
    params.name,
    snakemake.output[0],
    mirror=getattr(params, "mirror", None) or None,
    retries=int(getattr(params, "retries", 3)),
    checksums=getattr(params, "checksums", None) or None,
)
