"""What the command line refuses: exit code 2, one line naming the problem, before any work or MLflow run."""
import pytest
import torch
from helpers import TINY_MODEL

from compvae_geo import CompVAE
from compvae_geo.cli import main
from compvae_geo.models import CountCVAE
from compvae_geo.problems import make_problem, model_config_for


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Untrained tiny models of the sine problem (a CompVAE and a count CVAE) and a .pt file that holds no whole."""
    folder = tmp_path_factory.mktemp("models")
    config = model_config_for(make_problem("sine"), **TINY_MODEL)
    torch.manual_seed(0)
    CompVAE(config).save(folder / "compvae.pt")
    CountCVAE(config).save(folder / "cvae.pt")
    torch.save({"part": torch.tensor([0, 1])}, folder / "no_whole.pt")
    return folder


REFUSALS = {
    "an --out of another kind": (["generate", "--checkpoint", "{compvae}", "--parts", "0,1", "--out", "w.txt"],
                                 "--out must end in .csv, .parquet, .pt, .npy, got w.txt"),
    "a what-if --out of another kind": (["whatif", "--checkpoint", "{compvae}", "--problem", "sine", "--parts", "0",
                                         "--out", "w.json"], "--out must end in .csv, .parquet, .pt, .npy"),
    "an --observed file without a whole": (["whatif", "--checkpoint", "{compvae}", "--observed", "{no_whole}"],
                                           "must hold a dict with 'part' and 'whole' tensors"),
    "what-if on a count CVAE": (["whatif", "--checkpoint", "{cvae}", "--problem", "sine", "--parts", "0,1"],
                                "holds a count_cvae, which cannot recompose"),
    "peak days of a count CVAE": (["generate", "--checkpoint", "{cvae}", "--parts", "0", "--tail-quantile", "0.9"],
                                  "peak days (tail_quantile) need a CompVAE, not a count_cvae"),
    "evaluate --whatif of a count CVAE": (["evaluate", "--checkpoint", "{cvae}", "--whatif", "--tail"],
                                          "the what-if and tail evaluations need a CompVAE"),
    "nothing to evaluate": (["evaluate", "--checkpoint", "{compvae}", "--no-per-k"], "nothing to evaluate"),
    "two baselines of one name": (["evaluate", "--checkpoint", "{compvae}", "--baseline", "b={cvae}",
                                   "--baseline", "b={compvae}"], "--baseline names 'b' twice"),
    "a baseline named like a reference": (["evaluate", "--checkpoint", "{compvae}", "--baseline", "naive={cvae}"],
                                          "two sources are called 'naive'"),
    "evaluate --data of a model not trained on files": (["evaluate", "--checkpoint", "{compvae}", "--data", "."],
                                                        "was not trained on files"),
    "a missing checkpoint to evaluate": (["evaluate", "--checkpoint", "missing.pt"], "no such checkpoint: missing.pt"),
    "a missing checkpoint to generate from": (["generate", "--checkpoint", "missing.pt", "--parts", "0"],
                                              "no such checkpoint: missing.pt"),
    "a condition without a value": (["generate", "--checkpoint", "{compvae}", "--parts", "0", "--condition", "cold"],
                                    "--condition takes NAME=VALUE, got 'cold'"),
    "a condition the model does not have": (["generate", "--checkpoint", "{compvae}", "--parts", "0", "--condition",
                                             "day_type=sunday"], "unknown column(s) ['day_type']"),
    "descriptors beside a parts file": (["generate", "--checkpoint", "{compvae}", "--parts-file", "p.csv",
                                         "--part-attr", "1,2"], "--part-attr and --condition go with --parts"),
}


@pytest.mark.parametrize(("argv", "message"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_refusal_exits_2_with_one_line_before_any_work_or_mlflow_run(argv, message, files, tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)  # what a command would write lands here: nothing may
    store = tmp_path / "mlflow.db"
    argv = [arg.format(**{name: files / f"{name}.pt" for name in ("compvae", "cvae", "no_whole")}) for arg in argv]
    if argv[0] == "evaluate":
        argv += ["--tracking-uri", f"sqlite:///{store}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("compvae-geo: error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no output, no MLflow store, no run


def test_the_version_is_the_packages(capsys):
    import compvae_geo

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"compvae-geo {compvae_geo.__version__}\n"
