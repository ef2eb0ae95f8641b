"""Large-depth predictions from the exact maps (NumPy/SciPy).

Everything here is computed from the same sublayer maps the solver iterates,
evaluated in the limit that defines each regime; the symbolic derivations in
``derivations/`` check these numbers against closed forms.

Regimes (docs/theory.md, "Large-depth behaviour"):

* **critical** (scale-invariant normalizer, Pre-LN): ``q ~ c_q l`` and
  ``chi = 1 + c_J/q``, so ``J(0, l) ~ l^zeta`` with ``zeta = c_J / c_q``
  (Doshi et al. 2023; Alekseev 2026 with attention).
* **subcritical** (bounded pointwise normalizer such as DyT/Derf): ``q ~ c_q l``
  but ``chi - 1 ~ c_h / sqrt(q)``, so ``log J ~ sqrt(l / lam)`` with
  ``1/sqrt(lam) = 2 C_h / sqrt(P C_q)`` per period of ``P`` sublayers; the toy
  Derf model gives ``1/sqrt(lam) = 4 alpha sigma_w / pi``.
* **exponential** (no normalizer, no identity path): ``J ~ chi*^l = exp(l/xi)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import integrate, optimize

from ..architectures import Architecture, PlainMLP
from ..normalizers import get_normalizer
from .solver import Trajectory

#: q for scale-invariant normalizers (their increments do not depend on q at eps = 0).
Q_SCALE_INVARIANT = 1.0
#: q at which bounded pointwise normalizers are taken to be saturated (times 1/alpha^2).
Q_SATURATED = 1e14


def _scalar(arch: Architecture) -> None:
    if arch.grid_shape() != ():
        raise ValueError("this prediction takes a single declaration (no array-valued fields); "
                         "loop over the grid or use the solver, which is vectorized")


def _period_increments(arch: Architecture, q: float, rho: float, *, matrix: bool = False):
    """Run one period of (pre-norm, ``mu = 1``) sublayers from ``(q, rho q)``.

    Increments are accumulated directly (no ``q' - q`` round-off at huge ``q``).
    Returns ``(dq, dp, C_J, C_h)``: with ``q_k`` the input of sublayer ``k`` and
    ``chi_k = 1 + dchi_k``, ``C_J = sum dchi_k q_k`` and ``C_h = sum dchi_k sqrt(q_k)``.
    With attention the tangents carry ``(jq, jp)`` and ``dchi_k`` is a 2x2 map
    ``A_k``; over many periods ``(jq, jp)`` aligns with the top eigenvector of
    ``sum_k A_k q_k`` (resp. ``sqrt(q_k)``), whose eigenvalue replaces ``C_J`` (``C_h``).
    """
    rho = np.asarray(rho, dtype=float)
    cross = arch.cross_tangents
    qk, pk = np.full(rho.shape, float(q)), rho * float(q)
    dq_tot, dp_tot = 0.0, 0.0
    cj = np.zeros((4,) + rho.shape) if cross else 0.0
    ch = np.zeros((4,) + rho.shape) if cross else 0.0
    for k in range(arch.period):
        dq, dp, dchi = arch.sublayer(k).increments(qk, pk, True, cross=cross)
        if cross:
            dchi = np.stack(np.broadcast_arrays(*dchi))
        cj = cj + dchi * qk
        ch = ch + dchi * np.sqrt(qk)
        dq_tot = dq_tot + dq
        dp_tot = dp_tot + dp
        qk, pk = qk + dq, pk + dp
    if matrix:
        return dq_tot, dp_tot, cj, ch
    if cross:
        cj, ch = _top_eigenvalue(cj), _top_eigenvalue(ch)
    if rho.ndim == 0:
        return float(dq_tot), float(dp_tot), float(cj), float(ch)
    return dq_tot, dp_tot, cj, ch


def _top_eigenvalue(m):
    """Largest eigenvalue of the 2x2 maps ``[[m0, m1], [m2, m3]]`` (non-negative off-diagonal product)."""
    a, b, c, d = m
    return 0.5 * (a + d) + np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * c, 0.0))


def _require_residual_pre(arch: Architecture, what: str) -> None:
    if isinstance(arch, PlainMLP):
        raise ValueError(f"{what} needs a residual architecture with a normalizer (PlainMLP is exponential)")
    if arch.placement != "pre":
        raise ValueError(f"{what} is derived for pre-norm placement, got placement={arch.placement!r}")
    if float(getattr(arch, "mu", 1.0)) != 1.0:
        raise ValueError(f"{what} needs an identity skip path (mu = 1), got mu={arch.mu!r}")


def _require_pointwise_standard(arch: Architecture, what: str, bounded: bool = False) -> None:
    norm = get_normalizer(arch.normalizer)
    if norm.kind != "pointwise" or (bounded and not norm.activation.bounded):
        kind = "a bounded pointwise normalizer (dyt, derf, ...)" if bounded else "a pointwise normalizer (alpha h)"
        raise ValueError(f"{what} needs {kind}; got {arch.normalizer!r}"
                         + ("" if bounded else " (vector normalizers have no alpha^2 q scale)"))
    if arch.init != "standard":
        raise ValueError(f"scaled initializations change the depth dependence; {what} is for init='standard'")


def _limit_q(arch: Architecture) -> float:
    norm = get_normalizer(arch.normalizer)
    if norm.kind == "pointwise":
        return Q_SATURATED / float(arch.alpha) ** 2
    return Q_SCALE_INVARIANT


def rho_fixed_point(arch: Architecture, q: float | None = None) -> float:
    """Attracting fixed point of ``rho = p/q`` at large depth.

    As ``q`` grows, ``rho`` relaxes to the stable root of
    ``F(rho) = dp(rho)/dq(rho) = rho`` (increments over one period at large
    ``q``), found by a sign scan and :func:`scipy.optimize.brentq`. ``rho = 1``
    is always a root (identical tokens stay identical); it is the attractor
    when ``F(rho) > rho`` just below 1 (ReLU MLPs, attention). Where every ``rho``
    is a root (``F(rho) = rho``: the toy Pre-LN model conserves ``rho``) the answer
    is the initial ``p0/q0``.

    Args:
        arch: a single declaration.
        q: the large ``q`` used (default: the regime's limit).
    """
    _scalar(arch)
    arch = arch.replace(eps=0.0)
    q = _limit_q(arch) if q is None else q

    def g(r):
        dq, dp, _, _ = _period_increments(arch, q, r)
        return dp / dq - r

    grid = np.concatenate([np.linspace(0.0, 0.99, 100), 1 - np.logspace(-2, -6, 9)])
    dq, dp, _, _ = _period_increments(arch, q, grid)  # the whole scan in one vectorized call
    vals = dp / dq - grid
    if np.max(np.abs(vals)) <= 1e-12:  # neutral: rho is conserved (toy Pre-LN), it stays at p0/q0
        return float(np.clip(float(arch.p0) / float(arch.q0), -1.0, 1.0))
    for i in range(len(grid) - 1):  # stable root: g goes from + to -
        if vals[i] > 0 and vals[i + 1] <= 0:
            return float(optimize.brentq(g, grid[i], grid[i + 1], xtol=1e-14))
    if vals[-1] > 0:
        return 1.0
    if vals[0] <= 0:
        return 0.0
    return 1.0


def _critical_period(arch: Architecture, *, matrix: bool = False):
    """Checks that ``arch`` is a Pre-LN power-law architecture, then one period at ``rho*`` and
    large ``q``: ``(dq, C_J)`` (``C_J`` the 2x2 tangent map with ``matrix=True``)."""
    _scalar(arch)
    _require_residual_pre(arch, "predict_zeta")
    norm = get_normalizer(arch.normalizer)
    if not norm.scale_invariant or arch.normalizer == "lns":
        raise ValueError(f"power-law growth needs a scale-invariant normalizer (layernorm, rmsnorm); "
                         f"got {arch.normalizer!r}" + (" (LNS gives J ~ log L)" if arch.normalizer == "lns" else ""))
    if arch.init != "standard":
        raise ValueError("scaled initializations change the depth dependence; zeta is for init='standard'")
    arch = arch.replace(eps=0.0)
    rho = rho_fixed_point(arch)
    dq, _, cj, _ = _period_increments(arch, Q_SCALE_INVARIANT, rho, matrix=matrix)
    return dq, cj


def predict_cq_cj(arch: Architecture) -> tuple[float, float]:
    """Per-sublayer ``(c_q, c_J)`` of a critical architecture at ``rho*``.

    ``q[l] ~ c_q l`` and ``chi = 1 + c_J / q`` averaged over a period.
    """
    dq, cj = _critical_period(arch)
    return dq / arch.period, cj / arch.period


def predict_zeta(arch: Architecture) -> float:
    """Power-law exponent ``zeta = c_J / c_q`` of ``J(0, l) ~ l^zeta`` (Pre-LN).

    Toy ``h + W phi(LN h) + b``: ``zeta = sw2 E[phi'(u)^2] / (sw2 E[phi(u)^2] + sb2)``,
    ``u ~ N(0, 1)`` (Doshi et al. 2023). With attention, ``c_J`` is the top
    eigenvalue of the period's tangent map (tokens' tangents become correlated);
    at ``rho* = 1`` attention is uniform, the tangents align with ``jp = jq``
    and a ReLU transformer has ``zeta = 1`` exactly (the isotropic ``chi`` alone
    would give ``(sOV / n + s21 / 2) / (sOV + s21 / 2)``).
    """
    cq, cj = predict_cq_cj(arch)
    return cj / cq


def zeta_modes(arch: Architecture) -> dict:
    """Both power-law modes of a Pre-LN architecture with attention, and when the top one takes over.

    The tangent moments ``(jq, jp)`` grow as ``l^(A / c_q)`` with ``A`` the period's tangent
    map at ``rho*``: ``J(0, l) ~ w_1 l^zeta + w_2 l^zeta_2`` with ``zeta`` (= :func:`predict_zeta`)
    and ``zeta_2`` the eigenvalues of ``A / c_q`` and ``w_1, w_2`` the weights of the isotropic start
    ``(1, 0)`` on the eigenvectors. At ``rho* = 1`` (ReLU MLPs) ``zeta = 1`` with ``w_1 = 1/n`` (the
    token-averaged tangent) and ``zeta_2 = (s21/2) / (sOV + s21/2)`` with ``w_2 = 1 - 1/n``, so for
    many tokens the measurable exponent at practical depths is ``zeta_2``: the modes cross at
    ``l_c ~ (w_2 / w_1)^(1 / (zeta - zeta_2))`` (``crossover_depth``, prefactors of the
    pre-asymptotic layers aside). Without attention both modes coincide with ``zeta``.

    Returns:
        dict with ``zeta``, ``zeta_2``, ``w_1``, ``w_2``, ``crossover_depth`` (sublayers).
    """
    dq, m = _critical_period(arch, matrix=True)
    if not arch.cross_tangents:
        z = float(m) / dq
        return {"zeta": z, "zeta_2": z, "w_1": 1.0, "w_2": 0.0, "crossover_depth": 0.0}
    mat = np.asarray(m, float).reshape(2, 2) / dq
    vals, vecs = np.linalg.eig(mat)
    order = np.argsort(-vals.real)
    vals, vecs = vals.real[order], vecs.real[:, order]
    coef = np.linalg.solve(vecs, np.array([1.0, 0.0]))  # (1, 0) = c_1 v_1 + c_2 v_2
    w = coef * vecs[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lc = float((w[1] / w[0]) ** (1.0 / (vals[0] - vals[1]))) if vals[0] > vals[1] and w[0] > 0 else np.inf
    return {"zeta": float(vals[0]), "zeta_2": float(vals[1]), "w_1": float(w[0]), "w_2": float(w[1]),
            "crossover_depth": lc}


def predict_lambda(arch: Architecture) -> float:
    """``lam`` of the stretched exponential ``log J(0, l) ~ sqrt(l / lam)`` (bounded pointwise normalizers).

    At saturation ``q ~ (C_q/P) l`` and ``sum_period (chi - 1) = C_h / sqrt(q)``,
    so ``log J ~ 2 C_h sqrt(l) / sqrt(P C_q)``, i.e. ``lam = P C_q / (4 C_h^2)``.
    Toy Derf: ``lam = pi^2 / (16 alpha^2 sigma_w^2)``.
    """
    _scalar(arch)
    _require_residual_pre(arch, "predict_lambda")
    _require_pointwise_standard(arch, "predict_lambda", bounded=True)
    rho = rho_fixed_point(arch)

    def lam_at(q):
        dq, _, _, ch = _period_increments(arch, q, rho)
        return arch.period * dq / (4.0 * ch * ch)

    # the saturation corrections are O(q^-1/2): one Richardson step removes them
    q = _limit_q(arch)
    return 2.0 * lam_at(4.0 * q) - lam_at(q)


def small_q_rate(arch: Architecture) -> float:
    """Per-sublayer growth factor of ``q`` while ``alpha^2 q << 1`` (pointwise normalizers).

    Toy Derf: ``1 + 4 alpha^2 sw2 / pi``; toy DyT: ``1 + alpha^2 sw2``.
    """
    _scalar(arch)
    _require_residual_pre(arch, "small_q_rate")
    _require_pointwise_standard(arch, "small_q_rate")
    q = 1e-8 / float(arch.alpha) ** 2
    rho = float(arch.p0) / float(arch.q0)
    dq, _, _, _ = _period_increments(arch.replace(sigma_b2=0.0) if hasattr(arch, "sigma_b2") else arch, q, rho)
    return float((1.0 + dq / q) ** (1.0 / arch.period))


def transition_depth(arch: Architecture) -> float:
    """Transition depth ``l*`` where ``alpha^2 q[l*] = 1`` (Derf/DyT and other pointwise normalizers).

    Continuum estimate ``l* = P * integral_{q0}^{1/alpha^2} dq / dq_period(q)``
    with ``dq_period`` the increment of ``q`` over one period at fixed
    ``rho = p0/q0``. Well below ``l*`` the growth is geometric at
    :func:`small_q_rate` (toy Derf: ``1 + 4 alpha^2 sw2/pi``), which alone would
    give the lower estimate ``log(1/(alpha^2 q0)) / log(rate)``; the integral
    also follows the slow-down as the normalizer saturates. Returns 0 when
    ``alpha^2 q0 >= 1``.
    """
    _scalar(arch)
    _require_residual_pre(arch, "transition_depth")
    _require_pointwise_standard(arch, "transition_depth")
    a2 = float(arch.alpha) ** 2
    q0, rho = float(arch.q0), float(arch.p0) / float(arch.q0)
    if a2 * q0 >= 1:
        return 0.0

    def dl_dlogq(t):
        q = np.exp(t)
        dq, _, _, _ = _period_increments(arch, q, rho)
        return arch.period * q / dq

    val, _ = integrate.quad(dl_dlogq, np.log(q0), np.log(1.0 / a2), limit=200)
    return float(val)


def transition_layer(traj: Trajectory, alpha) -> np.ndarray:
    """First layer ``l`` with ``alpha^2 q[l] >= 1`` (``L + 1`` if never), over the grid."""
    z = np.asarray(alpha, float) ** 2 * traj.q
    hit = z >= 1.0
    return np.where(hit.any(axis=0), hit.argmax(axis=0), traj.q.shape[0])


def chi_star(arch: Architecture, iterations: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Doshi et al.'s phase indicator ``chi*``: ``chi`` at the large-depth fixed point of ``q``.

    The single-input recurrence is iterated ``iterations`` times over the whole
    grid (vectorized); ``chi`` at the end is ``chi*`` where ``q`` converges to a
    fixed point ``q*`` (including ``q* = 0``) and its large-depth limit where
    ``q`` grows without bound (``mu = 1``). ``chi* < 1`` is ordered (vanishing
    APJN), ``> 1`` chaotic, ``= 1`` critical.

    Returns:
        ``(chi_star, q_star)`` over the grid.
    """
    if arch.period != 1 or arch.init != "standard" or arch.normalizer == "lns":
        raise ValueError("chi* is defined for homogeneous networks (one sublayer kind, standard init, and no "
                         "depth-dependent normalizer such as LNS)")
    layer = arch.sublayer(0)
    grid = arch.grid_shape()
    q = np.broadcast_to(np.asarray(arch.q0, float), grid).copy()
    m = np.zeros(grid)
    chi = None
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for _ in range(iterations):
            if getattr(layer, "tracks_mean", False):
                q_new, _, chi, m = layer.step(q, None, False, m=m)
            else:
                q_new, _, chi = layer.step(q, None, False)
            q_new = np.minimum(np.maximum(q_new, 1e-300), 1e150)  # stay finite in growing phases
            q = q_new
    return np.broadcast_to(chi, grid), q


def correlation_length(arch: Architecture) -> np.ndarray:
    """``xi = 1 / log chi*`` of the exponential phases (``J ~ exp(l / xi)``; negative: decay)."""
    cs, _ = chi_star(arch)
    with np.errstate(divide="ignore"):
        return 1.0 / np.log(cs)


def continuum(arch: Architecture, depth: int | None = None, *, rtol: float = 1e-10) -> Trajectory:
    """Continuum limit of the recurrence, solved with :func:`scipy.integrate.solve_ivp`.

    Treats the layer index as continuous: ``dq/dl = (F_q(q, p) - q)/P``,
    ``dp/dl = (F_p(q, p) - p)/P``, ``d log J/dl = sum_period log chi / P`` with
    ``F`` one period of sublayers (at the period containing ``l``, so LNS and
    depth-scaled init are followed). The discrete and continuum solutions
    agree to leading order at large depth (relative error -> 0).
    """
    _scalar(arch)
    if arch.cross_tangents or getattr(arch.sublayer(0), "tracks_mean", False):
        raise ValueError("the continuum limit is implemented for architectures whose state is (q, p) and whose "
                         "APJN is a product of chi (no attention, no residual plain MLP)")
    if depth is not None:  # the scaled inits and LNS depend on the depth
        arch = arch.replace(depth=depth)
    L = arch.depth
    P = arch.period

    def rhs(l, y):
        q, p = y[0], y[1]
        k0 = int(l) // P * P
        qq, pp, lj = q, p, 0.0
        for k in range(k0, k0 + P):
            qq, pp, chi = arch.sublayer(k).step(np.float64(qq), np.float64(pp), True)
            lj += np.log(float(chi))
        return [(float(qq) - q) / P, (float(pp) - p) / P, lj / P]

    sol = integrate.solve_ivp(rhs, (0.0, float(L)), [float(arch.q0), float(arch.p0), 0.0],
                              t_eval=np.arange(L + 1, dtype=float), rtol=rtol, atol=1e-12, method="LSODA")
    if not sol.success:
        raise FloatingPointError(f"continuum ODE failed: {sol.message}")
    q, p, lj = sol.y
    chi = np.exp(np.diff(lj))
    return Trajectory(q, p, chi, lj, dataclasses.replace(arch, depth=L).to_dict())
