"""The baseline's seed replicas: same data, other training seeds (issue 12)."""

from __future__ import annotations

import pytest

import pipeline.data as data_stage
from pipeline.config import load_matrix


@pytest.mark.parametrize("profile", ["cpu", "gpu", "micro"])
def test_the_matrix_has_three_baseline_seeds_that_change_only_the_seed(profile):
    experiments = {e.name: e for e in load_matrix(profile, check_training_args=False)}
    base = experiments["baseline"]
    seeds = [base.config["seed"]]
    for name in ("baseline-seed1", "baseline-seed2"):
        replica = experiments[name]
        assert list(replica.overrides) == ["seed"]
        assert {**replica.config, "seed": base.config["seed"]} == base.config
        seeds.append(replica.config["seed"])
    assert len(set(seeds)) == 3


def test_the_training_seed_does_not_change_the_data(monkeypatch, tmp_path):
    """The filters' random drops (and so split, tokenizer and eval set) follow the data's own
    seed, data.subset_seed, not the training seed."""
    seen = []

    class Stop(Exception):
        pass

    def fake_build_corpus(data_cfg, cache_dir, seed, exclude=()):
        seen.append(seed)
        raise Stop

    monkeypatch.setattr(data_stage, "build_corpus", fake_build_corpus)
    experiments = {e.name: e for e in load_matrix("micro", check_training_args=False)}
    for name in ("baseline", "baseline-seed1"):
        with pytest.raises(Stop):
            data_stage.prepare_data(experiments[name].config, tmp_path)
    assert seen == [experiments["baseline"].config["data"]["subset_seed"]] * 2
