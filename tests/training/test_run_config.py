"""A run's configuration on the command line: --print-config, --config run.json, boolean flags and what --help shows."""
import json

import pytest

from compvae_geo.cli import build_parser, main
from compvae_geo.models import MODELS
from compvae_geo.training.config import MODEL_NAMES
from compvae_geo.training.presets import preset


def printed(argv, capsys):
    assert main(["train", *argv, "--print-config"]) == 0
    return json.loads(capsys.readouterr().out)


def test_print_config_shows_the_preset_and_the_flags_and_makes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shown = printed(["--problem", "households", "--preset", "cpu", "--per-part-decoder", "--iterations", "7"], capsys)
    train, model_overrides = preset("cpu", "households")
    assert shown["preset"] == "cpu" and shown["train"]["iterations"] == 7
    assert shown["train"]["k_max"] == train.k_max == 32 and shown["model"]["z_dim"] == model_overrides["z_dim"]
    assert shown["model"]["per_part_decoder"] is True and shown["model"]["obs_shape"] == [96]
    assert list(tmp_path.iterdir()) == []  # no run directory, no MLflow store


def test_config_reads_a_printed_config_back_and_flags_override_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first = printed(["--problem", "sites", "--z-dim", "5", "--no-prior-group-factor"], capsys)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(first))
    again = printed(["--config", str(path)], capsys)
    assert again["train"] == first["train"] and again["model"] == first["model"] and again["preset"] is None
    changed = printed(["--config", str(path), "--w-dim", "3", "--seed", "9"], capsys)
    assert changed["model"] == {**first["model"], "w_dim": 3} and changed["train"] == {**first["train"], "seed": 9}


@pytest.mark.parametrize(("flags", "value"), [([], None), (["--z-first"], True), (["--z-first", "false"], False),
                                              (["--no-z-first"], False), (["--z-first", "yes"], True)])
def test_a_boolean_field_is_a_flag_with_a_negation(flags, value):
    assert build_parser().parse_args(["train", *flags]).z_first is value


def test_a_negated_flag_takes_no_value_and_a_bad_value_is_refused(capsys):
    for argv in (["train", "--no-z-first", "true"], ["train", "--z-first", "maybe"]):
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args(argv)
        assert done.value.code == 2
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_help_lists_the_choices_and_the_values_of_the_presets(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--problem {households,sine,sites}" in text and "--model {compvae,count_cvae}" in text
    assert "--z-first [BOOL], --no-z-first" in text
    assert "--z-dim INT (default 16; preset cpu: 0 (households 48); paper: 32)" in text
    assert "--iterations INT (default 30000; preset cpu: 24000 (sites 15000, households 18000); paper: 500000)" in text


def test_the_model_choices_are_the_registered_models():
    assert sorted(MODEL_NAMES) == sorted(MODELS)


REFUSED = {
    "--config with --preset": (["--preset", "cpu"], '{"train": {}, "model": {}}',
                               "--config gives the whole configuration: --preset cannot be used with it"),
    "not JSON": ([], "{", "is not JSON"),
    "not a run's config": ([], '{"train": {}}', "is not a run's config.json: it needs a 'train' and a 'model'"),
    "an unknown training field": ([], '{"train": {"bogus": 1}, "model": {}}', "unknown TrainConfig fields: ['bogus']"),
    "an unknown model field": ([], '{"train": {}, "model": {"bogus": 1}}', "unknown model fields ['bogus']"),
}


@pytest.mark.parametrize(("flags", "text", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_bad_config_is_refused_in_one_line(flags, text, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.json").write_text(text)
    assert main(["train", "--config", "run.json", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compvae-geo: error: ") and err.count("\n") == 1 and message in err, err
    assert [path.name for path in tmp_path.iterdir()] == ["run.json"]


def test_print_config_is_for_a_new_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "checkpoint.pt"), "--print-config"]) == 2
    assert "--print-config shows a new run's configuration" in capsys.readouterr().err
