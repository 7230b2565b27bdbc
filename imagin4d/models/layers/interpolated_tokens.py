"""`InterpolatedTokens`: a token sequence kept factored as a few tokens and a fixed linear interpolation (issue 23).

The frame-aware encoder's lean option (`num_frame_queries`) computes Q tokens and gives frame t the mix
sum_q weights[t, q] token_q of its two neighbours (each row of weights sums to 1). Any affine map f(x) = x W + b
commutes with that mix (sum_q w_tq (x_q W + b) = (sum_q w_tq x_q) W + b because sum_q w_tq = 1), so a consumer that
projects the tokens, the cross-attention's key / value projection, projects the Q tokens and interpolates the result:
Q / T of the rows (the same function up to float rounding).
"""
from typing import NamedTuple, Sequence, Union

import torch
from einops import einsum


class InterpolatedTokens(NamedTuple):
    """Tokens (B, T, C) = weights (T, Q) applied to value (B, Q, C) along the token axis; rows of weights sum to 1.

    Behaves like the (B, T, C) tensor it stands for where the model handles frame tokens (`shape`, `dim()`,
    `device`, `dtype`); `materialize()` forms it, `affine(layer)` is layer(tokens) computed on the Q tokens.
    """
    value: torch.Tensor                     # (B, Q, C)
    weights: torch.Tensor                   # (T, Q)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def device(self):
        return self.value.device

    @property
    def shape(self):
        """(B, T, C): the shape of the tokens it stands for."""
        return torch.Size((self.value.shape[0], self.weights.shape[0], self.value.shape[2]))

    def dim(self) -> int:
        return 3

    def materialize(self) -> torch.Tensor:
        """(B, T, C)."""
        return einsum(self.weights.to(self.value.dtype), self.value, 't q, b q c -> b t c')

    def affine(self, layer) -> torch.Tensor:
        """layer(tokens) (B, T, C') for an affine `layer` (e.g. nn.Linear), applied to the Q tokens before the mix."""
        return InterpolatedTokens(layer(self.value), self.weights).materialize()


def concat_tokens(tokens: Sequence[Union[torch.Tensor, InterpolatedTokens]]) -> Union[torch.Tensor, InterpolatedTokens]:
    """Several encoders' frame tokens joined along the token axis (B, sum M, C); one is returned as it is (an
    `InterpolatedTokens` stays factored), several are materialized and concatenated."""
    if len(tokens) == 1:
        return tokens[0]
    return torch.cat([t.materialize() if isinstance(t, InterpolatedTokens) else t for t in tokens], 1)
