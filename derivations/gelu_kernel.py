"""Exact GELU phi(u) = u Phi(u): E[phi(u1) phi(u2)], E[phi'(u1) phi'(u2)], E[phi^2], E[phi'^2], E[phi] in closed form.

Setting: (u1, u2) ~ N(0, Sigma), Sigma = [[q, p], [p, q]], c = 1 + q, D = det(I + Sigma) = c^2 - p^2,
theta = pi/2 + arcsin(p/c) in [0, pi] (the orthant angle; theta = atan2(sqrt D, -p)).

Derivation (orthant moments).  Write Phi(u_i) = P(z_i < u_i | u) with z ~ N(0, I) independent of u;
then v = u - z ~ N(0, I + Sigma) has correlation rho = p/c and
E[phi(u1) phi(u2)] = E[u1 u2 1{v1 > 0} 1{v2 > 0}].  Regressing u on v, u = M v + w with
M = Sigma (I + Sigma)^-1 = [[alpha, beta], [beta, alpha]] (alpha = (q c - p^2)/D, beta = p/D) and w
independent of v with covariance Sigma - M Sigma = M, so E[u1 u2 | v] = (M v)_1 (M v)_2 + beta and
K = c [2 alpha beta E[x^2 1] + (alpha^2 + beta^2) E[x y 1]] + beta P, with the orthant moments of a
unit bivariate normal of correlation rho (Sheppard; the second by Stein's lemma, the third the
arc-cosine kernel): P = theta/(2 pi), E[x^2 1{x,y>0}] = (theta + rho sqrt(1-rho^2))/(2 pi),
E[x y 1{x,y>0}] = (rho theta + sqrt(1-rho^2))/(2 pi).  Likewise phi' = Phi(u) + u N(u) gives
E[phi' phi'] = P + 2 E[Phi(u1) u2 N(u2)] + E[u1 N(u1) u2 N(u2)], the middle term by tilting with
N(u2) and Stein's lemma, the last by Isserlis under the tilted covariance M:
  E[phi(u1) phi(u2)]   = p theta/(2 pi) + [q^2 c^3 + c (1 - 2 q^2) p^2 + (q - 1) p^4] / (2 pi c D^(3/2))
  E[phi'(u1) phi'(u2)] = [theta + 2 p/(c sqrt D) + p/D^(3/2)] / (2 pi)
  E[phi^2]  = q theta_1/(2 pi) + q^2/(pi (1 + q) sqrt(1 + 2q)),   theta_1 = pi/2 + arcsin(q/(1 + q))
  E[phi'^2] = [theta_1 + 2q/((1 + q) sqrt(1 + 2q)) + q/(1 + 2q)^(3/2)] / (2 pi)
  E[phi]    = q / sqrt(2 pi (1 + q))   (Stein: q E[N(u)]).
SymPy checks, exactly: the orthant sums equal these forms; dK/dp = E[phi' phi'] and
d/dp E[phi' phi'] = E[phi'' phi''] (Price's theorem; phi'' = (2 - u^2) N(u), a Gaussian moment by
Isserlis), with K(p=0) = E[phi]^2 and E[phi' phi'](p=0) = E[phi']^2 = 1/4 by SymPy integration, which
fixes the closed forms independently of the orthant argument.  sigprop evaluates them in a rearranged
form that keeps every term's sign as rho -> -1 at large q (sigprop/activations.py); its numbers are
checked against mpmath quadrature at 30 digits (the inner Gaussian integral given u1 in closed form:
E[X Phi(X)] = m Phi(m/sqrt(1+s2)) + s2 N(m; 0, 1+s2) and E[Phi(X) + X N(X)] = Phi(m/sqrt(1+s2))
+ m/(1+s2) N(m; 0, 1+s2) for X ~ N(m, s2)) for q from 1e-3 to 1e4 and rho = p/q from -1 to 1.
"""
from __future__ import annotations

import mpmath as mp
import sympy as sp

from . import Check, gaussian_expectation, write_latex

SLOW = False

# (q, rho = p/q): q over 1e-3 .. 1e4, rho over [-1, 1] with both ends and 0
POINTS = ((1e-3, -1.0), (1e-3, 0.3), (0.7, 0.0), (0.7, -0.6), (3.0, 1.0), (3.0, -1.0), (1e2, 1.0),
          (1e2, -0.999), (1e2, 0.5), (1e4, -1.0), (1e4, 0.0), (1e4, 0.9), (1e4, 1.0))
MEAN_Q = (1e-3, 3.0, 1e4)


def derive():
    q = sp.Symbol("q", positive=True)
    p = sp.Symbol("p", real=True)
    h = sp.Symbol("h", real=True)
    c = 1 + q
    D = c**2 - p**2
    Phi = (1 + sp.erf(h / sp.sqrt(2))) / 2
    phi = h * Phi
    dphi = sp.diff(phi, h)
    ddphi = sp.simplify(sp.diff(phi, h, 2))                                    # (2 - h^2) N(h)
    Sig, I2 = sp.Matrix([[q, p], [p, q]]), sp.eye(2)
    M = sp.simplify(Sig * (I2 + Sig).inv())                                    # regression of u on v = u - z
    alpha, beta = M[0, 0], M[0, 1]
    rho = p / c
    theta = sp.pi / 2 + sp.asin(rho)
    S = sp.sqrt(D) / c                                                         # sqrt(1 - rho^2)
    P, Ex2, Exy = theta / (2 * sp.pi), (theta + rho * S) / (2 * sp.pi), (rho * theta + S) / (2 * sp.pi)
    K_orth = c * (2 * alpha * beta * Ex2 + (alpha**2 + beta**2) * Exy) + beta * P
    # E[Phi(u1) u2 N(u2)]: tilt by N(u2) (covariance Sig_t), then Stein in u2; E[u1 N u2 N]: Isserlis under M
    Sig_t = (Sig.inv() + sp.Matrix([[0, 0], [0, 1]])).inv()
    T1 = Sig_t[0, 1] / sp.sqrt(2 * sp.pi * c) / sp.sqrt(2 * sp.pi * (1 + Sig_t[0, 0]))
    T2 = beta / (2 * sp.pi * sp.sqrt(D))
    DK_orth = P + 2 * T1 + T2
    # Price's theorem second derivative: E[(2 - u1^2)(2 - u2^2) N(u1) N(u2)] = E_M[(2 - x^2)(2 - y^2)] / (2 pi sqrt D)
    a, b = M[0, 0], M[0, 1]
    F2 = (4 - 4 * a + a**2 + 2 * b**2) / (2 * sp.pi * sp.sqrt(D))

    K = p * theta / (2 * sp.pi) + (q**2 * c**3 + c * (1 - 2 * q**2) * p**2 + (q - 1) * p**4) / (
        2 * sp.pi * c * D**sp.Rational(3, 2))
    DK = (theta + 2 * p / (c * sp.sqrt(D)) + p / D**sp.Rational(3, 2)) / (2 * sp.pi)
    th1 = sp.pi / 2 + sp.asin(q / c)
    m2 = q * th1 / (2 * sp.pi) + q**2 / (sp.pi * c * sp.sqrt(1 + 2 * q))
    dm = (th1 + 2 * q / (c * sp.sqrt(1 + 2 * q)) + q / (1 + 2 * q)**sp.Rational(3, 2)) / (2 * sp.pi)
    mean = gaussian_expectation(phi, h, q)
    dmean = gaussian_expectation(dphi, h, q)
    z = lambda e: sp.simplify(e) == 0  # noqa: E731
    residuals = {
        "orthant sum = closed form E[phi phi]": z(K_orth - K),
        "E[Phi u N] + E[uN uN] sum = closed form E[phi' phi']": z(DK_orth - DK),
        "Price: dK/dp = E[phi' phi']": z(sp.diff(K, p) - DK),
        "Price: d E[phi' phi']/dp = E[phi'' phi''] (Isserlis)": z(sp.diff(DK, p) - F2),
        "phi'' = (2 - u^2) N(u)": z(ddphi - (2 - h**2) * sp.exp(-h**2 / 2) / sp.sqrt(2 * sp.pi)),
        "K(q, 0) = E[phi]^2": z(K.subs(p, 0) - mean**2),
        "E[phi' phi'](q, 0) = E[phi']^2": z(DK.subs(p, 0) - dmean**2),
        "K(q, q) = E[phi^2]": z(K.subs(p, q) - m2),
        "E[phi' phi'](q, q) = E[phi'^2]": z(DK.subs(p, q) - dm),
        "E[phi] = q / sqrt(2 pi (1 + q))": z(mean - q / sp.sqrt(2 * sp.pi * c)),
    }
    return q, p, K, DK, m2, dm, mean, residuals


def _reference(q, rho):
    """``E[phi phi] + i E[phi' phi']`` by mpmath quadrature over u1 (one complex integrand: one node set).

    Given u1, u2 ~ N(m, s2) with m = rho u1, s2 = q (1 - rho^2); the inner expectations in closed form.
    """
    q, rho = mp.mpf(q), mp.mpf(rho)
    s2 = q * (1 - rho**2)
    v = 1 + s2
    sq = mp.sqrt(q)

    def f(x):
        u = sq * x
        m = rho * u
        g = mp.npdf(m, 0, mp.sqrt(v))
        Pu, Pm = mp.ncdf(u), mp.ncdf(m / mp.sqrt(v))
        inner_k = m * Pm + s2 * g
        inner_d = Pm + m / v * g
        return mp.npdf(x) * mp.mpc(u * Pu * inner_k, (Pu + u * mp.npdf(u)) * inner_d)

    return mp.quad(f, [-mp.inf, 0, mp.inf])


def run() -> list[Check]:
    from sigprop.activations import get_activation

    q, p, K, DK, m2, dm, mean, residuals = derive()
    for k, v in (("E[phi phi]", K), ("E[phi' phi']", DK), ("E[phi^2]", m2), ("E[phi'^2]", dm), ("E[phi]", mean)):
        print(f"  {k} =", v)
    write_latex("gelu_kernel", {r"\mathbb{E}[\phi(h_1)\phi(h_2)]": K, r"\mathbb{E}[\phi'(h_1)\phi'(h_2)]": DK,
                                r"\mathbb{E}[\phi(h)^2]": m2, r"\mathbb{E}[\phi'(h)^2]": dm,
                                r"\mathbb{E}[\phi(h)]": mean})
    out = [Check(f"{k} (symbolic residual)", 0.0, float(not ok), 0.0) for k, ok in residuals.items()]
    act = get_activation("gelu")
    with mp.workdps(30):
        for qq, r in POINTS:
            ref = _reference(qq, r)
            pp = r * qq
            tag = f"q={qq:g} rho={r:g}"
            out.append(Check(f"gelu E[phi phi] {tag} vs mpmath", float(ref.real), float(act.kernel(qq, pp)), 1e-12))
            out.append(Check(f"gelu E[phi' phi'] {tag} vs mpmath", float(ref.imag), float(act.deriv_kernel(qq, pp)),
                             1e-12))
            if r == 1.0:
                out.append(Check(f"gelu E[phi^2] q={qq:g} vs mpmath", float(ref.real), float(act.second_moment(qq)),
                                 1e-12))
                out.append(Check(f"gelu E[phi'^2] q={qq:g} vs mpmath", float(ref.imag), float(act.deriv_moment(qq)),
                                 1e-12))
        for qq in MEAN_Q:
            sq = mp.sqrt(qq)
            ref = mp.quad(lambda x: sq * x * mp.ncdf(sq * x) * mp.npdf(x), [-mp.inf, 0, mp.inf])
            out.append(Check(f"gelu E[phi] q={qq:g} vs mpmath", float(ref), float(act.mean(qq)), 1e-12))
    return out
