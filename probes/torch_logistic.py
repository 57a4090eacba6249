"""Batched L2 logistic regression in torch: many layers, folds and C values in one solve.

This module owns :class:`BatchedLogisticCV`, which fits one L2-regularised logistic regression
per layer for activations of shape ``[L, n, d]`` (on CPU or CUDA) with the regularisation
strength chosen by internal stratified (group-aware) cross-validation, exactly as
``StandardScaler`` + ``LogisticRegressionCV(scoring="neg_log_loss")`` would per layer.

How it is fast: every (layer, inner fold, C) problem, plus the refit on all training rows for
every C, shares the layer's standardised design matrix; problems differ only in a 0/1 row mask
and their penalty. One batched L-BFGS (Armijo backtracking, per-problem histories) then costs
two ``bmm`` calls per iteration for all problems at once instead of thousands of small fits.

The objective per problem matches scikit-learn's ``C * sum(loss) + ||w||^2 / 2`` (intercept not
penalised), rescaled by ``1 / (C * n_k)`` so the gradient tolerance ``tol`` means the same as in
scikit-learn's lbfgs solver.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from probes._validation import as_float_array, check_binary_labels, check_finite, check_groups
from probes.evaluation import Split, make_splits

__all__ = ["DEFAULT_CS", "BatchedLogisticCV", "fit_masked_logistic", "inner_splits", "resolve_device"]

logger = logging.getLogger(__name__)

DEFAULT_CS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def inner_splits(
    y: Any, groups: Any = None, *, n_splits: int = 3, random_state: int | None = 0
) -> list[Split]:
    """The internal CV splits used to choose C (stratified, group-aware when ``groups`` is given).

    Exposed so that a scikit-learn baseline can be run on exactly the same folds.
    """
    return make_splits(y, groups, n_splits=n_splits, shuffle=True, random_state=random_state)


def _loss_grad(
    X: torch.Tensor, y: torch.Tensor, mw: torch.Tensor, lam: torch.Tensor, theta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Objective and gradient for all problems. X [L,n,d], y [n], mw [n,K] (row weights summing to 1
    per problem), lam [K], theta [L,K,d+1] -> f [L,K], grad [L,K,d+1]."""
    d = X.shape[2]
    W = theta[..., :d]
    b = theta[..., d]
    Z = torch.baddbmm(b[:, None, :], X, W.transpose(1, 2))  # [L, n, K]
    yz = y[None, :, None]
    f = ((F.softplus(Z) - yz * Z) * mw).sum(1) + 0.5 * lam * (W * W).sum(-1)
    # Clamping the logits only inside the sigmoid changes the gradient by < 1e-13 and keeps
    # subnormal floats (very slow on CPUs) out of the bmm below.
    R = (torch.sigmoid(Z.clamp(-30.0, 30.0)) - yz) * mw
    gW = torch.bmm(R.transpose(1, 2), X) + lam[None, :, None] * W
    gb = R.sum(1)
    return f, torch.cat([gW, gb[..., None]], dim=-1)


def fit_masked_logistic(
    X: torch.Tensor,
    y: torch.Tensor,
    masks: torch.Tensor,
    Cs: torch.Tensor,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
    history: int = 10,
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Solve ``L x K`` L2 logistic regressions with one batched L-BFGS.

    ``X`` [L, n, d] (already standardised), ``y`` [n] in {0, 1}, ``masks`` [K, n] 0/1 training-row
    masks, ``Cs`` [K] inverse penalties (scikit-learn's ``C``). Returns ``theta`` [L, K, d+1]
    (weights then intercept), the number of iterations run, and a [L, K] bool "converged" mask
    (gradient max-norm <= ``tol``; problems may also stop when no further decrease is possible
    in the working precision).

    Each iteration costs exactly one batched objective/gradient evaluation: a problem whose trial
    step fails the Armijo condition stays put and retries next iteration with half the step.
    Columns (masks) whose problems have all stopped are dropped from the batch.
    """
    L, _, d = X.shape
    K = masks.shape[0]
    p_dim = d + 1
    dt, dev = X.dtype, X.device
    n_k = masks.sum(1)
    if bool((n_k == 0).any()):
        raise ValueError("a problem has no training rows")
    mw = (masks / n_k[:, None]).T.contiguous().to(dt)  # [n, K]
    lam = (1.0 / (Cs.to(torch.float64) * n_k.to(torch.float64))).to(dt)
    theta = torch.zeros(L, K, p_dim, dtype=dt, device=dev)
    f, g = _loss_grad(X, y, mw, lam, theta)
    m = history
    S_h = torch.zeros(m, L, K, p_dim, dtype=dt, device=dev)
    Y_h = torch.zeros(m, L, K, p_dim, dtype=dt, device=dev)
    rho_h = torch.zeros(m, L, K, dtype=dt, device=dev)
    n_hist, ptr = 0, 0
    gamma = torch.clamp(1.0 / g.norm(dim=-1).clamp_min(1e-30), max=1.0)  # first step like scipy: 1/||g||
    tstep = torch.ones(L, K, dtype=dt, device=dev)
    active = g.abs().amax(-1) > tol
    converged = ~active
    ftol = float(torch.finfo(dt).eps) * 16
    c1 = 1e-4
    n_iter = 0
    while n_iter < max_iter and bool(active.any()):
        n_iter += 1
        cols = torch.nonzero(active.any(0)).squeeze(1)
        full = cols.numel() == K

        def sel(T: torch.Tensor, dim: int = 1, full: bool = full, cols: torch.Tensor = cols) -> torch.Tensor:
            return T if full else T.index_select(dim, cols)

        th, fs, gs, act = sel(theta), sel(f), sel(g), sel(active)
        # L-BFGS two-loop recursion, batched over problems; skipped updates have rho = 0.
        q = gs.clone()
        saved = []
        for j in [(ptr - 1 - i) % m for i in range(n_hist)]:  # newest first
            S_j, Y_j, r_j = sel(S_h[j]), sel(Y_h[j]), sel(rho_h[j])
            a = r_j * (S_j * q).sum(-1)
            q -= a[..., None] * Y_j
            saved.append((a, S_j, Y_j, r_j))
        r = sel(gamma)[..., None] * q
        for a, S_j, Y_j, r_j in reversed(saved):
            beta = r_j * (Y_j * r).sum(-1)
            r += (a - beta)[..., None] * S_j
        step = -r
        gtp = (gs * step).sum(-1)
        bad = gtp >= 0
        if bool(bad.any()):  # not a descent direction: fall back to steepest descent
            step = torch.where(bad[..., None], -gs, step)
            gtp = torch.where(bad, -(gs * gs).sum(-1), gtp)
        ts = sel(tstep)
        t = torch.where(act, ts, torch.zeros_like(ts))
        th_new = th + t[..., None] * step
        f_new, g_new = _loss_grad(X, y, sel(mw), sel(lam, 0), th_new)
        ok = act & (f_new <= fs + c1 * t * gtp)
        okx = ok[..., None]
        s_vec = torch.where(okx, th_new - th, torch.zeros_like(th))
        y_vec = torch.where(okx, g_new - gs, torch.zeros_like(gs))
        sy = (s_vec * y_vec).sum(-1)
        yy = (y_vec * y_vec).sum(-1)
        good = ok & (sy > 1e-10 * yy.clamp_min(1e-30))
        rho_new = torch.where(good, 1.0 / sy.clamp_min(1e-30), torch.zeros_like(sy))
        gam_new = torch.where(good, sy / yy.clamp_min(1e-30), sel(gamma))
        decrease = fs - f_new
        th = torch.where(okx, th_new, th)
        fs = torch.where(ok, f_new, fs)
        gs = torch.where(okx, g_new, gs)
        ts = torch.where(ok, torch.ones_like(ts), ts * 0.5)
        done_g = gs.abs().amax(-1) <= tol
        done_f = ok & (decrease <= ftol * torch.maximum(fs.abs(), torch.ones_like(fs)))
        stalled = act & ~ok & (ts < 1e-8)
        conv = sel(converged) | (act & done_g)
        act = act & ~done_g & ~done_f & ~stalled
        if full:
            theta, f, g, active, converged, gamma, tstep = th, fs, gs, act, conv, gam_new, ts
            S_h[ptr], Y_h[ptr], rho_h[ptr] = s_vec, y_vec, rho_new
        else:
            for dst, src in (
                (theta, th),
                (f, fs),
                (g, gs),
                (active, act),
                (converged, conv),
                (gamma, gam_new),
                (tstep, ts),
                (S_h[ptr], s_vec),
                (Y_h[ptr], y_vec),
                (rho_h[ptr], rho_new),
            ):
                dst.index_copy_(1, cols, src)
        ptr = (ptr + 1) % m
        n_hist = min(n_hist + 1, m)
    n_unconverged = int((~converged).sum())
    if n_unconverged:
        logger.debug(
            "batched L-BFGS: %d of %d problems stopped before ||g||_inf <= %g", n_unconverged, L * K, tol
        )
    return theta, n_iter, converged


@contextlib.contextmanager
def _few_threads_if_small(device: torch.device, work: int, threshold: int = 50_000_000) -> Iterator[None]:
    """Run tiny CPU solves on one intra-op thread (restored afterwards).

    For small batches the per-iteration cost is thread synchronisation, not arithmetic; on a
    shared, oversubscribed machine that synchronisation can make a 1 ms iteration take 100 ms.
    """
    if device.type != "cpu" or work >= threshold or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_batch(X: Any, device: torch.device, dtype: torch.dtype, name: str = "X") -> torch.Tensor:
    """Accept [L, n, d] or [n, d] (as L = 1) numpy/torch input, check finiteness, move to device."""
    if isinstance(X, torch.Tensor):
        t = X.detach()
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3:
            raise ValueError(f"{name} must have shape (L, n, d) or (n, d); got {tuple(t.shape)}")
        t = t.to(device=device, dtype=dtype)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must contain only finite values; found NaN or inf")
        return t
    arr = as_float_array(X, name=name)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (L, n, d) or (n, d); got {arr.shape}")
    check_finite(arr, name=name)
    if not arr.flags.writeable:  # e.g. a read-only memmap: torch cannot share it
        arr = np.array(arr, order="K")
    return torch.as_tensor(arr, device=device).to(dtype)


class BatchedLogisticCV:
    """L2 logistic regression for ``L`` layers at once, C chosen per layer by internal CV.

    Not a scikit-learn estimator, on purpose: it fits a batch of ``L`` models sharing ``y`` from
    ``[L, n, d]`` input (``coef_`` is ``[L, d]``, ``decision_function`` takes ``[L, m, d]``), which
    the scikit-learn contract (one model, ``X`` of shape ``(n_samples, n_features)``) does not
    describe. Its scikit-learn face is ``LogisticProbe(backend="torch")`` (one layer, the same
    solver), which passes ``check_estimator``.

    Equivalent, per layer, to ``make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=Cs,
    cv=<the same inner splits>, scoring="neg_log_loss"))``. Fit with ``X`` of shape ``[L, n, d]``
    (numpy or torch, any float dtype) and labels ``y`` [n] shared by all layers.

    Parameters
    ----------
    Cs : inverse regularisation strengths to choose from (scikit-learn's ``C``).
    cv : number of internal folds (stratified; group-aware when ``groups`` is passed to ``fit``).
    standardize : standardise features with training-set mean/std before fitting.
    max_iter, tol, history : L-BFGS iteration cap, gradient max-norm tolerance, memory size.
    device : ``"cpu"``, ``"cuda"``, ... ; ``None`` picks CUDA when available.
    dtype : ``"float32"`` (default, fast) or ``"float64"``.
    random_state : seed for the internal fold shuffling.

    Fitted attributes: ``coef_`` [L, d] and ``intercept_`` [L] in raw activation units,
    ``direction_`` [L, d] unit vectors (class 0 -> class 1), ``C_`` [L], ``cv_loss_`` [L, len(Cs)]
    (mean held-out log-loss per C), ``classes_``, ``n_iter_``, ``converged_`` [L].
    """

    def __init__(
        self,
        Cs: Sequence[float] = DEFAULT_CS,
        cv: int = 3,
        *,
        standardize: bool = True,
        max_iter: int = 300,
        tol: float = 1e-4,
        history: int = 10,
        device: str | torch.device | None = None,
        dtype: str = "float32",
        random_state: int | None = 0,
    ) -> None:
        self.Cs = Cs
        self.cv = cv
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.history = history
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    def _torch_dtype(self) -> torch.dtype:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        return torch.float32 if self.dtype == "float32" else torch.float64

    def fit(
        self, X: Any, y: Any, groups: Any = None, *, splits: Sequence[Split] | None = None
    ) -> BatchedLogisticCV:
        """Fit every layer of ``X`` [L, n, d] (or [n, d]) on labels ``y`` [n].

        ``groups`` makes the internal folds group-aware; ``splits`` overrides them entirely
        (a list of ``(train_idx, val_idx)`` over the n rows).
        """
        dev = resolve_device(self.device)
        dt = self._torch_dtype()
        Xt = _as_batch(X, dev, dt)
        L, n, d = Xt.shape
        y_arr, classes = check_binary_labels(y, n)
        g = check_groups(groups, n)
        Cs = np.atleast_1d(np.asarray(self.Cs, dtype=np.float64))
        if Cs.ndim != 1 or Cs.size == 0 or not (Cs > 0).all():
            raise ValueError(f"Cs must be a non-empty list of positive floats; got {self.Cs!r}")
        y01 = (y_arr == classes[1]).astype(np.float64)
        if Cs.size == 1:
            folds: list[Split] = []
        elif splits is not None:
            folds = [(np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp)) for a, b in splits]
        else:
            folds = inner_splits(y01, g, n_splits=self.cv, random_state=self.random_state)
        n_f, n_c = len(folds), Cs.size
        masks = np.zeros((n_f + 1, n_c, n), dtype=np.float64)
        for i, (tr, _) in enumerate(folds):
            masks[i, :, tr] = 1.0
        masks[n_f] = 1.0
        if self.standardize:
            mean = Xt.mean(1, keepdim=True)
            scale = Xt.std(1, unbiased=False, keepdim=True)
            scale = torch.where(scale > 1e-12 * (1 + mean.abs()), scale, torch.ones_like(scale))
            Xs = (Xt - mean) / scale
        else:
            mean = torch.zeros(L, 1, d, dtype=dt, device=dev)
            scale = torch.ones(L, 1, d, dtype=dt, device=dev)
            Xs = Xt
        del Xt
        yt = torch.as_tensor(y01, dtype=dt, device=dev)
        mask_t = torch.as_tensor(masks.reshape(-1, n), dtype=dt, device=dev)
        Cs_t = torch.as_tensor(np.tile(Cs, n_f + 1), device=dev)
        with _few_threads_if_small(dev, L * n * d * mask_t.shape[0]):
            theta, n_iter, conv = fit_masked_logistic(
                Xs, yt, mask_t, Cs_t, max_iter=self.max_iter, tol=self.tol, history=self.history
            )
        theta = theta.reshape(L, n_f + 1, n_c, d + 1)
        if n_f:
            Wv = theta[:, :n_f].reshape(L, n_f * n_c, d + 1)
            Z = torch.baddbmm(Wv[..., d][:, None, :], Xs, Wv[..., :d].transpose(1, 2))  # [L, n, F*C]
            ell = F.softplus(Z) - yt[None, :, None] * Z
            val = (1.0 - mask_t[: n_f * n_c]).T  # [n, F*C]
            cv_loss = ((ell * val).sum(1) / val.sum(0)).reshape(L, n_f, n_c).mean(1)
            best = cv_loss.argmin(1)  # first minimum -> smallest C among ties (Cs ascending)
            self.cv_loss_ = cv_loss.double().cpu().numpy()
        else:
            best = torch.zeros(L, dtype=torch.long, device=dev)
            self.cv_loss_ = np.full((L, 1), np.nan)
        ar = torch.arange(L, device=dev)
        final = theta[ar, n_f, best]  # [L, d+1]
        conv_final = conv.reshape(L, n_f + 1, n_c)[ar, n_f, best]
        beta = final[:, :d] / scale[:, 0, :]
        b = final[:, d] - (beta * mean[:, 0, :]).sum(-1)
        self.coef_ = beta.double().cpu().numpy()
        self.intercept_ = b.double().cpu().numpy()
        norms = np.linalg.norm(self.coef_, axis=1, keepdims=True)
        self.direction_ = self.coef_ / np.where(norms > 0, norms, 1.0)
        self.C_ = Cs[best.cpu().numpy()]
        self.classes_ = classes
        self.n_iter_ = n_iter
        self.converged_ = conv_final.cpu().numpy()
        self.n_features_in_ = d
        self.n_layers_ = L
        self.n_examples_ = n
        logger.debug("BatchedLogisticCV: L=%d n=%d d=%d K=%d iters=%d", L, n, d, (n_f + 1) * n_c, n_iter)
        return self

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Logits ``[L, m]`` for activations ``[L, m, d]`` (``[m]`` if fitted on one layer and given [m, d])."""
        if not hasattr(self, "coef_"):
            raise ValueError("BatchedLogisticCV is not fitted yet; call fit first")
        single = (isinstance(X, np.ndarray | torch.Tensor) and X.ndim == 2) and self.n_layers_ == 1
        Xt = _as_batch(X, torch.device("cpu"), torch.float64)
        if Xt.shape[0] != self.n_layers_ or Xt.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has shape {tuple(Xt.shape)} but the model was fitted on L={self.n_layers_} layers "
                f"with d={self.n_features_in_}"
            )
        coef = torch.as_tensor(self.coef_)
        out = torch.einsum("lmd,ld->lm", Xt, coef) + torch.as_tensor(self.intercept_)[:, None]
        res = out.numpy()
        return res[0] if single else res

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Probability of ``classes_[1]``, shape like :meth:`decision_function`."""
        z = self.decision_function(X)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def predict(self, X: Any) -> NDArray[Any]:
        """Predicted class labels, shape like :meth:`decision_function`."""
        return np.asarray(self.classes_[(self.decision_function(X) > 0).astype(int)])
