r"""The observation model of CompVAE and of its baseline: a diagonal Gaussian from a codec's decoder."""
from __future__ import annotations

from torch import Tensor, nn
from torch.distributions import Normal

from .gaussian import floored_scale, normal


class GaussianObservation(nn.Module):
    r""":math:`p(x \mid h) = \mathcal{N}(\mu(h), \mathrm{diag}\,\sigma^2(h))` with :math:`\sigma \geq` ``scale_floor``.

    :math:`h` is what the model decodes (CompVAE: z, the vector part of :math:`\tilde{w}` and the conditions, plus
    the rendered sum of the parts). Another likelihood plugs in as a module with the same ``forward``, returning a
    ``torch.distributions.Distribution`` over ``[B, *obs_shape]`` (with ``log_prob``, ``mean``, ``stddev`` and
    ``sample``).

    Args:
        decoder (nn.Module): ``decoder(latent, rendered)`` gives the mean ``[B, *obs_shape]`` and a raw std that
            broadcasts to it (a codec's x-decoder, :mod:`compvae_geo.codecs`).
        scale_floor (float): smooth lower bound of the std (the paper's stability note).
    """

    sums_parts = False  # a whole of no parts is whatever the decoder makes of w~ = 0

    def __init__(self, decoder: nn.Module, scale_floor: float) -> None:
        super().__init__()
        self.decoder, self.scale_floor = decoder, scale_floor

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> Normal:
        """The distribution of x given ``latent`` ``[B, D]`` (and a rendered sum ``[B, channels, *grid]``)."""
        loc, raw_scale = self.decoder(latent, rendered)
        return normal(loc, floored_scale(raw_scale, self.scale_floor).expand_as(loc))

    @staticmethod
    def noise_shape(obs_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the standard-normal noise of one whole (:mod:`~compvae_geo.models.observation_noise`)."""
        return tuple(obs_shape)

    def extra_repr(self) -> str:  # noqa: D102
        return f"scale_floor={self.scale_floor}"
