"""Datasets of wholes read from files: the layout, the encoding, the cache, every refusal by file, row and column."""
import json

import pytest
import torch
from torch_geometric.data import Batch

from compvae_geo.datasets import DataFileError, HouseholdParts, WholesDataset
from compvae_geo.datasets.export import export_problem

WHOLES = """whole_id,feeder,day,temperature,v0,v1,v2
a,f1,weekday,2.5,1.0,2.0,3.0
b,f1,sunday,,0.5,1.5,2.5
c,f2,weekday,10.0,4.0,0.0,1.0
"""
PARTS = """whole_id,category,annual_mwh
a,single,1.2
a,family,4.5
a,single,1.4
c,family,3.9
"""
SETTINGS = {"conditions": {"day": "categorical", "temperature": "numeric"}, "unit": "kW", "step_hours": 8,
            "group": "feeder"}


def write(folder, wholes=WHOLES, parts=PARTS, settings=SETTINGS):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wholes.csv").write_text(wholes)
    (folder / "parts.csv").write_text(parts)
    if settings is not None:
        (folder / "dataset.json").write_text(json.dumps(settings))
    return folder


def test_one_data_per_whole_with_ids_descriptors_values_and_conditions_encoded(tmp_path):
    dataset = WholesDataset(write(tmp_path / "d"))
    encoding = dataset.encoding
    assert len(dataset) == 3 and encoding.vocabulary == ["family", "single"] and dataset.obs_shape == (3,)
    assert (dataset.num_categories, dataset.part_attr_dim, dataset.whole_attr_dim) == (2, 1, 3)
    first, empty, last = dataset[0], dataset[1], dataset[2]
    assert first.part.tolist() == [1, 0, 1] and empty.part.numel() == 0 and last.part.tolist() == [0]
    descriptors = torch.tensor([1.2, 4.5, 1.4, 3.9])
    torch.testing.assert_close(first.part_attr[:, 0], (descriptors[:3] - descriptors.mean()) / descriptors.std(False))
    values = torch.tensor([[1.0, 2.0, 3.0], [0.5, 1.5, 2.5], [4.0, 0.0, 1.0]])
    scale = values.pow(2).mean().sqrt()
    torch.testing.assert_close(first.whole, values[:1] / scale)
    torch.testing.assert_close(encoding.decode_values(last.whole), values[2:])  # back in the file's units
    temperatures = torch.tensor([2.5, 10.0])  # the empty cell is not part of the statistics
    standardised = (2.5 - temperatures.mean()) / temperatures.std(False)
    torch.testing.assert_close(first.whole_attr, torch.tensor([[0.0, 1.0, float(standardised)]]))  # sunday, weekday
    assert torch.isnan(empty.whole_attr).all()  # an empty cell: the whole's conditions are unknown
    assert (encoding.unit, encoding.step_hours) == ("kW", 8.0)
    assert encoding.part_ids(["single", "family", 1]).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="unknown part category 'retired'"):
        encoding.part_ids(["retired"])
    with pytest.raises(ValueError, match="condition 'day' has no value 'saturday'"):
        encoding.encode_conditions({"day": ["saturday"], "temperature": [1.0]}, 1)


def test_a_batch_built_from_the_stored_tensors_is_pygs_batch_of_the_same_wholes(tmp_path):
    dataset = WholesDataset(export_problem(HouseholdParts(), 24, 4, 5, tmp_path / "h", seed=1))
    index = torch.tensor([5, 0, 17, 17])
    built, collated = dataset.batch(index), Batch.from_data_list([dataset[int(i)] for i in index])
    for key in ("part", "part_attr", "whole", "whole_attr", "batch", "ptr"):
        assert torch.equal(built[key], collated[key]), key


def test_the_export_command_writes_files_the_dataset_reads(tmp_path, capsys):
    from compvae_geo.cli import main

    assert main(["export", "--problem", "sites", "--wholes", "10", "--multisets", "2", "--max-parts", "3",
                 "--out", str(tmp_path / "s"), "--file-type", "parquet"]) == 0
    assert "wrote 10 wholes of 2 multisets" in capsys.readouterr().out
    dataset = WholesDataset(tmp_path / "s")
    assert len(dataset) == 10 and dataset.obs_shape == (3 * 32 * 32,) and dataset.part_attr_dim == 2


def test_new_days_of_the_same_multisets_read_through_the_first_encoding_fall_in_the_same_splits(tmp_path, capsys):
    from compvae_geo.cli import main
    from compvae_geo.datasets.dataset_source import split_dataset, split_keys

    first = WholesDataset(export_problem(HouseholdParts(), 60, 12, 5, tmp_path / "h", seed=1))
    assert main(["export", "--problem", "households", "--same-multisets-as", str(tmp_path / "h"),
                 "--out", str(tmp_path / "later"), "--seed", "2"]) == 0
    later = WholesDataset(tmp_path / "later", encoding=first.encoding)
    assert later.encoding == first.encoding and later.digest != first.digest
    assert sorted(split_keys(later, "multiset")) == sorted(split_keys(first, "multiset"))  # the same feeders...
    assert not torch.equal(later.batch(torch.arange(60)).whole, first.batch(torch.arange(60)).whole)  # ...other days
    for before, after in zip(split_dataset(first, 0.2, 0.2, "multiset", 0).values(),
                             split_dataset(later, 0.2, 0.2, "multiset", 0).values(), strict=True):
        assert torch.equal(before, after)  # exported in the same order: the same wholes in each split
    again = WholesDataset(tmp_path / "h", encoding=first.encoding)  # its own encoding: the same tensors
    assert torch.equal(again.batch(torch.arange(60)).part_attr, first.batch(torch.arange(60)).part_attr)
    capsys.readouterr()
    assert main(["export", "--problem", "households", "--out", str(tmp_path / "x")]) == 2
    assert "give --wholes" in capsys.readouterr().err


def test_files_of_another_layout_are_refused_by_a_given_encoding(tmp_path):
    encoding = WholesDataset(write(tmp_path / "d")).encoding
    with pytest.raises(DataFileError, match="part categories \\['retired'\\] the model's data never had"):
        WholesDataset(write(tmp_path / "r", parts=PARTS + "c,retired,2.0\n"), encoding=encoding)
    with pytest.raises(DataFileError, match="the value columns are"):
        WholesDataset(write(tmp_path / "v", wholes=WHOLES.replace(",v2", "").replace(",3.0\n", "\n")
                            .replace(",2.5\n", "\n").replace(",1.0\n", "\n")), encoding=encoding)
    with pytest.raises(DataFileError, match="condition 'day' has values \\['saturday'\\]"):
        WholesDataset(write(tmp_path / "s", wholes=WHOLES.replace("sunday", "saturday")), encoding=encoding)


def test_incomplete_wholes_are_refused_or_left_out_with_their_parts_and_counted(tmp_path):
    folder = write(tmp_path / "d", wholes=WHOLES.replace("1.0,2.0,3.0", "1.0,,3.0"))
    with pytest.raises(DataFileError, match="line 2, column 'v1': the value is missing"):
        WholesDataset(folder)
    dataset = WholesDataset(folder, drop_incomplete=True)
    assert len(dataset) == 2 and dataset.dropped == 1 and dataset.groups == ["f1", "f2"]
    assert dataset[0].part.numel() == 0 and dataset[1].part.tolist() == [0]  # whole a and its three parts are gone


def test_the_cache_is_used_until_the_files_change(tmp_path):
    folder = write(tmp_path / "d")
    first = WholesDataset(folder)
    assert len(list((folder / "processed").glob("wholes-*.pt"))) == 1
    (folder / "wholes.csv").write_text(WHOLES.replace("4.0,0.0,1.0", "5.0,0.0,1.0"))
    second = WholesDataset(folder)
    assert len(list((folder / "processed").glob("wholes-*.pt"))) == 2
    assert not torch.equal(first[2].whole * first.encoding.value_scale, second[2].whole * second.encoding.value_scale)


def test_parquet_files_and_a_pre_transform_give_the_same_wholes(tmp_path):
    export_problem(HouseholdParts(), 12, 3, 4, tmp_path / "csv", seed=2)
    export_problem(HouseholdParts(), 12, 3, 4, tmp_path / "parquet", seed=2, file_type="parquet")
    csv, parquet = WholesDataset(tmp_path / "csv"), WholesDataset(tmp_path / "parquet", pre_transform=lambda d: d)
    for b in range(12):
        for key in ("part", "part_attr", "whole", "whole_attr"):
            torch.testing.assert_close(csv[b][key], parquet[b][key])


REFUSALS = {
    "no wholes table": (dict(wholes=None), "no wholes.csv or wholes.parquet"),
    "a wholes table of another type": (dict(wholes="txt"), "wholes.txt is of an unknown type"),
    "no whole_id column": (dict(wholes=WHOLES.replace("whole_id,", "id,")), "wholes.csv: no 'whole_id' column"),
    "no category column": (dict(parts=PARTS.replace(",category,", ",kind,")), "parts.csv: no 'category' column"),
    "a duplicate whole_id": (dict(wholes=WHOLES.replace("c,f2", "a,f2")),
                             "wholes.csv, line 4, column 'whole_id': the whole_id 'a' appears twice"),
    "a part of no whole": (dict(parts=PARTS + "z,single,1.0\n"),
                           "parts.csv, line 6, column 'whole_id': no whole has the whole_id 'z'"),
    "a value that is not a number": (dict(wholes=WHOLES.replace("0.5,1.5", "0.5,high")),
                                     "wholes.csv, line 3, column 'v1': the value is not a finite number ('high')"),
    "a missing value": (dict(wholes=WHOLES.replace("4.0,0.0,1.0", "4.0,,1.0")),
                        "wholes.csv, line 4, column 'v1': the value is missing"),
    "a descriptor that is not a number": (dict(parts=PARTS.replace("4.5", "big")),
                                          "parts.csv, line 3, column 'annual_mwh': the descriptor is not a finite"),
    "an empty table": (dict(parts="whole_id,category\n"), "parts.csv: the table has no rows"),
    "a condition the table lacks": (dict(settings={"conditions": {"season": "categorical"}}),
                                    "dataset.json names the column(s) 'season'"),
    "a condition of an unknown kind": (dict(settings={"conditions": {"day": "ordinal"}}),
                                       "'conditions' maps each condition column to one of"),
    "an unknown settings key": (dict(settings={"units": "kW"}), "must be an object with some of the keys"),
    "a non-positive step": (dict(settings={"step_hours": 0}), "'step_hours' must be a positive number"),
}


@pytest.mark.parametrize(("change", "message"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_bad_files_are_refused_naming_the_file_row_and_column(change, message, tmp_path):
    folder = tmp_path / "d"
    write(folder, change.get("wholes") or WHOLES, change.get("parts", PARTS), change.get("settings", SETTINGS))
    if change.get("wholes") is None and "wholes" in change:
        (folder / "wholes.csv").unlink()
    elif change.get("wholes") == "txt":
        (folder / "wholes.csv").rename(folder / "wholes.txt")
    with pytest.raises(DataFileError, match=message.replace("(", "\\(").replace(")", "\\)")):
        WholesDataset(folder)
    assert not list(folder.glob("processed/wholes-*.pt"))  # nothing cached from a refused directory


def test_a_multiset_key_is_the_same_for_the_same_parts_in_any_order_and_differs_otherwise(tmp_path):
    from compvae_geo.datasets.dataset_source import split_keys

    parts = ("whole_id,category,annual_mwh\na,single,1.2\na,family,4.5\nb,family,4.5\nb,single,1.2\n"
             "c,family,4.5\nc,single,1.3\n")
    keys = split_keys(WholesDataset(write(tmp_path / "d", parts=parts)), "multiset")
    assert keys[0] == keys[1] and keys[2] != keys[0]  # a and b: one multiset listed in two orders; c: another one
