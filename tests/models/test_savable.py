"""What a saved model carries and how a load that cannot be right says so, naming the file."""
import pytest
import torch

from compvae_geo import CompVAE
from compvae_geo.checkpoint import CheckpointError
from compvae_geo.datasets import HouseholdParts
from compvae_geo.models import CountCVAE
from compvae_geo.problems import model_config_for

CONFIG = model_config_for(HouseholdParts(), w_dim=3, z_dim=2, hidden_dim=8, x_feature_dim=4, part_embed_dim=4)


def test_a_model_of_recorded_data_keeps_its_encoding_through_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = CompVAE(CONFIG).eval()
    model.encoding = HouseholdParts().encoding
    model.save(tmp_path / "model.pt")
    loaded = CompVAE.load(tmp_path / "model.pt")
    assert loaded.encoding.to_dict() == model.encoding.to_dict()
    labels = ["single", "family"]  # labels read through the encoding: the same wholes in the same units
    attr = torch.tensor([[1.5, 0.0], [4.0, 3.0]])
    torch.manual_seed(1)
    expected = model.generate(labels, 2, attr)
    torch.manual_seed(1)
    torch.testing.assert_close(loaded.generate(labels, 2, attr), expected)


def test_a_payload_without_a_model_name_is_a_compvae_and_a_wrong_kind_names_the_file(tmp_path):
    torch.manual_seed(0)
    payload = CompVAE(CONFIG).checkpoint_payload()
    del payload["model"]  # the first checkpoints had no name: they were CompVAEs
    path = tmp_path / "old.pt"
    torch.save(payload, path)
    assert isinstance(CompVAE.load(path), CompVAE)
    with pytest.raises(ValueError, match=f"{path} holds a 'compvae' model, not a 'count_cvae' one"):
        CountCVAE.load(path)


def test_non_finite_weights_are_refused_naming_the_file(tmp_path):
    torch.manual_seed(0)
    payload = CompVAE(CONFIG).checkpoint_payload()
    next(iter(payload["state_dict"].values())).fill_(float("nan"))
    path = tmp_path / "diverged.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"{path} holds non-finite weights"):
        CompVAE.load(path)
    with pytest.raises(CheckpointError, match="^the checkpoint holds non-finite weights"):
        CompVAE.from_payload(payload)


def test_load_model_reads_the_kind_from_the_file_and_names_the_file_when_it_cannot(tmp_path):
    from compvae_geo.models import load_model

    torch.manual_seed(0)
    payload = CountCVAE(CONFIG).checkpoint_payload()
    torch.save(payload, tmp_path / "cvae.pt")
    assert isinstance(load_model(tmp_path / "cvae.pt"), CountCVAE)
    del payload["model"]  # the first checkpoints had no name: they were CompVAEs
    payload["state_dict"] = CompVAE(CONFIG).state_dict()
    torch.save(payload, tmp_path / "old.pt")
    assert isinstance(load_model(tmp_path / "old.pt"), CompVAE)
    payload["model"] = "transformer"
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'other.pt'} holds an unknown model 'transformer'; known: "
                                         r"\['compvae', 'count_cvae'\]"):
        load_model(tmp_path / "other.pt")


def test_a_double_precision_count_cvae_converts_its_float_batches():
    torch.manual_seed(0)
    model = CountCVAE(CONFIG).double()
    batch = HouseholdParts().sample_batch(3, 4, generator=torch.Generator().manual_seed(0))
    assert batch.whole.dtype == torch.float32 and model.loss(batch).elbo.dtype == torch.float64


def test_a_model_of_recorded_data_reads_labels_descriptors_and_conditions_in_the_files_terms():
    from compvae_geo.datasets import DataEncoding

    terms = HouseholdParts().encoding.to_dict()
    encoding = DataEncoding.from_dict({**terms, "value_scale": 2.5, "descriptor_mean": [3.0, 1.0],
                                       "descriptor_std": [1.5, 2.0]})  # files in other units than the model's
    torch.manual_seed(0)
    model = CompVAE(CONFIG).eval()
    model.encoding = encoding
    labels, kwh = ["single", "family", "family"], torch.tensor([[1.3, 0.0], [4.2, 0.0], [4.0, 2.0]])
    torch.manual_seed(1)
    in_file_units = model.generate(labels, 3, kwh, whole_attr={"day_type": "sunday", "mean_temperature": 15.0})
    model.encoding = None  # the same model, fed what it reads inside
    torch.manual_seed(1)
    inside = model.generate(encoding.part_ids(labels), 3, encoding.encode_descriptors(kwh),
                            whole_attr=encoding.encode_conditions({"day_type": ["sunday"],
                                                                   "mean_temperature": [15.0]}, 1)[0])
    torch.testing.assert_close(in_file_units, 2.5 * inside)
    assert not torch.allclose(encoding.encode_descriptors(kwh), kwh)  # the descriptors were translated
    with pytest.raises(ValueError, match=r"^conditions by name need a model trained on files \(with their encoding\)"):
        model.generate([0, 3], 2, kwh[:2], whole_attr={"day_type": "sunday", "mean_temperature": 15.0})
    model.encoding = encoding
    torch.manual_seed(1)
    by_ids = model.generate(encoding.part_ids(labels), 3, kwh, whole_attr={"day_type": "sunday",
                                                                            "mean_temperature": 15.0})
    torch.testing.assert_close(by_ids, in_file_units)  # ids need no reading; the descriptors still do


def test_load_model_names_the_file_when_its_kind_refuses_it(tmp_path):
    from compvae_geo.models import load_model, model_from_payload

    torch.manual_seed(0)
    payload = CountCVAE(CONFIG).checkpoint_payload()
    next(iter(payload["state_dict"].values())).fill_(float("inf"))
    torch.save(payload, tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError, match=f"^{tmp_path / 'diverged.pt'} holds non-finite weights"):
        load_model(tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError, match="^the checkpoint holds non-finite weights"):
        model_from_payload(payload)


def test_labels_need_a_model_of_recorded_data():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"^parts must be a LongTensor \[K\] or a list of ints"):
        CompVAE(CONFIG).generate(["single", "family"], 2, torch.ones(2, 2))
