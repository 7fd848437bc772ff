import pytest
import torch

from compvae_geo.datasets import HouseholdParts, SineParts, SiteParts

PROBLEMS = {"sine": SineParts(length=30), "sites": SiteParts(size=8), "households": HouseholdParts()}


@pytest.fixture(params=list(PROBLEMS.values()), ids=list(PROBLEMS))
def problem(request):
    return request.param


def observe(problem, parts=(0, 2, 2, 4), seed=0):
    return problem.observe(torch.tensor(parts), generator=torch.Generator().manual_seed(seed))


def added_attr(problem, part):
    return problem.sample_part_attr(torch.tensor(part), torch.Generator().manual_seed(9))


def test_an_observation_is_the_render_of_its_hidden_draws(problem):
    o = observe(problem)
    assert o.whole.shape == (1, *problem.obs_shape)
    assert o.data().whole.shape == (1, *problem.obs_shape) and (o.data().part == o.part).all()
    again = problem.render(o.part, o.part_attr, o.intrinsics, torch.zeros(4, dtype=torch.long), 1, o.shared)
    torch.testing.assert_close(again, o.whole)


def test_no_edit_gives_back_the_observation(problem):
    o = observe(problem)
    unchanged = problem.sample_counterfactual(o, problem.check_edit(o), num_samples=3)
    torch.testing.assert_close(unchanged, o.whole.expand(3, *o.whole.shape[1:]))


def test_removing_parts_renders_the_kept_parts_on_the_same_shared_factors(problem):
    o = observe(problem)
    keep = torch.tensor([True, False, True, False])
    expected = problem.render(o.part[keep], None if o.part_attr is None else o.part_attr[keep], o.intrinsics[keep],
                              torch.zeros(2, dtype=torch.long), 1, o.shared)
    removed = problem.sample_counterfactual(o, problem.check_edit(o, [1, 3], None), num_samples=2)
    torch.testing.assert_close(removed, expected.expand(2, *expected.shape[1:]))


def test_added_parts_vary_from_sample_to_sample_and_the_kept_ones_do_not(problem):
    o = observe(problem, parts=(1, 3))
    generator = torch.Generator().manual_seed(1)
    attr = None if o.part_attr is None else added_attr(problem, [2])
    samples = problem.sample_counterfactual(o, problem.check_edit(o, None, [2], attr), 64, generator)
    assert samples.shape == (64, *problem.obs_shape)
    assert samples.std(0).max() > 0
    # the truth with fresh draws of the added part alone: adding to an empty observation gives the problem's wholes
    empty = problem.sample_counterfactual(o, problem.check_edit(o, [0, 1], [2], attr), 2, generator)
    assert not torch.allclose(empty[0], empty[1]) or problem is PROBLEMS["sites"]  # a lone site fills the image


def test_households_keep_the_observed_day():
    problem = PROBLEMS["households"]
    cold = problem.observe(torch.tensor([4]), whole_attr=problem.conditions("weekday", -10.0),
                           generator=torch.Generator().manual_seed(0))
    mild = problem.observe(torch.tensor([4]), whole_attr=problem.conditions("weekday", 20.0),
                           generator=torch.Generator().manual_seed(0))
    heat_pumps = [4] * 8  # heat pumps draw far more on the cold day
    attr = added_attr(problem, heat_pumps)
    on_cold = problem.sample_counterfactual(cold, problem.check_edit(cold, None, heat_pumps, attr), 32)
    on_mild = problem.sample_counterfactual(mild, problem.check_edit(mild, None, heat_pumps, attr), 32)
    assert on_cold.sum(-1).mean() > 2 * on_mild.sum(-1).mean()


def test_households_edit_directly_scales_by_the_kept_energy_and_adds_naive_households():
    problem = PROBLEMS["households"]
    o = observe(problem)
    data = o.data()
    edit = problem.check_edit(o, remove=[0, 1], add_part=None)
    share = o.part_attr[2:, 0].sum() / o.part_attr[:, 0].sum()
    torch.testing.assert_close(problem.edit_directly(data, edit, 3), (share * o.whole).expand(3, -1))
    attr = added_attr(problem, [6])
    edit = problem.check_edit(o, remove=None, add_part=[6], add_part_attr=attr)
    edited = problem.edit_directly(data, edit, 3, torch.Generator().manual_seed(2))
    naive = problem.naive_wholes(torch.tensor([6]), 3, attr, o.whole_attr, torch.Generator().manual_seed(2))
    torch.testing.assert_close(edited, o.whole + naive)
    assert SineParts().edit_directly(data, edit, 3) is None


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(remove=[4]), "no part 4 to remove"), (dict(remove=[0, 0]), "twice"),
    (dict(add_part=[99]), "added parts: part category out of range"),
])
def test_bad_edits_are_clear_errors(problem, kwargs, message):
    with pytest.raises(ValueError, match=message):
        problem.check_edit(observe(problem), **kwargs)


def test_an_edit_of_another_whole_is_refused(problem):
    o = observe(problem)
    edit = problem.check_edit(problem.observe(o.part[:1]), remove=[0], add_part=None)
    with pytest.raises(ValueError, match=f"the edit is of a whole of 1 parts, the observation has {o.part.numel()}"):
        problem.sample_counterfactual(o, edit)
