"""A model of a simulator's exported files, evaluated in the simulator's terms: the files' reading, inverted."""
import math

import pytest
import torch
from helpers import TINY_MODEL

from compvae_geo.datasets import HouseholdParts, SineParts, WholesDataset
from compvae_geo.datasets.export import export_problem
from compvae_geo.evaluation.problem_terms import InProblemTerms, in_terms_of
from compvae_geo.models import CompVAE
from compvae_geo.training import RunSpec, TrainConfig


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Households as files: 30 feeders of up to 6 households, 4 days each (every archetype among them)."""
    return export_problem(HouseholdParts(), 120, 30, 6, tmp_path_factory.mktemp("households"), seed=1)


@pytest.fixture(scope="module")
def file_model(files, tmp_path_factory):
    spec = RunSpec.build(TrainConfig(data=str(files), device="cpu"), tmp_path_factory.mktemp("run") / "c.pt",
                         TINY_MODEL)
    torch.manual_seed(0)
    model = CompVAE(spec.model)
    model.encoding = spec.encoding
    return model.eval()


def in_problem_terms(dataset: WholesDataset, problem: HouseholdParts, index: torch.Tensor):
    """The dataset's batch read back into the problem's ids, descriptors, conditions and units (by hand)."""
    encoding = dataset.encoding
    batch = dataset.batch(index)
    translated = batch.clone()
    translated.part = torch.tensor([problem.category_labels.index(encoding.vocabulary[i]) for i in batch.part])
    translated.part_attr = encoding.decode_descriptors(batch.part_attr)
    day, temperature = encoding.conditions
    translated.whole_attr = torch.stack([
        problem.conditions(day.categories[int(row[:day.width].argmax())],
                           float(row[day.width]) * temperature.std + temperature.mean) for row in batch.whole_attr])
    translated.whole = encoding.decode_values(batch.whole)
    return batch, translated


def test_the_loss_of_a_problem_batch_is_the_loss_of_the_same_wholes_read_from_the_files(files, file_model):
    dataset, problem = WholesDataset(files), HouseholdParts()
    batch, problem_batch = in_problem_terms(dataset, problem, torch.arange(0, 120, 7))
    assert not torch.equal(problem_batch.part, batch.part)  # the vocabulary is sorted, the problem's ids are not
    torch.manual_seed(3)
    inside = file_model.loss(batch)
    torch.manual_seed(3)
    outside = InProblemTerms(file_model, problem).loss(problem_batch)
    torch.testing.assert_close(outside.w, inside.w, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(outside.z, inside.z, rtol=1e-4, atol=1e-3)
    jacobian = 96 * math.log(dataset.encoding.value_scale)  # -log p(x) = -log p(x / s) + T log s
    torch.testing.assert_close(outside.x, inside.x + jacobian, rtol=1e-4, atol=1e-2)


def test_generate_takes_the_problems_ids_and_conditions_as_the_labels_and_columns_they_name(file_model):
    problem = HouseholdParts()
    parts = torch.tensor([0, 3, 3, 5])
    kwh = problem.sample_part_attr(parts, torch.Generator().manual_seed(0))
    labels = [problem.category_labels[i] for i in parts]
    torch.manual_seed(1)
    by_labels = file_model.generate(labels, 5, kwh, {"day_type": "saturday", "mean_temperature": -4.0}, True)
    torch.manual_seed(1)
    by_ids = InProblemTerms(file_model, problem).generate(parts, 5, kwh, problem.conditions("saturday", -4.0), True)
    torch.testing.assert_close(by_ids, by_labels)
    torch.manual_seed(1)
    per_row = InProblemTerms(file_model, problem).generate(
        parts, 5, kwh, problem.conditions("saturday", -4.0).expand(5, -1), True)
    torch.testing.assert_close(per_row, by_labels)  # one row per sample, all the same day: the same draws


def test_an_unknown_condition_row_stays_unknown_and_a_known_one_is_encoded(file_model):
    problem = HouseholdParts()
    known = problem.conditions("sunday", 12.0)
    rows = InProblemTerms(file_model, problem).conditions(torch.stack([known, torch.full_like(known, math.nan)]))
    expected = file_model.encoding.encode_conditions({"day_type": ["sunday"], "mean_temperature": [12.0]}, 1)[0]
    torch.testing.assert_close(rows[0], expected)
    assert rows[1].isnan().all()


def test_models_of_other_data_are_left_alone_or_refused(files, file_model):
    plain = CompVAE(file_model.config)
    assert in_terms_of(HouseholdParts(), plain) is plain
    assert isinstance(in_terms_of(HouseholdParts(), file_model), InProblemTerms)
    with pytest.raises(ValueError, match="not trained on files"):
        InProblemTerms(plain, HouseholdParts())
    with pytest.raises(ValueError, match="held no part of the SineParts categories"):
        InProblemTerms(file_model, SineParts())
