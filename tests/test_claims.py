"""Published claims as executable checks (``sigprop claims``)."""

import json
import sys

import pytest

from sigprop import claims as C
from sigprop.io import dumps

IDS = {"cod-lemma-3.2", "cod-lemma-3.2-product", "cod-theorem-3.3", "cod-lemma-4.1", "cod-theorem-4.2",
       "cod-theorem-4.2-identity", "nft-preln-power", "nft-derf-stretched", "nft-dyt-stretched",
       "nft-attention-exponent"}


@pytest.fixture(scope="module")
def report(request):
    """One theory run with the Monte-Carlo made unimportable (it must be skipped, not crash)."""
    mp = pytest.MonkeyPatch()
    mp.setitem(sys.modules, "sigprop.montecarlo", None)
    try:
        out = C.check_claims(quick=True, mc=True)
    finally:
        mp.undo()
    return {c["id"]: c for c in out}


def test_every_claim_is_reported_with_the_contract_keys(report):
    assert set(report) == IDS
    for c in report.values():
        assert set(c) >= {"id", "statement", "check", "status", "evidence"}
        assert c["status"] in ("holds", "consistent", "fails", "inconclusive")
        assert c["id"] in C.format_report([c])  # the human report renders every claim
        json.loads(dumps(c))  # and the JSON report serializes it


def test_monte_carlo_skipped_without_the_engine(report):
    mc = report["cod-lemma-3.2"]["evidence"]["mc"]
    assert mc["status"] == "skipped" and "not importable" in mc["reason"]


def test_pre_ln_variance_is_linear_and_apjn_a_power_law(report):
    """Lemma 3.2 bounds and Theorem 3.3 hold at initialization; Eq. (6)'s product form does not."""
    assert report["cod-lemma-3.2"]["status"] == "holds"
    assert report["cod-lemma-3.2"]["evidence"]["q_fit"]["params"]["zeta"] == pytest.approx(1.0, abs=0.02)
    assert report["cod-theorem-3.3"]["status"] == "consistent"  # an upper bound on ||.||_2 >= sqrt(J)
    assert report["cod-lemma-3.2-product"]["status"] == "fails"
    # the product of (1 + 1/sigma) outgrows the linear variance by more than e^10 over 1000 blocks
    assert report["cod-lemma-3.2-product"]["evidence"]["change"] < -10


def test_lns_variance_grows_logarithmically_so_lemma_4_1_lower_bound_fails(report):
    ev = report["cod-lemma-4.1"]["evidence"]
    assert report["cod-lemma-4.1"]["status"] == "fails"
    assert ev["q_fit"]["model"] == "log" and ev["upper_bound_ok"]
    ratios = list(ev["q_L_over_L"].values())
    assert ratios[1] < ratios[0] / 2  # q_L / L keeps falling: sub-linear
    assert report["cod-theorem-4.2"]["status"] == "consistent"


def test_normalization_free_growth_laws(report):
    assert report["nft-preln-power"]["status"] == "holds"
    assert report["nft-derf-stretched"]["status"] == "holds"
    assert report["nft-dyt-stretched"]["status"] == "holds"
    assert report["nft-attention-exponent"]["status"] == "holds"
    ev = report["nft-preln-power"]["evidence"]
    # derived zeta (n = 8, all sigma = 1, ReLU): uniform attention aligns the tangents, zeta = 1 exactly
    assert ev["zeta_derived"] == pytest.approx(1.0, rel=1e-9)
    att = report["nft-attention-exponent"]["evidence"]
    assert att["zeta_attention_gelu_derived"] < att["zeta_gelu_mlp_only_derived"]


def test_cli_json(monkeypatch, capsys):
    monkeypatch.setattr(C, "check_claims", lambda quick, mc: [
        {"id": "x", "statement": "s", "check": "c", "status": "holds", "evidence": {"n": 1.0}}])
    from sigprop.cli import main

    assert main(["claims", "--json", "--quick", "--no-mc"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["id"] == "x" and out[0]["status"] == "holds"
    assert main(["claims", "--no-mc"]) == 0
    assert "[       HOLDS] x" in capsys.readouterr().out


def test_write_report_for_reproduce(tmp_path, report):
    from sigprop import io

    paths, claims = C.write_report(tmp_path, claims=list(report.values()))
    assert [p.name for p in paths] == ["claims.json", "claims.csv"]
    assert {c["id"] for c in io.read_json(paths[0])} == IDS
    assert set(io.read_csv(paths[1])["status"]) <= {"holds", "consistent", "fails", "inconclusive"}


@pytest.mark.slow
def test_claims_with_monte_carlo():
    pytest.importorskip("jax")
    out = {c["id"]: c for c in C.check_claims(quick=True, mc=True)}
    assert set(out) == IDS
    mc = out["cod-lemma-4.1"]["evidence"]["mc"]
    assert mc["status"] in ("consistent", "disagrees") and abs(mc["q"]["z"]) < 5
    # LNS q grows much more slowly than Pre-LN's over the second half of the ensemble depth
    assert mc["q_growth_last_half"] < out["cod-lemma-3.2"]["evidence"]["mc"]["q_growth_last_half"]
