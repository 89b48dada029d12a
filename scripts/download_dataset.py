import sys; sys.stderr = open(snakemake.log[0], "w")  # noqa: E702

import logging
import shutil
from pathlib import Path

from sgnoise.atomic import atomic_path
from sgnoise.data.download import MANIFEST_NAME, download_dataset, read_checksums

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

name = snakemake.params.name
root = Path(snakemake.output[0]).parent.parent  # output is <root>/<name>/MANIFEST.json
checksums = read_checksums(name, getattr(snakemake.params, "checksums", None) or None)

download_dataset(
    name,
    root,
    mirror=getattr(snakemake.params, "mirror", None) or None,
    retries=int(getattr(snakemake.params, "retries", 3)),
    checksums=checksums,
)

# The library writes <root>/<name>/MANIFEST.json inside the directory it renames into place;
# copy it (atomically) only if the rule declared a different output path.
manifest, output = root / name / MANIFEST_NAME, Path(snakemake.output[0])
if output.resolve() != manifest.resolve():
    with atomic_path(output) as tmp:
        shutil.copyfile(manifest, tmp)
