"""``python -m compvae_geo``: the ``compvae-geo`` command (what ``torchrun ... -m compvae_geo train`` runs)."""
from .cli import main

raise SystemExit(main())
