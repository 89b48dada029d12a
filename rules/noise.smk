# Summaries of the noise itself for the example runs' figures: norms, coordinates, SαS fits (sgnoise.noise)
rule noise_summary:
    input:
        noise="results/runs/{run}/noise.h5",
    output:
        norms="results/runs/{run}/noise_norms.csv",
        coordinates="results/runs/{run}/coordinates.csv",
        fits="results/runs/{run}/coordinate_fits.csv",
    params:
        seed=config["noise"]["seed"],
        n_coordinates=config["figures"]["n_coordinates"],
        method=config["figures"]["method"],
    log:
        "logs/noise_summary/{run}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/noise_summary.py"
