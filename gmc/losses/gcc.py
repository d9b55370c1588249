r"""GCC loss (global correlation consistency) of GMC-IQA, with its FIFO queue of past predictions.

Notation (docs gmc-iqa.md, section 1): batch predictions ``p`` (B values, with gradients), batch labels
``y``; a FIFO queue holds earlier, detached predictions ``Qp`` and labels ``Qy``. Pools, batch first:
``P = cat(p, Qp)``, ``Y = cat(y, Qy)``, n = B + |Q|.

Correlation term (``correlation="batch_with_pool"``, the authors' form)::

    c(a, A; b, B') = sum_i da_i db_i / (sqrt(sum_i da_i^2) * sqrt(sum_i db_i^2)),
    da_i = a_i - mean(A),  db_i = b_i - mean(B'),   i over the B batch entries only

so the queue enters only through the pool means. ``correlation="full_pool"`` instead takes the plain
Pearson correlation over all n pool entries (means over the pool, sums over the pool).

PLCC term::  PLCC = c(p, P; y, Y),   PGC = 1 - PLCC

Soft rank (pairwise preference rank approximation), over the whole pool, separately for P and Y::

    z = (X - mean(X)) / std(X)                (unbiased std, n - 1; gradients flow through mean/std)
    D_ij = z_i - z_j
    rank_i = sum_j Phi(D_ij / tau),   Phi(d) = (1 + erf(d / sqrt(2))) / 2   (self pairs included: 0.5)

SROCC term::  SROCC = c(rankP[:B], rankP; rankY[:B], rankY),   SGC = 1 - SROCC

Total::

    form="multiplicative" (default, the authors'):  L = (alpha*PGC + beta*SGC + gamma) * MSE(p, y)
    form="additive":                                 L = MSE(p, y) + lam * (alpha*PGC + beta*SGC)

with MSE over the current batch only; defaults alpha = beta = 0.5, gamma = 1, tau = 1, lam = 1.

Queue: after the loss is computed, on every forward call in training mode (``self.training``), the
batch predictions and labels are appended, detached, and the oldest entries are evicted down to the
maximum length (FIFO). Nothing happens in eval mode. The queue is never cleared between epochs
(``reset_queue()`` exists for explicit use); it is part of ``state_dict()`` (extra state), so a
resumed run restores it exactly. Maximum length: ``queue_size`` (fixed; default 800) or
``int(n_train * queue_ratio)``; 0 means batch-only correlations.

Numerical guards: every sum of squares (the correlation denominators) and the pool variance are
clamped below at ``eps`` (default 1e-8), so B = 1, B = 2 and constant batches give finite values and
finite gradients (a correlation without spread is 0); away from those cases the formulas are exact.
The pool of one (B = 1, empty queue) uses n - 1 := 1 in the variance. Computation runs in float32 at
least (half inputs are cast up) with autocast disabled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gmc.losses.basic import DEFAULT_EPS, as_batch, no_autocast

DEFAULT_QUEUE_SIZE = 800
FORMS = ("multiplicative", "additive")
CORRELATIONS = ("batch_with_pool", "full_pool")
_EXTRA_STATE_VERSION = 1


def batch_pool_correlation(
    a: torch.Tensor, pool_a: torch.Tensor, b: torch.Tensor, pool_b: torch.Tensor, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """``c(a, A; b, B')``: batch entries centred by the pool means, sums over the batch entries only."""
    da = a - pool_a.mean()
    db = b - pool_b.mean()
    den = torch.sqrt((da * da).sum().clamp_min(eps)) * torch.sqrt((db * db).sum().clamp_min(eps))
    return (da * db).sum() / den


def soft_rank(x: torch.Tensor, tau: float = 1.0, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Gaussian-CDF pairwise soft rank of a 1-D pool: ``rank_i = sum_j Phi((z_i - z_j) / tau)``.

    ``z`` is the pool z-scored with the unbiased std (variance clamped below at ``eps``). Values lie in
    [0.5, n - 0.5]; the map is strictly increasing in ``x`` (ties get equal ranks). O(n^2) memory.
    """
    n = x.shape[0]
    centred = x - x.mean()
    var = (centred * centred).sum() / max(n - 1, 1)
    z = centred / torch.sqrt(var.clamp_min(eps))
    # sum_j Phi(D_ij / tau) = n/2 + sum_j erf(D_ij / (tau*sqrt(2))) / 2; scaling z first keeps the
    # number of n x n temporaries (memory) small.
    zs = z / (tau * math.sqrt(2.0))
    return 0.5 * n + 0.5 * torch.erf(zs[:, None] - zs[None, :]).sum(dim=1)


class GCCLoss(nn.Module):
    """GMC-IQA global correlation consistency loss (formulas in the module docstring).

    Options: ``alpha``, ``beta``, ``gamma`` (weights), ``tau`` (soft-rank temperature in z units),
    ``form`` ("multiplicative" | "additive"), ``lam`` (weight of the correlation terms in the additive
    form), ``correlation`` ("batch_with_pool" | "full_pool"), ``queue_size`` (fixed maximum queue
    length) or ``queue_ratio`` (length ``int(n_train * queue_ratio)``; needs ``n_train``), ``eps``.
    With neither queue option the length is 800; giving both is an error.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        tau: float = 1.0,
        form: str = "multiplicative",
        lam: float = 1.0,
        correlation: str = "batch_with_pool",
        queue_size: int | None = None,
        queue_ratio: float | None = None,
        n_train: int | None = None,
        eps: float = DEFAULT_EPS,
    ) -> None:
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"GCC form must be one of {', '.join(FORMS)}; got {form!r}")
        if correlation not in CORRELATIONS:
            raise ValueError(f"GCC correlation must be one of {', '.join(CORRELATIONS)}; got {correlation!r}")
        if not tau > 0:
            raise ValueError(f"GCC tau must be > 0; got {tau}")
        if not eps > 0:
            raise ValueError(f"GCC eps must be > 0; got {eps}")
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.tau, self.lam, self.eps = float(tau), float(lam), float(eps)
        self.form, self.correlation = form, correlation
        self.max_queue_len = self._queue_length(queue_size, queue_ratio, n_train)
        self._queue_pred = torch.zeros(0)
        self._queue_target = torch.zeros(0)

    @staticmethod
    def _queue_length(queue_size: int | None, queue_ratio: float | None, n_train: int | None) -> int:
        if queue_size is not None and queue_ratio is not None:
            raise ValueError(
                f"GCC got both queue_size={queue_size} and queue_ratio={queue_ratio}; give only one "
                "(queue_size: a fixed length; queue_ratio: a fraction of the training-set size)"
            )
        if queue_ratio is not None:
            if n_train is None:
                raise ValueError(
                    f"GCC queue_ratio={queue_ratio} needs n_train (the training-set size): build it with "
                    "build_loss('gcc', n_train=len(train_set), queue_ratio=...), or give a fixed queue_size"
                )
            if queue_ratio < 0 or n_train < 0:
                raise ValueError(f"GCC queue_ratio and n_train must be >= 0; got {queue_ratio}, {n_train}")
            return int(n_train * queue_ratio)
        if queue_size is None:
            return DEFAULT_QUEUE_SIZE
        if int(queue_size) != queue_size or queue_size < 0:
            raise ValueError(f"GCC queue_size must be an integer >= 0; got {queue_size!r}")
        return int(queue_size)

    # ----------------------------------------------------------------------------------------- queue
    @property
    def queue_pred(self) -> torch.Tensor:
        """Queued predictions, oldest first (detached)."""
        return self._queue_pred

    @property
    def queue_target(self) -> torch.Tensor:
        """Queued labels, aligned with :attr:`queue_pred`."""
        return self._queue_target

    @property
    def queue_len(self) -> int:
        return int(self._queue_pred.shape[0])

    def reset_queue(self) -> None:
        """Empty the queue (never called automatically, e.g. not between epochs)."""
        self._queue_pred = self._queue_pred.new_zeros(0)
        self._queue_target = self._queue_target.new_zeros(0)

    @torch.no_grad()
    def _enqueue(self, p: torch.Tensor, y: torch.Tensor) -> None:
        keep = self.max_queue_len
        if keep == 0:
            return
        qp = torch.cat([self._queue_pred.to(p), p.detach()])
        qy = torch.cat([self._queue_target.to(p), y.detach().to(p)])
        self._queue_pred, self._queue_target = qp[-keep:].clone(), qy[-keep:].clone()

    def get_extra_state(self) -> dict:
        return {
            "version": _EXTRA_STATE_VERSION,
            "max_queue_len": self.max_queue_len,
            "queue_pred": self._queue_pred.detach().clone(),
            "queue_target": self._queue_target.detach().clone(),
        }

    def set_extra_state(self, state: dict) -> None:
        qp, qy = state["queue_pred"], state["queue_target"]
        if qp.shape != qy.shape or qp.dim() != 1:
            raise ValueError(f"corrupt GCC queue state: shapes {tuple(qp.shape)} and {tuple(qy.shape)}")
        keep = self.max_queue_len  # a shorter configured queue keeps the newest entries
        self._queue_pred = qp[len(qp) - min(keep, len(qp)) :].detach().clone()
        self._queue_target = qy[len(qy) - min(keep, len(qy)) :].detach().clone()

    # ---------------------------------------------------------------------------------------- forward
    def _correlation(self, a: torch.Tensor, pool_a: torch.Tensor, b: torch.Tensor, pool_b: torch.Tensor):
        if self.correlation == "full_pool":
            return batch_pool_correlation(pool_a, pool_a, pool_b, pool_b, self.eps)
        return batch_pool_correlation(a, pool_a, b, pool_b, self.eps)

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """All intermediate quantities for the current batch and queue (no queue update)."""
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            b = p.shape[0]
            pool_p = torch.cat([p, self._queue_pred.to(p)])
            pool_y = torch.cat([y, self._queue_target.to(p)])
            plcc = self._correlation(p, pool_p, y, pool_y)
            rank_p = soft_rank(pool_p, self.tau, self.eps)
            rank_y = soft_rank(pool_y, self.tau, self.eps)
            srocc = self._correlation(rank_p[:b], rank_p, rank_y[:b], rank_y)
            mse = torch.mean((p - y) ** 2)
            pgc, sgc = 1.0 - plcc, 1.0 - srocc
            if self.form == "multiplicative":
                loss = (self.alpha * pgc + self.beta * sgc + self.gamma) * mse
            else:
                loss = mse + self.lam * (self.alpha * pgc + self.beta * sgc)
        return {
            "loss": loss,
            "mse": mse,
            "plcc": plcc,
            "srocc": srocc,
            "pgc": pgc,
            "sgc": sgc,
            "rank_pred": rank_p,
            "rank_target": rank_y,
            "pred": p,
            "target": y,
        }

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = self.terms(pred, target)
        if self.training:
            self._enqueue(t["pred"], t["target"])
        return t["loss"]

    def extra_repr(self) -> str:
        return (
            f"form={self.form!r}, correlation={self.correlation!r}, alpha={self.alpha}, beta={self.beta}, "
            f"gamma={self.gamma}, lam={self.lam}, tau={self.tau}, max_queue_len={self.max_queue_len}, "
            f"queue_len={self.queue_len}"
        )
