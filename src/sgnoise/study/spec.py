"""One run's specification: every config value that changes its result (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field

# K1 block lengths measured in every noise pass besides the reference one: a 1-2-5 grid (alpha_vs_k1)
# that contains the follow-up work's median set {2, 5, 10, 20, 50, 100, 500, 1000}
DEFAULT_K1_GRID = (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


@dataclass
class RunSpec:
    """One run: the config values that change its result (its id: sgnoise.study.grid.run_id)."""

    run_id: str
    dataset: str
    model: dict
    loss: str
    batch_size: int
    lr: float
    iterations: int
    seed: int
    lr_milestones: list = field(default_factory=list)
    lr_factor: float = 0.5
    checkpoints: list = field(default_factory=list)
    max_coords: int | None = None
    noise_seed: int = 0
    random_minibatches: int = 0
    on_divergence: str = "record"
    checksum: bool = False
    pooled_k1_grid: list = field(default_factory=lambda: list(DEFAULT_K1_GRID))  # K1s of the streamed pooled estimate
    pooled_zeros: str = "exclude"  # exact zeros in the pooled estimate: exclude, or eps (the reference code)
    noise_test_set: bool = False  # also stream the pooled statistics of the test set's partition
    dataset_path: str | None = None  # a user's prepared .npz (config dataset: {kind: npz}); None: a built-in dataset
    optimizer: dict | None = None  # None: plain SGD; {"name": "adam", "betas": [β1, β2]}: Adam at step size lr

    @classmethod
    def from_dict(cls, values: dict) -> "RunSpec":
        return cls(**values)

    def to_dict(self) -> dict:
        return dict(self.__dict__)
