"""``compvae-geo whatif``: an observed whole recomposed with parts removed or added."""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from ..problems import PROBLEM_NAMES
from .common import CHECKPOINT_HELP, checkpoint_argument, parse_ints, parse_parts, parse_rows
from .generate import (
    GENERATED_SUFFIXES,
    add_output_arguments,
    check_out,
    labels_of,
    named_conditions,
    parts_table,
    sidecar_path,
    write_generated,
)


def add_whatif_arguments(whatif: argparse.ArgumentParser) -> None:
    """``compvae-geo whatif``: an observed whole recomposed."""
    whatif.add_argument("--checkpoint", type=checkpoint_argument, required=True, metavar="CHECKPOINT",
                        help=CHECKPOINT_HELP)
    source = whatif.add_mutually_exclusive_group(required=True)
    source.add_argument("--observed", type=Path, default=None, metavar="FILE",
                        help="the observed whole: a .pt file holding a dict of tensors 'part' [K], 'whole' "
                             "[*obs_shape], and 'part_attr' [K, F] / 'whole_attr' [C] where the model has them")
    source.add_argument("--problem", choices=PROBLEM_NAMES, default=None,
                        help="draw the observed whole from this problem's generator (with --parts and --seed), "
                             "and its true what-if wholes for the plot")
    whatif.add_argument("--parts", type=parse_parts, default=None, metavar="L1,L2,...",
                        help="with --problem: the categories of the observed whole's parts, labels or ids")
    whatif.add_argument("--part-attr", type=parse_rows, default=None, metavar="A,B;C,D;...",
                        help="with --problem: the descriptors of the observed parts, one row per part (default: drawn)")
    whatif.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                        help="a known condition of the observed whole, e.g. --condition day_type=weekday (repeatable; "
                             "all of the model's conditions or none): with --problem the day is drawn under them, "
                             "with --observed they replace the file's")
    whatif.add_argument("--remove", type=parse_ints, default=None, metavar="I1,I2,...",
                        help="positions (0..K-1) of the observed parts to remove")
    whatif.add_argument("--add", type=parse_parts, default=None, metavar="L1,L2,...",
                        help="categories of the parts to add, labels or ids")
    whatif.add_argument("--add-part-attr", type=parse_rows, default=None, metavar="A,B;C,D;...",
                        help="descriptors of each added part, one row per part (with --problem: drawn if not given)")
    whatif.add_argument("--num-samples", type=int, default=64)
    whatif.add_argument("--seed", type=int, default=0)
    add_output_arguments(whatif, "whatif.csv", "the what-if wholes", "the observed whole and its what-if wholes")


def _read_observed(path: Path) -> Any:
    """The observed whole of ``--observed``: a ``Data`` from a .pt dict of tensors (``ValueError`` if unusable)."""
    import torch
    from torch_geometric.data import Data

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001  (any unreadable file: one line, never torch's unpickling advice)
        raise ValueError(f"{path} is not a .pt file of tensors ({type(error).__name__})") from None
    if not isinstance(content, dict) or not {"part", "whole"} <= content.keys():
        raise ValueError(f"{path} must hold a dict with 'part' and 'whole' tensors (and 'part_attr'/'whole_attr')")
    unknown = content.keys() - {"part", "whole", "part_attr", "whole_attr"}
    if unknown:
        raise ValueError(f"{path} holds unknown keys {sorted(unknown)}; known: part, whole, part_attr, whole_attr")
    if not all(isinstance(value, torch.Tensor) for value in content.values()):
        raise ValueError(f"every value in {path} must be a tensor")
    whole = content["whole"]
    attrs = {"part": content["part"], "whole": whole.unsqueeze(0)}
    if "part_attr" in content:
        attrs["part_attr"] = content["part_attr"]
    if "whole_attr" in content:
        attrs["whole_attr"] = content["whole_attr"].reshape(1, -1)
    return Data(num_nodes=content["part"].numel(), **attrs)


def run_whatif(args: argparse.Namespace) -> int:
    """Recomposes an observed whole (from a file, or drawn from a problem) and writes the what-if wholes with a plot."""
    import torch

    from ..checkpoint import read_model_payload
    from ..datasets import check_edit
    from ..evaluation.figures import WholeLook, whatif_figure
    from ..models import CompVAE, model_from_payload
    from ..problems import make_problem, model_terms
    from ..serving.requests import read_requests
    from ..structural import recompose

    check_out(args.out, GENERATED_SUFFIXES, args.overwrite)
    payload = read_model_payload(args.checkpoint)
    model, terms = model_from_payload(payload, str(args.checkpoint)).eval(), model_terms(payload)
    if not isinstance(model, CompVAE):
        raise ValueError(f"{args.checkpoint} holds a {model.model_name}, which cannot recompose; use a CompVAE")
    add = None if args.add is None else torch.as_tensor(terms.part_ids(labels_of(args.add, terms)), dtype=torch.long)
    add_attr = None if args.add_part_attr is None else torch.tensor(args.add_part_attr, dtype=torch.float32)
    truth, problem, generator = None, None, None
    if args.problem is not None:
        if args.parts is None:
            raise ValueError("--problem needs --parts, the categories of the observed whole")
        request = read_requests(parts_table(args, terms, payload), terms)[0]
        problem = make_problem(args.problem)
        generator = torch.Generator().manual_seed(args.seed)
        observation = problem.observe(request.parts, request.part_attr, request.whole_attr, generator=generator)
        if add is not None and add_attr is None and problem.part_attr_dim:
            add_attr = problem.sample_part_attr(add, generator)
        data = observation.data()
    else:
        if args.parts is not None or args.part_attr is not None:
            raise ValueError("--parts and --part-attr go with --problem; an --observed file holds its parts")
        data = _read_observed(args.observed)
        if args.condition:
            data.whole_attr = terms.encode_conditions(
                {name: [value] for name, value in named_conditions(args.condition).items()}, 1)
    c = model.config
    edit = check_edit(data.part.numel(), args.remove, add, add_attr, c.num_categories, c.part_attr_dim)
    if problem is not None:
        truth = problem.sample_counterfactual(observation, edit, args.num_samples, generator)
    torch.manual_seed(args.seed)
    recomposed = recompose(model, data, edit, args.num_samples)
    whole_id = "whatif"
    write_generated(args.out, [whole_id], [recomposed])
    _write_whatif_sidecar(args, data, edit, terms)
    written = [str(args.out), str(sidecar_path(args.out))]
    if args.plot:
        plot = args.out.with_suffix(".png")
        edits = [f"{label} {list(value)}" for label, value in (("without", args.remove), ("with", args.add)) if value]
        title = f"the observed whole {' and '.join(edits) or 'unchanged'}"
        look = WholeLook.of(model.config.observation, terms)
        whatif_figure(data.whole[0], recomposed, title, look, truth).savefig(plot, dpi=120)
        written.append(str(plot))
    print(f"wrote {args.num_samples} what-if wholes ({terms.unit or 'the data units'}): {', '.join(written)}")
    return 0


def _write_whatif_sidecar(args: argparse.Namespace, data: Any, edit: Any, terms: Any) -> None:
    """What was asked, beside the what-if wholes: the observed parts and conditions, the edit, the seed, the units."""
    whole_attr = getattr(data, "whole_attr", None)
    document = {
        "checkpoint": str(args.checkpoint), "command": "compvae-geo " + shlex.join(args.argv), "seed": args.seed,
        "num_samples": args.num_samples,
        "observed": str(args.observed) if args.observed else f"drawn from {args.problem}",
        "parts": [terms.vocabulary[i] for i in data.part.tolist()],
        "descriptors": None if getattr(data, "part_attr", None) is None else data.part_attr.tolist(),
        "conditions": None if whole_attr is None or not terms.conditions else
        {name: cells[0] for name, cells in terms.decode_conditions(whole_attr.reshape(1, -1)).items()},
        "removed": edit.removed.tolist(), "added": [terms.vocabulary[i] for i in edit.add_part.tolist()],
        "added_descriptors": None if edit.add_part_attr is None else edit.add_part_attr.tolist(),
        "unit": terms.unit, "step_hours": terms.step_hours}
    sidecar_path(args.out).write_text(json.dumps(document, indent=1))
